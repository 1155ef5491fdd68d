"""Soft-GRPO per-token loss against hand computation."""

import math

import pytest
import torch

from r4t.fanout.grpo import soft_grpo_per_token_loss


def test_soft_grpo_matches_hand_computation():
    logp = torch.tensor([[math.log(0.5), math.log(0.3)]])
    old = torch.tensor([[math.log(0.4), math.log(0.3)]])
    adv = torch.tensor([2.0])
    loss = soft_grpo_per_token_loss(logp, old, adv, epsilon=0.2, beta_ratio=0.05, beta_nll=0.05)
    # token 1: rho = 0.5/0.4 = 1.25 -> clipped to 1.2; -min(1.25*2, 1.2*2) = -2.4
    #          + 0.05 * 1.25 * log 1.25 + 0.05 * (-log 0.5)
    t1 = -2.4 + 0.05 * 1.25 * math.log(1.25) + 0.05 * -math.log(0.5)
    # token 2: rho = 1, no clipping: -2 + 0 + 0.05 * (-log 0.3)
    t2 = -2.0 + 0.05 * -math.log(0.3)
    assert loss.tolist()[0] == pytest.approx([t1, t2], rel=1e-5)


def test_negative_advantage_takes_the_pessimistic_side():
    logp, old = torch.tensor([[math.log(0.2)]]), torch.tensor([[math.log(0.4)]])
    loss = soft_grpo_per_token_loss(logp, old, torch.tensor([-1.0]), beta_ratio=0.0, beta_nll=0.0)
    # rho = 0.5 clipped to 0.8: -min(0.5 * -1, 0.8 * -1) = 0.8
    assert loss.item() == pytest.approx(0.8)


def test_penalties_cancel_on_policy_with_equal_betas():
    # With pi_old = pi_theta the ratio term's gradient is beta * grad log pi, the nll term's is
    # -beta * grad log pi: equal betas cancel, which is why r4t defaults to num_iterations 2.
    theta = torch.tensor([0.3, -0.2], requires_grad=True)
    logp = torch.log_softmax(theta, 0)[None]
    loss = soft_grpo_per_token_loss(logp, logp.detach(), torch.zeros(1)).sum()
    (grad,) = torch.autograd.grad(loss, theta)
    assert torch.allclose(grad, torch.zeros(2), atol=1e-7)
    logp = torch.log_softmax(theta, 0)[None]
    off = soft_grpo_per_token_loss(logp, logp.detach() - 0.5, torch.zeros(1)).sum()  # stale samples
    assert torch.autograd.grad(off, theta)[0].abs().sum() > 1e-4
