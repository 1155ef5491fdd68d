"""DataModules that feed SetDiffusion with {"query": [B, d], "set": [B, L, d]} batches."""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from r4t.data.prepare import DataConfig, PreparedData, prepare_data
from r4t.errors import ConfigError


class CuratedSetDataset(Dataset):
    """(title embedding, L member embeddings) per curated collection.

    Each access draws L members without replacement (with replacement only when the
    collection is smaller than L) from torch's RNG, which ``seed_everything`` seeds (and
    Lightning seeds per worker), so epochs see different subsets of big playlists and a
    seeded run is reproducible.
    """

    def __init__(self, query: np.ndarray, members: list[np.ndarray], item_emb: np.ndarray, set_size: int) -> None:
        self.query = torch.from_numpy(query)
        self.members = [torch.from_numpy(m) for m in members]
        self.item_emb, self.set_size = torch.from_numpy(item_emb), set_size

    def __len__(self) -> int:
        return len(self.members)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        m = self.members[i]
        if len(m) >= self.set_size:
            rows = m[torch.randperm(len(m))[: self.set_size]]
        else:
            rows = m[torch.randint(len(m), (self.set_size,))]
        return {"query": self.query[i], "set": self.item_emb[rows]}


class CuratedSetDataModule(L.LightningDataModule):
    """Curated collections (playlists, outfits) as training sets, queried by their titles.

    This is the "diffusion on raw sets" data source; R4T's own source is the shards
    synthesized by the RL-tuned policy.
    """

    def __init__(
        self,
        run_dir: str = "runs/default",
        catalog: Any = "music",
        embedder: Any = "minilm",
        index: dict[str, Any] | None = None,
        set_size: int = 10,
        batch_size: int = 64,
        val_fraction: float = 0.05,  # and as much again for test
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not 0.0 < val_fraction < 1.0:
            raise ConfigError(f"data.val_fraction must be in (0, 1), got {val_fraction}")
        self.config = DataConfig(catalog=catalog, embedder=embedder, index=dict(index or {}), run_dir=run_dir)
        self.set_size, self.batch_size, self.val_fraction = set_size, batch_size, val_fraction
        self.num_workers, self.seed = num_workers, seed
        self.data: PreparedData | None = None

    def prepare_data(self) -> None:
        prepare_data(self.config)

    def setup(self, stage: str | None = None) -> None:
        if self.data is not None:
            return
        self.data = prepare_data(self.config, quiet=True)
        cols = self.data.catalog.collections
        if len(cols) < 3:
            raise ConfigError(f"catalog {self.data.catalog.name!r} has {len(cols)} collections; need at least 3 (train/val/test)")
        order = np.random.default_rng(self.seed).permutation(len(cols))
        n_val = max(1, int(round(len(cols) * self.val_fraction)))  # the test split has the same size
        members = [np.asarray(c.items) for c in cols]
        q = self.data.collection_title_emb
        make = lambda idx: CuratedSetDataset(q[idx], [members[i] for i in idx], self.data.item_emb, self.set_size)  # noqa: E731
        self.val_set, self.test_set = make(order[:n_val]), make(order[n_val : 2 * n_val])
        self.train_set = make(order[2 * n_val :])

    @property
    def dim(self) -> int:
        self.setup()
        return int(self.data.item_emb.shape[1])

    @property
    def sigma_data(self) -> float:
        """Std of the set entries, the EDM sigma_data (the paper's 0.088 ~ 1/sqrt(128))."""
        self.setup()
        return float(self.data.item_emb.std())

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True, num_workers=self.num_workers, drop_last=len(self.train_set) > self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.batch_size, num_workers=self.num_workers)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.test_set, batch_size=self.batch_size, num_workers=self.num_workers)
