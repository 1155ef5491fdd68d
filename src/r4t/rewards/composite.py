"""CompositeReward: a weighted sum of registered rewards, configured from YAML.

    reward:
      components: {groundedness: 0.6, vendi_diversity: 0.2, alignment: 0.2}   # the paper's OAR default

Returns the total and every component's terms, so trainers log each one.
"""

from __future__ import annotations

from typing import Any, Mapping

import torch

from r4t.errors import ConfigError
from r4t.rewards.base import Reward, RewardOutput, SetBatch, rewards

OAR_DEFAULT = {"groundedness": 0.6, "vendi_diversity": 0.2, "alignment": 0.2}
WSCR_DEFAULT = {"reference_recall": 1.0}


def _weight_and_spec(name: str, entry: Any) -> tuple[float, Any]:
    from r4t.config import reward_spec

    if isinstance(entry, (int, float)) and not isinstance(entry, bool):
        return float(entry), {"name": name}
    if isinstance(entry, Mapping):
        weight = entry.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise ConfigError(f"reward.components.{name}.weight: expected a number, got {weight!r}")
        return float(weight), reward_spec(name, entry)
    raise ConfigError(f"reward.components.{name}: expected a weight or a mapping with 'weight', got {entry!r}")


@rewards.register("composite")
class CompositeReward(Reward):
    """Weighted sum of named rewards; terms are reported per component."""

    name = "composite"

    def __init__(self, components: Mapping[str, Any] | None = None) -> None:
        components = dict(components or OAR_DEFAULT)
        if not components:
            raise ConfigError("reward.components is empty")
        self.weights: dict[str, float] = {}
        self.components: dict[str, Reward] = {}
        for name, entry in components.items():
            weight, spec = _weight_and_spec(name, entry)
            reward = rewards.build(spec)
            reward.name = name  # terms are keyed by the config name
            self.weights[name], self.components[name] = weight, reward
        self.min_value = sum(w * (r.min_value if w >= 0 else 1.0) for w, r in zip(self.weights.values(), self.components.values()))

    def __call__(self, batch: SetBatch) -> RewardOutput:
        total: torch.Tensor | float = 0.0
        terms: dict[str, torch.Tensor] = {}
        for name, reward in self.components.items():
            out = reward(batch)
            total = total + self.weights[name] * out.total
            terms.update(out.terms)
        return RewardOutput(torch.as_tensor(total), terms)


def build_reward(section: Mapping[str, Any] | None) -> CompositeReward:
    """The ``reward`` config section -> CompositeReward (paper OAR weights when absent)."""
    section = dict(section or {})
    unknown = set(section) - {"components"}
    if unknown:
        raise ConfigError(f"reward: unknown key(s) {sorted(unknown)}; expected 'components'")
    return CompositeReward(section.get("components"))
