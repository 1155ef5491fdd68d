"""Set retrievers behind one interface (registry ``retrievers``)."""

from r4t.retrievers import diffusion as _diffusion  # noqa: F401  (registers r4t_diffusion, raw_diffusion)
from r4t.retrievers import dpp as _dpp  # noqa: F401  (registers dpp)
from r4t.retrievers import fanout as _fanout  # noqa: F401  (registers fanout_lm, best_of_n)
from r4t.retrievers import jitter as _jitter  # noqa: F401  (registers query_jitter, the no-learning control)
from r4t.retrievers import mmr as _mmr  # noqa: F401  (registers mmr)
from r4t.retrievers import topk as _topk  # noqa: F401  (registers dense_topk)
from r4t.retrievers.base import Retriever, retrievers

__all__ = ["Retriever", "retrievers"]
from r4t.retrievers import latency_only as _latency_only  # noqa: F401  (registers latency_only_fanout, latency_only_diffusion)
