"""GRPO with trl, and the paper's Soft-GRPO objective as a selectable loss.

Soft-GRPO (the paper): PPO-clipped group-relative policy gradient (clip 0.2) plus two
per-token terms against the *sampling* policy pi_old:

    loss_t = -min(rho_t A, clip(rho_t, 1-eps, 1+eps) A)
             + beta_ratio * rho_t * (log pi_theta - log pi_old)
             + beta_nll   * (-log pi_theta),          rho_t = pi_theta / pi_old

On-policy (pi_old = pi_theta, trl's single-iteration default) the gradient of the ratio
term is beta_ratio * grad log pi, which cancels the nll term exactly when the betas are
equal (the paper's 0.05 / 0.05): the penalties only act once samples are reused for
several updates. r4t's rl stage therefore defaults to ``num_iterations: 2``.

``soft_grpo_per_token_loss`` is that formula; ``SoftGRPOTrainer`` extends trl's
GRPOTrainer at one method, ``_compute_loss``, and leaves generation, reward scoring,
group-standardised advantages, logging and checkpointing to trl.
"""

from __future__ import annotations

import torch
from trl import GRPOTrainer


def soft_grpo_per_token_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    epsilon: float = 0.2,
    beta_ratio: float = 0.05,
    beta_nll: float = 0.05,
) -> torch.Tensor:
    """[B, T] per-token Soft-GRPO loss; ``advantages`` [B] or [B, T]; ``old_logp`` is detached."""
    if advantages.dim() == 1:
        advantages = advantages.unsqueeze(1)
    old_logp = old_logp.detach()
    log_ratio = logp - old_logp
    rho = log_ratio.exp()
    clipped = rho.clamp(1.0 - epsilon, 1.0 + epsilon)
    policy = -torch.min(rho * advantages, clipped * advantages)
    return policy + beta_ratio * rho * log_ratio + beta_nll * (-logp)


def soft_grpo_loss(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                   epsilon: float = 0.2, beta_ratio: float = 0.05, beta_nll: float = 0.05) -> torch.Tensor:
    """The step's scalar loss: each completion's mean per-token loss, averaged over completions.

    Per-sequence means make the loss of a batch split evenly over N processes average to the
    loss of the whole batch, and DDP's gradient averaging then equals one process's gradient
    (tests/fanout/test_rl_launched.py checks it on 2 processes)."""
    per_token = soft_grpo_per_token_loss(logp, old_logp, advantages, epsilon, beta_ratio, beta_nll)
    return ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()


class SoftGRPOTrainer(GRPOTrainer):
    """GRPOTrainer whose per-token objective is Soft-GRPO (``beta_ratio``, ``beta_nll``)."""

    def __init__(self, *args, beta_ratio: float = 0.05, beta_nll: float = 0.05, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.beta_ratio, self.beta_nll = beta_ratio, beta_nll

    def _compute_loss(self, model, inputs):
        prompt_ids, prompt_mask = inputs["prompt_ids"], inputs["prompt_mask"]
        completion_ids, mask = inputs["completion_ids"], inputs["completion_mask"]
        input_ids = torch.cat([prompt_ids, completion_ids], dim=1)
        attention_mask = torch.cat([prompt_mask, mask], dim=1)
        logp, entropies, _ = self._get_per_token_logps_and_entropies(
            model, input_ids, attention_mask, completion_ids.size(1), compute_entropy=True
        )
        old = inputs.get("old_per_token_logps")
        old = logp.detach() if old is None else old  # on-policy step: pi_old is the current policy
        loss = soft_grpo_loss(logp, old, inputs["advantages"], mask, self.epsilon_low, self.beta_ratio, self.beta_nll)
        mode = "train" if self.model.training else "eval"
        self._metrics[mode]["policy_loss"].append(self.accelerator.gather(loss.detach()).nanmean().item())
        masked_mean = lambda x: ((x * mask).sum() / mask.sum().clamp(min=1.0)).item()  # noqa: E731
        self._metrics[mode]["entropy"].append(masked_mean(entropies))
        self._metrics[mode]["nll"].append(masked_mean(-logp.detach()))
        self._metrics[mode]["approx_kl_to_sampler"].append(masked_mean((old - logp).detach()))
        if mode == "train":
            loss = loss / self.current_gradient_accumulation_steps
        return loss
