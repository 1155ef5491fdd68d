"""DataModules that feed SetDiffusion with {"query": [B, d], "set": [B, L, d]} batches."""

from __future__ import annotations

from pathlib import Path
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


def collection_splits(catalog: Any, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row numbers of the train / val / test collections, by each collection's own split (it
    follows the queries' intents, so a held-out intent's sets are never trained on). Only a
    catalog with no held-out collections at all (e.g. a saved one from before splits existed)
    holds out ``val_fraction`` of them at random for each of val and test."""
    split = np.array([c.split for c in catalog.collections])
    train, val, test = (np.flatnonzero(split == s) for s in ("train", "val", "test"))
    if len(val) == 0 and len(test) == 0:
        if len(train) < 3:
            raise ConfigError(f"catalog {catalog.name!r} has {len(train)} collections; need at least 3 (train/val/test)")
        order = np.random.default_rng(seed).permutation(train)
        n_val = max(1, int(round(len(order) * val_fraction)))  # the test split has the same size
        return order[2 * n_val :], order[:n_val], order[n_val : 2 * n_val]
    if len(train) == 0 or len(val) == 0:
        raise ConfigError(f"catalog {catalog.name!r} has {len(train)} training and {len(val)} validation collections; need at least one of each")
    return train, val, test


class CuratedSetDataModule(L.LightningDataModule):
    """Curated collections (playlists, outfits) as training sets, queried by their titles.

    This is the "diffusion on raw sets" data source; R4T's own source is the shards
    synthesized by the RL-tuned policy.
    """

    def __init__(
        self,
        run_dir: str = "runs/default",
        catalog: str | dict[str, Any] = "music",
        embedder: str | dict[str, Any] = "minilm",
        index: dict[str, Any] | None = None,
        reward: dict[str, Any] | None = None,
        policy: dict[str, Any] | None = None,
        rl: dict[str, Any] | None = None,
        synth: dict[str, Any] | None = None,
        set_size: int = 10,
        batch_size: int = 64,
        val_fraction: float = 0.05,  # and as much again for test
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not 0.0 < val_fraction < 1.0:
            raise ConfigError(f"data.val_fraction must be in (0, 1), got {val_fraction}")
        for key, value in (("set_size", set_size), ("batch_size", batch_size)):
            if value < 1:
                raise ConfigError(f"data.{key} must be >= 1, got {value}")
        if num_workers < 0:
            raise ConfigError(f"data.num_workers must be >= 0, got {num_workers}")
        self.config = DataConfig(catalog=catalog, embedder=embedder, index=dict(index or {}), run_dir=run_dir)
        # The stage sections (linked from the top level of the YAML); curated sets need only
        # the data sections, synthesized shards need all of them (``r4t.pipeline.Pipeline``).
        self.stage_sections = {"run_dir": run_dir, "catalog": catalog, "embedder": embedder, "index": dict(index or {}),
                         "reward": reward, "policy": policy, "rl": rl, "synth": synth}
        self.set_size, self.batch_size, self.val_fraction = set_size, batch_size, val_fraction
        self.num_workers, self.seed = num_workers, seed
        self.data: PreparedData | None = None

    def prepare_data(self) -> None:
        if self.data is None:  # the CLI may have handed over the pipeline's data already
            prepare_data(self.config)

    def setup(self, stage: str | None = None) -> None:
        if hasattr(self, "train_set"):
            return
        if self.data is None:
            self.data = prepare_data(self.config, quiet=True)
        cols = self.data.catalog.collections
        members = [np.asarray(c.items) for c in cols]
        q = self.data.collection_title_emb
        make = lambda idx: CuratedSetDataset(q[idx], [members[i] for i in idx], self.data.item_emb, self.set_size)  # noqa: E731
        train, val, test = collection_splits(self.data.catalog, self.val_fraction, self.seed)
        self.train_set, self.val_set, self.test_set = make(train), make(val), make(test)

    @property
    def dim(self) -> int:
        self.setup()
        assert self.data is not None
        return int(self.data.item_emb.shape[1])

    @property
    def sigma_data(self) -> float:
        """Std of the set entries, the EDM sigma_data (the paper's 0.088 ~ 1/sqrt(128))."""
        self.setup()
        assert self.data is not None
        return float(self.data.item_emb.std())

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True, num_workers=self.num_workers, drop_last=len(self.train_set) > self.batch_size)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=self.batch_size, num_workers=self.num_workers)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.test_set, batch_size=self.batch_size, num_workers=self.num_workers)


def check_shard_manifest(manifest: dict[str, Any], data: PreparedData, where: Any) -> None:
    """Shards hold embeddings: refuse ones made from another catalog or other vectors."""
    if manifest.get("catalog_fingerprint") not in (None, data.catalog.fingerprint()):
        raise ConfigError(f"{where}: shards were synthesized for catalog {manifest['catalog_fingerprint']}, "
                          f"this config's catalog is {data.catalog.fingerprint()}")
    if manifest.get("vectors_id") not in (None, data.vectors_id):
        raise ConfigError(f"{where}: shards were synthesized with embedder {manifest.get('embedder')!r} "
                          f"(vectors {manifest['vectors_id']}), this config uses {data.embedder_spec!r} (vectors {data.vectors_id}); "
                          "re-run `r4t synthesize` for this config")


