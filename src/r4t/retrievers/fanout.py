"""Fan-out LM retrievers: the policy writes sub-queries, each is embedded and searched, and
the rows are grounded to k distinct items (``CatalogIndex.search_distinct``).

* ``fanout_lm``  one fan-out per query (seeded sampling at temperature 0.9 by default: greedy
                 decoding makes small policies stop after one or two sub-queries). With the warm-start policy
                 this is the paper's zero-shot fan-out baseline; with the RL-tuned policy,
                 R4T-FOLM.
* ``best_of_n``  N sampled fan-outs per query, the one with the highest training reward wins.

A completion that does not parse is handled by the named ``fallback``:

* ``"dense_topk"`` (default): the query itself is the only direction, so that query's set
  is plain dense top-k. It is counted in ``parse_failures`` and logged as ``False`` in
  ``parsed_log``, and the benchmark reports these rows' metrics on the LM's own (parsed)
  sets with the parse rate beside them, and the mixture with the fallback separately:
  a fan-out row never silently scores dense top-k's sets as its own.
* ``"error"``: raise a ``DataError`` naming the query (for callers that must know).

``anchor`` (default 0) searches each sub-query from ``normalize(anchor * q + (1 - anchor) * s)``,
between it and the query q, as r4t_diffusion anchors its rows: on val it lifts the tiny
policies' sets to dense top-k's judge level, not above it (benchmarks/results/fanout_anchor.md).

``grounding`` ``"rows_dpp"`` (with ``alpha``) serves what ``r4t_diffusion``'s rows_dpp grounding serves
for its rows, with the fan-out's (anchored) sub-query vectors as the rows: DPP over the query's dense
top-100, each candidate's quality exp(alpha max cos(item, sub-query)). The fan-out says where the
intent's items are, DPP spreads (``r4t.retrievers.dpp.rows_dpp``). A fan-out that did not parse still
falls back to plain dense top-k.

Only the failed queries are embedded (in the same encoder call as the sub-queries):
``retrieve`` does not encode the query texts up front, since a fan-out LM never needs
their vectors otherwise (with ``anchor``, every query is embedded in that same call).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from r4t.data.prepare import PreparedData
from r4t.errors import ConfigError, DataError
from r4t.fanout.grounding import FanoutGrounder, anchored
from r4t.fanout.parsing import parse_subqueries
from r4t.fanout.policy import FanoutPolicy, GenerationSettings, load_policy
from r4t.retrievers.base import Retriever, check_grounding, retrievers
from r4t.rewards import build_reward

FALLBACKS = ("dense_topk", "error")


def _load(path: str, subqueries: int, temperature: float, max_new_tokens: int, domain: str, prompt_style: str | None = None,
          constrained: bool | None = None, min_subqueries: int | None = None) -> FanoutPolicy:
    """A saved policy folder; its prompt style and decoding constraint are the ones it was trained
    with unless given (a pretrained LM that r4t never saved, e.g. Gemma 3 270M, needs ``"instruction"``;
    a warm-start folder has no record of them)."""
    meta_file = Path(path) / "r4t_policy.json"
    meta = json.loads(meta_file.read_text()) if meta_file.exists() else {}
    gen = GenerationSettings(max_new_tokens=max_new_tokens, temperature=temperature)
    return load_policy(path, prompt_style=prompt_style or meta.get("prompt_style", "bare"), domain=domain, subqueries=subqueries,
                       generation=gen, constrained=bool(meta.get("constrained", False) if constrained is None else constrained),
                       min_subqueries=int(min_subqueries or meta.get("min_subqueries", 1)))


@retrievers.register("fanout_lm")
class FanoutLM(Retriever):
    """A fan-out LM policy (zero-shot / warm-start or RL-tuned) grounded by the dense index."""

    uses_query_embedding = False

    def __init__(self, data: PreparedData, policy: str, greedy: bool = False, temperature: float = 0.9,
                 max_new_tokens: int = 160, subqueries: int = 10, seed: int = 0, fallback: str = "dense_topk",
                 prompt_style: str | None = None, anchor: float = 0.0, constrained: bool | None = None,
                 min_subqueries: int | None = None, grounding: str = "nearest", alpha: float = 5.0) -> None:
        """``constrained`` (default: as the policy was trained, else false): decode only
        well-formed fan-outs (``r4t.fanout.constrained``), so no query falls back."""
        super().__init__(data)
        self.grounding, self.alpha = check_grounding(grounding, alpha, "fanout_lm")
        if not 0.0 <= anchor < 1.0:
            raise ConfigError(f"fanout_lm anchor must be in [0, 1), got {anchor!r}")
        self.anchor = float(anchor)
        if fallback not in FALLBACKS:
            raise ConfigError(f"fanout_lm fallback must be one of {FALLBACKS}, got {fallback!r}")
        self.policy = _load(policy, subqueries, temperature, max_new_tokens, data.catalog.domain, prompt_style, constrained, min_subqueries)
        self.policy_dir = Path(policy)
        self.greedy, self.seed, self.fallback = greedy, seed, fallback
        self.parse_failures = 0
        self.parsed_log: list[bool] = []  # one flag per query fanned out, in call order (the benchmark reads it)
        self.completion_chars: list[int] = []  # lengths of the fan-outs written (latency-only LLMs decode as many)
        self.completion_tokens: list[int] = []  # tokens decoded per fan-out, EOS included
        # Sub-query embeddings go through the grounder's cache: best_of_n has already
        # embedded the winning sub-queries while scoring, and queries repeat across calls.
        self.grounder = FanoutGrounder(data, max_subqueries=subqueries)

    def export_files(self, folder: Path) -> dict[str, str]:
        """The policy folder (config, tokenizer, safetensors weights) as ``policy/``."""
        from r4t.fanout.policy import copy_policy_folder

        copy_policy_folder(self.policy_dir, folder / "policy")
        return {"policy": "policy"}

    def _retrieve(self, query_emb: np.ndarray, k: int) -> list[list[int]]:
        raise ConfigError("fanout_lm needs the query texts: call retrieve() or retrieve_indices_for()")

    def _directions(self, texts: Sequence[str], query_emb: np.ndarray | None,
                    subqueries: list[list[str] | None]) -> list[np.ndarray]:
        # One encoder call for every sub-query of the batch (the encoder dominates latency),
        # plus the queries whose fan-out did not parse when the caller has no vectors for them.
        failed = [n for n, subs in enumerate(subqueries) if subs is None]
        if failed and self.fallback == "error":
            raise DataError(f"fanout_lm: the fan-out for query {texts[failed[0]]!r} did not parse "
                            f"({len(failed)} of {len(texts)} in this batch); fallback='dense_topk' returns dense top-k for them")
        self.parse_failures += len(failed)
        self.parsed_log += [subs is not None for subs in subqueries]
        flat = [t for subs in subqueries if subs for t in subs]
        # anchoring and rows_dpp read every query's vector
        need_own = list(range(len(texts))) if self.anchor or self.grounding == "rows_dpp" else failed
        own_texts = [texts[n] for n in need_own] if query_emb is None else []
        with self.stage("encode"):
            emb = self.grounder.encode(flat + own_texts) if flat or own_texts else np.zeros((0, 0), dtype=np.float32)
            own_emb = np.atleast_2d(query_emb)[need_own] if query_emb is not None else emb[len(flat):]
        own = dict(zip(need_own, own_emb)) if need_own else {}
        self._query_rows = own  # rows_dpp's pools are the queries' own top-100
        rows, cursor = [], 0
        for n, subs in enumerate(subqueries):
            if subs is None:
                rows.append(own[n][None])
            else:
                sub = emb[cursor : cursor + len(subs)]
                cursor += len(subs)
                if self.anchor:  # each sub-query is searched from between it and the query
                    sub = anchored(sub, own[n], self.anchor)
                rows.append(sub.astype(np.float32))
        return rows

    def _ground(self, directions: list[np.ndarray], k: int) -> list[list[int]]:
        # One direction (the dense fallback, or a one-line fan-out) is plain top-k, exactly
        # dense_topk's call, so the fallback rows are dense top-k's sets, ties included.
        if self.grounding == "rows_dpp":
            return self._ground_rows_dpp(directions, k)
        with self.stage("search"):
            return [self.data.item_index.search(d, k)[1][0].tolist() if len(d) == 1 else self.data.item_index.search_distinct(d, k)
                    for d in directions]

    def _ground_rows_dpp(self, directions: list[np.ndarray], k: int) -> list[list[int]]:
        from r4t.retrievers.dpp import rows_dpp_per_query  # dpp imports the retriever base, as this module does

        parsed = self.parsed_log[len(self.parsed_log) - len(directions):]
        queries = np.stack([self._query_rows[n] for n in range(len(directions))]).astype(np.float32)
        ok = [n for n in range(len(directions)) if parsed[n]]
        out: list[list[int]] = [[] for _ in directions]
        if ok:
            with self.stage("rerank"):
                for n, items in zip(ok, rows_dpp_per_query(self.data, queries[ok], [directions[n] for n in ok], self.alpha, k)):
                    out[n] = items
        with self.stage("search"):  # the fallback stays dense top-k's exact call, as with nearest grounding
            for n in range(len(directions)):
                if not parsed[n]:
                    out[n] = self.data.item_index.search(queries[n : n + 1], k)[1][0].tolist()
        return out

    def clear_caches(self) -> None:
        self.grounder.clear_cache()

    def directions(self, texts: Sequence[str], query_emb: np.ndarray | None) -> list[np.ndarray]:
        """One sampled fan-out per query, parsed and embedded (no grounding)."""
        with self.stage("generate"):
            completions = self.policy.sample(list(texts), 1, greedy=self.greedy, seed=self.seed)
        self.completion_chars += [len(c[0]) for c in completions]
        self.completion_tokens += list(getattr(self.policy, "last_generated_tokens", []))
        subs = [parse_subqueries(c[0], self.policy.subqueries) for c in completions]
        return self._directions(texts, query_emb, subs)

    def retrieve_indices_for(self, texts: Sequence[str], query_emb: np.ndarray | None, k: int) -> list[list[int]]:
        self.check_k(k)
        return self._ground(self.directions(texts, query_emb), k)


@retrievers.register("best_of_n")
class BestOfN(FanoutLM):
    """N sampled fan-outs per query; keep the one the training reward scores highest."""

    def __init__(self, data: PreparedData, policy: str, n: int = 5, reward: Any = None, temperature: float = 0.9,
                 max_new_tokens: int = 160, subqueries: int = 10, seed: int = 0, fallback: str = "dense_topk",
                 constrained: bool | None = None) -> None:
        super().__init__(data, policy, greedy=False, temperature=temperature, max_new_tokens=max_new_tokens, subqueries=subqueries,
                         seed=seed, fallback=fallback, constrained=constrained)
        if n < 1:
            raise ConfigError(f"best_of_n n must be >= 1, got {n}")
        self.n, self.reward = n, build_reward(reward)

    def retrieve_indices_for(self, texts: Sequence[str], query_emb: np.ndarray | None, k: int) -> list[list[int]]:
        self.check_k(k)
        with self.stage("generate"):
            samples = self.policy.sample(list(texts), self.n, seed=self.seed)
        best: list[list[str] | None] = []
        with self.stage("rerank"):  # ground and score all N fan-outs
            for text, group in zip(texts, samples):
                grounded = self.grounder.ground(group, [text] * len(group))
                scored = [(float(self.reward(g.batch).total[0]), g.subqueries) for g in grounded if g is not None]
                best.append(max(scored, key=lambda t: t[0])[1] if scored else None)
        return self._ground(self._directions(texts, query_emb, best), k)
