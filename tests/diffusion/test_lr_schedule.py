"""The learning-rate schedule spans the whole fit, for map-style and for streamed (iterable)
training data. Before this test, a loader without a length (the webdataset shards of the R4T
pipeline) made Lightning estimate -1 steps and the cosine schedule reach zero after two steps:
every r4t_diffusion checkpoint trained for two steps."""

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset

from r4t.diffusion.module import SetDiffusion
from r4t.errors import ConfigError

DIM, ROWS = 4, 3


class Stream(IterableDataset):
    """``n`` samples per epoch and no ``__len__``, as a webdataset pipeline."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __iter__(self):
        g = torch.Generator().manual_seed(0)
        for _ in range(self.n):
            yield {"query": torch.randn(DIM, generator=g), "set": torch.randn(ROWS, DIM, generator=g)}


class SizedStream(Stream):
    def __len__(self) -> int:
        return self.n


class RecordLR(L.Callback):
    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


def _fit(data, epochs: int = 3) -> RecordLR:
    L.seed_everything(0, verbose=False)
    model = SetDiffusion(backbone={"name": "mlp", "width": 16, "depth": 1}, set_size=ROWS, dim=DIM, sigma_data=0.5, lr=1e-3, warmup_steps=2)
    record = RecordLR()
    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, callbacks=[record])
    trainer.fit(model, DataLoader(data, batch_size=8))
    return record


def test_a_streamed_loader_with_a_length_trains_at_a_positive_rate_until_the_last_step():
    record = _fit(SizedStream(64))
    assert len(record.lrs) == 3 * 64 // 8
    assert all(lr > 0 for lr in record.lrs)
    assert max(record.lrs) == pytest.approx(1e-3)
    assert record.lrs[-1] < 0.05 * 1e-3  # the cosine ends near zero at the last step, not before
    assert record.lrs[len(record.lrs) // 2] > 0.3 * 1e-3


def test_a_loader_without_a_length_and_no_max_steps_is_refused_with_the_fix():
    with pytest.raises(ConfigError, match="cannot count the training steps.*trainer.max_steps"):
        _fit(Stream(64))


@pytest.mark.parametrize("workers", [0, 2])
def test_the_shard_loader_reports_exactly_the_batches_it_yields(tmp_path, workers):
    import numpy as np

    from r4t.data.datamodules import ShardDataModule
    from r4t.synth.shards import encode_sample, write_shard

    files = []
    for f in range(3):
        samples = [encode_sample(f"s{f}-{i}", "q", np.ones(DIM), np.zeros((ROWS, DIM)), {"total": 0.0}, {"qid": "q"}) for i in range(20)]
        write_shard(tmp_path / f"shard-{f:05d}.tar", samples)
        files.append(str(tmp_path / f"shard-{f:05d}.tar"))
    dm = ShardDataModule.__new__(ShardDataModule)
    dm.trainer, dm.train_files, dm.train_samples = None, files, 60
    dm.batch_size, dm.num_workers, dm.seed, dm.shuffle_buffer = 8, workers, 0, 100
    loader = dm.train_dataloader()
    batches = list(loader)
    assert len(loader) == len(batches) == (7 if workers == 0 else 6)  # whole batches: 56 samples, or 24 per worker
    assert all(len(b["set"]) == 8 for b in batches)