class ShardDataModule(CuratedSetDataModule):
    """R4T's training data: (z_q, Z) pairs from shards the RL-tuned policy synthesized.

    The shards must exist before training: ``r4t fit`` builds every missing stage first
    (``r4t.pipeline.Pipeline.ensure("shards")``, called from the CLI's ``before_fit``); from
    Python, call that yourself. Training streams shards with webdataset: resampled shards with
    a fixed per-rank epoch length, so DDP ranks read different shards and never see uneven epochs.
    """

    def __init__(self, *args: Any, val_shards: int = 1, shuffle_buffer: int = 2000, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.val_shards, self.shuffle_buffer = val_shards, shuffle_buffer
        self.shard_dir: Path | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.shard_dir is not None:
            return
        import json

        from r4t.pipeline import Pipeline
        from r4t.synth.shards import read_shards

        pipeline = Pipeline(self.stage_sections, data=self.data)
        self.data = pipeline.data(quiet=True)
        shard_dir = pipeline.shards_dir()
        if not (shard_dir / "manifest.json").exists():
            raise ConfigError(f"no synthesized shards for this config at {shard_dir}: `r4t fit` builds them before training, "
                              "`r4t synthesize -c CONFIG` builds them alone, and from Python "
                              "r4t.pipeline.Pipeline(sections).ensure('shards') does")
        self.shard_dir = shard_dir
        manifest = json.loads((self.shard_dir / "manifest.json").read_text())
        check_shard_manifest(manifest, self.data, self.shard_dir)
        files = [str(self.shard_dir / e["file"]) for e in manifest["shards"] if e["count"] > 0]
        if len(files) <= self.val_shards:
            raise ConfigError(f"{self.shard_dir}: {len(files)} non-empty shards; need more than data.val_shards={self.val_shards}")
        self.train_files, self.val_files = files[: -self.val_shards], files[-self.val_shards :]
        counts = {str(self.shard_dir / e["file"]): e["count"] for e in manifest["shards"]}
        self.train_samples = sum(counts[f] for f in self.train_files)
        first = [s["z"] for s, _ in zip(read_shards(self.train_files[:1]), range(512))]
        self._dim = int(first[0].shape[1])
        self._sigma = float(np.stack(first).std())
        if self._dim != self.data.item_emb.shape[1]:
            raise ConfigError(f"{self.shard_dir}: shards hold {self._dim}-d rows but the embedder gives {self.data.item_emb.shape[1]}-d")

    @property
    def dim(self) -> int:
        self.setup()
        return self._dim

    @property
    def sigma_data(self) -> float:
        self.setup()
        return self._sigma

    @staticmethod
    def _to_tensors(sample: dict[str, Any]) -> dict[str, torch.Tensor]:
        from r4t.synth.shards import decode_sample

        s = decode_sample(sample)
        return {"query": torch.from_numpy(s["zq"]), "set": torch.from_numpy(s["z"])}

    def _world(self) -> tuple[int, int]:
        if self.trainer is None:
            return 0, 1
        return int(self.trainer.global_rank), int(self.trainer.world_size)

    def rank_files(self, rank: int, world: int) -> list[str]:
        """This rank's training shards: a disjoint round-robin split, so DDP ranks read
        different shards (every rank reads all of them only if there are fewer shards than ranks)."""
        if len(self.train_files) < world:
            return list(self.train_files)
        return self.train_files[rank::world]

    def train_dataloader(self) -> DataLoader:
        import webdataset as wds

        rank, world = self._world()
        files = self.rank_files(rank, world)
        if self.num_workers > len(files):
            raise ConfigError(f"data.num_workers={self.num_workers} but rank {rank} has only {len(files)} training shards; "
                              f"use at most {len(files)} workers or more shards (synth.queries_per_shard)")
        per_worker = self.samples_per_worker(world)
        ds = wds.DataPipeline(
            wds.SimpleShardList(files),
            wds.detshuffle(bufsize=1000, seed=self.seed + 1000 * rank),
            wds.split_by_worker,
            wds.tarfile_to_samples(),
            wds.shuffle(self.shuffle_buffer, seed=self.seed + 1000 * rank),
            wds.map(self._to_tensors),
        ).repeat(nepochs=10**9).with_epoch(per_worker)
        # The true length (every worker yields per_worker samples in whole batches): without it
        # Lightning cannot count the steps of a fit (estimated_stepping_batches is max_steps, -1),
        # and a learning-rate schedule built from that count decays to zero within two steps.
        ds = ds.with_length(per_worker * max(self.num_workers, 1), silent=True)
        return DataLoader(ds, batch_size=self.batch_size, num_workers=self.num_workers)

    def samples_per_worker(self, world: int) -> int:
        """Samples each loader worker yields per epoch: the same on every rank (repeat + with_epoch),
        or DDP would hang on the rank that runs out first, and a whole number of batches, so the
        loader's length is exact. All shuffles are seeded (per rank, and per epoch by webdataset's
        detshuffle), so a run is reproducible."""
        per_rank = max(self.batch_size, self.train_samples // world)
        return max(1, per_rank // max(self.num_workers, 1) // self.batch_size) * self.batch_size

    def val_dataloader(self) -> DataLoader:
        import webdataset as wds

        # Every rank evaluates all validation shards (same batches on each rank: no uneven ends).
        ds = wds.DataPipeline(wds.SimpleShardList(self.val_files), wds.split_by_worker, wds.tarfile_to_samples(),
                              wds.map(self._to_tensors))
        return DataLoader(ds, batch_size=self.batch_size, num_workers=self.num_workers)

    test_dataloader = val_dataloader
