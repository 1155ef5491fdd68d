"""Rewards as trl reward functions: ``f(prompts, completions, **kwargs) -> list[float]``.

trl calls each reward function with the batch's prompts, the sampled completions and the
dataset's other columns as keyword arguments. The query text comes from a ``query``
column (else the prompt), ground truth from a ``qid`` column. Completions that do not
parse get the reward's minimum and are counted (``parse_failures``), so the trainer can
log the failure rate. One grounding is shared by all components of a composite.
"""

from __future__ import annotations

from typing import Any, Sequence

from r4t.fanout.grounding import FanoutGrounder, GroundedFanout
from r4t.rewards.base import Reward
from r4t.rewards.composite import CompositeReward


def _text(x: Any) -> str:
    """trl passes plain strings or chat messages ([{"role", "content"}, ...])."""
    if isinstance(x, str):
        return x
    if isinstance(x, list) and x and isinstance(x[-1], dict):
        return str(x[-1].get("content", ""))
    return str(x)


class SharedGrounding:
    """Grounds one batch of completions once, however many reward functions read it."""

    def __init__(self, grounder: FanoutGrounder) -> None:
        self.grounder = grounder
        self._key: tuple | None = None
        self._value: list[GroundedFanout | None] = []
        self.parse_failures = 0
        self.completions_seen = 0
        self._since = [0, 0]  # failures, completions since the last ``interval_failure_rate`` call

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[GroundedFanout | None]:
        texts = [_text(c) for c in completions]
        queries = [str(q) for q in kwargs["query"]] if "query" in kwargs else [_text(p) for p in prompts]
        qids = [str(q) for q in kwargs["qid"]] if "qid" in kwargs else None
        key = (tuple(texts), tuple(queries), tuple(qids or ()))
        if key != self._key:
            self._key, self._value = key, self.grounder.ground(texts, queries, qids)
            failures = sum(g is None for g in self._value)
            self.parse_failures += failures
            self.completions_seen += len(texts)
            self._since = [self._since[0] + failures, self._since[1] + len(texts)]
        return self._value

    @property
    def parse_failure_rate(self) -> float:
        return self.parse_failures / max(self.completions_seen, 1)

    def interval_failure_rate(self) -> float | None:
        """Failure rate since the previous call (one logging step); None if nothing was scored."""
        failures, seen = self._since
        self._since = [0, 0]
        return failures / seen if seen else None


class TrlReward:
    """One reward as a trl reward function (``__name__`` is what trl logs).

    ``unparsable="minimum"`` scores a completion that does not parse at the reward's minimum;
    ``"skip"`` returns None, which trl (>= 1.16) leaves out of the group baseline with a zero
    advantage: the format cliff (about -1 against ~+0.6 for parsed fan-outs) then no longer
    swamps the differences between parsed ones, at the price of no push away from bad format."""

    def __init__(self, reward: Reward, grounding: SharedGrounding, name: str | None = None, unparsable: str = "minimum") -> None:
        if unparsable not in ("minimum", "skip"):
            raise ValueError(f"unparsable must be 'minimum' or 'skip', got {unparsable!r}")
        self.reward, self.grounding, self.unparsable = reward, grounding, unparsable
        self.__name__ = name or reward.name

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        grounded = self.grounding(prompts, completions, **kwargs)
        missing = None if self.unparsable == "skip" else self.reward.min_value
        return [missing if g is None else float(self.reward(g.batch).total[0]) for g in grounded]


def trl_reward_functions(reward: CompositeReward, grounder: FanoutGrounder,
                         unparsable: str = "minimum") -> tuple[list[TrlReward], list[float], SharedGrounding]:
    """Per-component reward functions and their weights (for GRPOConfig.reward_weights)."""
    shared = SharedGrounding(grounder)
    funcs = [TrlReward(r, shared, name, unparsable) for name, r in reward.components.items()]
    return funcs, list(reward.weights.values()), shared
