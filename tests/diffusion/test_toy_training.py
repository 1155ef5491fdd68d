"""A small SetDiffusion trained a few hundred steps on a toy 2-mode set distribution
reproduces both modes, and the condition selects the mode."""

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from r4t.diffusion.generate import generate_sets
from r4t.diffusion.module import SetDiffusion
from r4t.diffusion.samplers import samplers

DIM, ROWS = 4, 3
MODE = torch.tensor([1.0, 0.0, 0.0, 0.0])


class TwoModes(Dataset):
    """Condition +e2 -> every row near +MODE; condition -e2 -> every row near -MODE."""

    def __len__(self):
        return 2048

    def __getitem__(self, i):
        sign = 1.0 if i % 2 == 0 else -1.0
        cond = torch.tensor([0.0, sign, 0.0, 0.0])
        rows = sign * MODE + 0.05 * torch.randn(ROWS, DIM)
        return {"query": cond, "set": rows}


@pytest.mark.slow
def test_toy_two_modes_are_reproduced_and_conditioned():
    L.seed_everything(0, verbose=False)
    model = SetDiffusion(backbone={"name": "coherent_transformer", "depth": 2, "width": 64, "mlp": 128, "heads": 4, "dropout": 0.0},
                         set_size=ROWS, dim=DIM, sigma_data=0.5, lr=2e-3, warmup_steps=20, ema_decay=0.9, cond_dropout=0.1)
    trainer = L.Trainer(max_steps=400, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model, DataLoader(TwoModes(), batch_size=64, shuffle=True))
    sampler = samplers.build({"name": "heun", "steps": 16})
    g = torch.Generator().manual_seed(0)
    den = model.ema.eval()
    plus = generate_sets(den, torch.tensor([[0.0, 1.0, 0.0, 0.0]]).repeat(64, 1), ROWS, sampler, guidance=0.1, generator=g)
    minus = generate_sets(den, torch.tensor([[0.0, -1.0, 0.0, 0.0]]).repeat(64, 1), ROWS, sampler, guidance=0.1, generator=g)
    assert (plus[..., 0] > 0.5).float().mean() > 0.9  # the condition picks the mode
    assert (minus[..., 0] < -0.5).float().mean() > 0.9
    # without the condition (null embedding) both modes come back
    den_uncond = lambda x, s: den(x, s, torch.zeros(len(x), DIM), torch.zeros(len(x), dtype=torch.bool))  # noqa: E731
    free = sampler.sample(den_uncond, (200, ROWS, DIM), torch.Generator().manual_seed(1))
    share_plus = (free[:, :, 0].mean(1) > 0).float().mean().item()
    assert 0.2 < share_plus < 0.8
    assert (free[:, :, 0].abs() > 0.5).float().mean() > 0.9  # samples sit on a mode, not between



class FixedSets(Dataset):
    """Deterministic samples: any epoch-to-epoch difference in training comes from the noise."""

    def __len__(self):
        return 32

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        return {"query": torch.randn(DIM, generator=g), "set": torch.randn(ROWS, DIM, generator=g)}


def test_every_epoch_draws_fresh_noise_after_validation():
    """Validation's fixed noise must not reset the global RNG (it did: every epoch after a
    validation then replayed the same noise levels, noise and shuffle)."""
    seen: dict[int, list[torch.Tensor]] = {}

    class Recording(SetDiffusion):
        def training_step(self, batch, batch_idx):
            sigma_before = torch.get_rng_state()
            loss = super().training_step(batch, batch_idx)
            seen.setdefault(self.current_epoch, []).append(sigma_before)
            return loss

    torch.manual_seed(0)
    model = Recording(backbone={"name": "mlp", "width": 16, "depth": 1}, set_size=ROWS, dim=DIM, sigma_data=0.5, warmup_steps=1)
    loader = DataLoader(FixedSets(), batch_size=8, shuffle=True)
    trainer = L.Trainer(max_epochs=3, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=1, accelerator="cpu")
    trainer.fit(model, loader, DataLoader(FixedSets(), batch_size=8))
    firsts = [seen[e][0] for e in range(3)]
    assert not torch.equal(firsts[0], firsts[1]) and not torch.equal(firsts[1], firsts[2])
    # evaluation noise is still fixed: two evaluations of one batch give one loss
    batch = next(iter(DataLoader(FixedSets(), batch_size=8)))
    model.eval()  # as in validation (no dropout draws)
    state = torch.get_rng_state()
    a = model._loss(batch, 0.0, torch.Generator().manual_seed(1))
    assert torch.equal(torch.get_rng_state(), state)  # the global RNG is untouched
    assert torch.equal(a, model._loss(batch, 0.0, torch.Generator().manual_seed(1)))
