"""Set-level rewards (registry ``rewards``)."""

from r4t.rewards.base import Reward, RewardOutput, SetBatch, TermReward, rewards
from r4t.rewards import paper as _paper  # noqa: F401  (registers the paper's rewards)

__all__ = ["Reward", "RewardOutput", "SetBatch", "TermReward", "rewards"]
