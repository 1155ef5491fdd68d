"""Set-level rewards (registry ``rewards``)."""

from r4t.rewards import design_card as _design_card  # noqa: F401  (coverage, complementarity, coherence)
from r4t.rewards import paper as _paper  # noqa: F401  (registers the paper's rewards)
from r4t.rewards.base import Reward, RewardOutput, SetBatch, TermReward, rewards
from r4t.rewards.composite import CompositeReward, build_reward

__all__ = ["CompositeReward", "Reward", "RewardOutput", "SetBatch", "TermReward", "build_reward", "rewards"]
