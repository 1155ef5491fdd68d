"""SetDiffusion: the thin LightningModule that trains a SetDenoiser with the EDM loss.

The backbone is a registry spec, built in ``configure_model`` once the datamodule has
told us the embedding dimension (and, by default, sigma_data measured from the data),
so a config never has to repeat what the embedder already decides. Both end up in the
hyper-parameters, so a checkpoint rebuilds itself.
"""

from __future__ import annotations

import copy
import math
from typing import Any, cast

import lightning as L
import torch
from lightning.fabric.utilities.data import AttributeDict
from lightning.pytorch.utilities.types import OptimizerLRSchedulerConfig

from r4t.diffusion import edm
from r4t.diffusion.backbones import backbones
from r4t.diffusion.denoiser import SetDenoiser
from r4t.errors import ConfigError
from r4t.runs import failpoint


class SetDiffusion(L.LightningModule):
    """EDM set diffusion over L x d item-embedding sets conditioned on a query embedding."""

    trained_on: dict[str, Any] | None = None  # the data a loaded checkpoint was trained on (``read_module``)

    def __init__(
        self,
        backbone: str | dict[str, Any] = "coherent_transformer",
        set_size: int = 10,
        dim: int | None = None,
        sigma_data: float | None = None,
        sigma_min: float = 1e-4,
        sigma_max: float = 80.0,
        train_noise: str = "lognormal",
        p_mean: float = -1.2,
        p_std: float = 1.2,
        cond_dropout: float = 0.1,
        lr: float = 3e-4,
        weight_decay: float = 0.0,
        warmup_steps: int = 200,
        ema_decay: float = 0.999,
        query_anchor: float = 0.0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        if not isinstance(set_size, int) or isinstance(set_size, bool) or set_size < 1:
            raise ConfigError(f"model.set_size must be an integer >= 1, got {set_size!r}")
        if train_noise not in ("lognormal", "tangent"):
            raise ConfigError(f"model.train_noise must be 'lognormal' or 'tangent', got {train_noise!r}")
        backbones.resolve(backbone)  # fail on an unknown name now, not after data preparation
        self.denoiser: SetDenoiser | None = None
        self.ema: SetDenoiser | None = None
        if dim is not None and sigma_data is not None:
            self._build(dim, sigma_data)

    # ------------------------------------------------------------------ building
    @property
    def hp(self) -> AttributeDict:
        """``self.hparams`` as what ``save_hyperparameters`` makes it (Lightning types it as any mapping)."""
        return cast(AttributeDict, self.hparams)

    def _build(self, dim: int, sigma_data: float) -> None:
        self.hp.dim, self.hp.sigma_data = int(dim), float(sigma_data)
        net = backbones.build(self.hp.backbone, dim=int(dim), set_size=self.hp.set_size)
        self.denoiser = SetDenoiser(net, sigma_data, self.hp.query_anchor)
        self.ema = copy.deepcopy(self.denoiser).requires_grad_(False)

    def attach_catalog(self, item_emb: Any) -> None:
        """Hand the catalog's item embeddings to a backbone that reads them (``candidate_transformer``);
        they are not weights, so they are never saved with the model."""
        for denoiser in (self.denoiser, self.ema):
            attach = getattr(denoiser.backbone, "attach_catalog", None) if denoiser is not None else None
            if callable(attach):
                attach(torch.as_tensor(item_emb))

    def configure_model(self) -> None:
        # Lightning also calls this when loading a checkpoint, with no trainer attached (and the model built).
        dm = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
        if self.denoiser is None:
            if dm is None or not hasattr(dm, "dim"):
                raise ConfigError("SetDiffusion needs model.dim and model.sigma_data, or a datamodule that provides them")
            if self.hp.dim is not None and self.hp.dim != dm.dim:
                raise ConfigError(f"model.dim={self.hp.dim} but the data's embeddings have dimension {dm.dim}")
            self._build(dm.dim, self.hp.sigma_data or dm.sigma_data)
        data = getattr(dm, "data", None)
        if data is not None:
            self.attach_catalog(data.item_emb)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Record which catalog and vectors the model was trained on, so that a checkpoint is
        not used with another catalog of the same dimension (checked on load)."""
        data = getattr(getattr(self.trainer, "datamodule", None), "data", None) if self._trainer is not None else None
        if data is not None:
            checkpoint["r4t_data"] = {"catalog_fingerprint": data.catalog.fingerprint(), "embeddings": data.paths["embeddings"].name}

    # ------------------------------------------------------------------ training
    def _loss(self, batch: dict[str, torch.Tensor], dropout: float, generator: torch.Generator | None = None) -> torch.Tensor:
        """EDM loss on a batch. ``generator`` (a CPU generator) fixes the noise for evaluation
        without touching the global RNG, which keeps drawing fresh noise for training."""
        assert self.denoiser is not None
        z, cond = batch["set"], batch["query"]
        n = len(z)
        hp = self.hp
        sigma = edm.sample_training_sigma(n, hp.train_noise, hp.p_mean, hp.p_std, hp.sigma_min, hp.sigma_max,
                                          generator=generator, device=z.device)
        if generator is None:
            eps, u = torch.randn_like(z), torch.rand(n, device=z.device)
        else:
            eps = torch.randn(z.shape, generator=generator, dtype=z.dtype).to(z.device)
            u = torch.rand(n, generator=generator).to(z.device)
        noisy = z + sigma.reshape(-1, 1, 1) * eps
        keep = u >= dropout
        pred = self.denoiser(noisy, sigma, cond, keep)
        per_sample = ((pred - z) ** 2).mean(dim=(1, 2))
        return (edm.loss_weight(sigma, hp.sigma_data) * per_sample).mean()

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch, self.hp.cond_dropout)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["set"]))
        return loss

    def _eval_loss(self, batch: dict[str, torch.Tensor], batch_idx: int, stage: str) -> None:
        # The same noise at every evaluation (comparable curves) from a local generator: seeding the
        # global one here made every training epoch after a validation replay the same noise and shuffle.
        loss = self._loss(batch, 0.0, torch.Generator().manual_seed(1234 + batch_idx))
        self.log(f"{stage}/loss", loss, prog_bar=True, batch_size=len(batch["set"]), sync_dist=True)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_loss(batch, batch_idx, "val")

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._eval_loss(batch, batch_idx, "test")

    def on_train_epoch_start(self) -> None:
        failpoint(f"fit:epoch:{self.current_epoch}")

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        assert self.denoiser is not None and self.ema is not None
        # Warm-up: decay min(d, (1 + n) / (10 + n)) lets the average follow the fast early
        # training instead of staying near the random initialisation for thousands of steps.
        n = self.global_step
        decay = min(self.hp.ema_decay, (1.0 + n) / (10.0 + n))
        with torch.no_grad():
            for e, p in zip(self.ema.parameters(), self.denoiser.parameters()):
                e.lerp_(p, 1.0 - decay)

    def configure_optimizers(self) -> OptimizerLRSchedulerConfig:
        assert self.denoiser is not None
        opt = torch.optim.AdamW(self.denoiser.parameters(), lr=self.hp.lr, betas=(0.9, 0.99), weight_decay=self.hp.weight_decay)
        total = self.trainer.estimated_stepping_batches
        if not math.isfinite(total) or total < 1:
            # Lightning returns trainer.max_steps (-1 when unset) for a loader without a length; a
            # schedule built on that silently stops training after two steps.
            raise ConfigError(f"cannot count the training steps (Lightning estimates {total}): the training loader has no "
                              "length; give it one, or set trainer.max_steps")
        total = int(total)
        warmup = min(self.hp.warmup_steps, max(total // 10, 1))

        def schedule(step: int) -> float:  # linear warm-up, then cosine decay to 0
            if step < warmup:
                return (step + 1) / warmup
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(total - warmup, 1))))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
