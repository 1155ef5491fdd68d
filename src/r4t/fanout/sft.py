"""Supervised warm-start of a fan-out policy on (prompt, completion) pairs.

A plain torch loop (loss on completion tokens only): the tiny policy needs a few hundred
steps, and keeping it here avoids a second trainer stack for a seconds-long job.
"""

from __future__ import annotations

import random
from typing import Sequence

import torch
from tqdm.auto import tqdm

from r4t.fanout.policy import FanoutPolicy
from r4t.seeding import seeded


def supervised_warmstart(
    policy: FanoutPolicy, pairs: Sequence[tuple[str, str]], steps: int = 300, batch_size: int = 32,
    lr: float = 1e-3, seed: int = 0, progress: bool = True,
) -> list[float]:
    """Train in place; returns the loss per step (seeded, the caller's random stream untouched)."""
    with seeded(seed):
        return _train(policy, pairs, steps, batch_size, lr, seed, progress)


def _train(policy: FanoutPolicy, pairs: Sequence[tuple[str, str]], steps: int, batch_size: int, lr: float, seed: int,
           progress: bool) -> list[float]:
    tok, model = policy.tokenizer, policy.model
    rng = random.Random(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 20) * max(0.05, 1 - s / steps))
    model.train()
    losses = []
    for _ in tqdm(range(steps), desc="warm-start", disable=not progress):
        batch = [pairs[rng.randrange(len(pairs))] for _ in range(batch_size)]
        ids, labels = [], []
        for prompt, completion in batch:
            p = tok(prompt, add_special_tokens=False)["input_ids"]
            c = tok(" " + completion, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
            ids.append(p + c)
            labels.append([-100] * len(p) + c)
        width = max(map(len, ids))
        pad = tok.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(x)) + x for x in ids])
        label_t = torch.tensor([[-100] * (width - len(x)) + x for x in labels])
        attn = (torch.arange(width)[None] >= torch.tensor([width - len(x) for x in ids])[:, None]).long()
        loss = model(input_ids=input_ids.to(model.device), attention_mask=attn.to(model.device), labels=label_t.to(model.device)).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
    model.eval()
    return losses
