"""Can the set diffusion model compile a retriever we already have? Train it on another
retriever's sets for the *training* queries (DPP's, say) and compare it with that retriever on val.

A diagnostic for issue #16: if a model trained on DPP's own sets cannot return DPP-like sets
for unseen intents, no teacher will make it beat DPP at this data scale and the bottleneck is
the student; if it can, the bottleneck is the teacher's sets. Writes a checkpoint that
``r4t_diffusion`` loads (it records the catalog it was trained on).

    python benchmarks/distill_retriever.py -c configs/fashion-filtered.yaml \\
        --teacher '{"name": "dpp", "alpha": 3.0}' --out runs/fashion/distill/dpp.ckpt --epochs 15 --repeat 4
"""

from __future__ import annotations

import argparse
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from r4t.bench.set_quality import open_query_study
from r4t.cli import json_spec
from r4t.data.datamodules import CuratedSetDataset
from r4t.diffusion.module import SetDiffusion
from r4t.retrievers import retrievers


class _Recorder(L.Callback):
    """Record the catalog the model is trained on, as ``r4t fit`` does, so the retriever checks it."""

    def __init__(self, data) -> None:  # noqa: ANN001
        self.data = data

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:  # noqa: ANN001
        checkpoint["r4t_data"] = {"catalog_fingerprint": self.data.catalog.fingerprint(), "embeddings": self.data.paths["embeddings"].name}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", required=True, help="its model: section is the student")
    p.add_argument("--teacher", required=True, help="registry name or JSON spec of the retriever to compile")
    p.add_argument("--out", required=True, help="checkpoint path to write")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--repeat", type=int, default=4, help="each training query's set appears this often per epoch "
                   "(the filtered configs keep 4 sets a query, so 4 matches their steps per epoch)")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    study = open_query_study(args.config, "train")
    data, queries = study.data, study.queries
    teacher = retrievers.build(json_spec(args.teacher, "--teacher"), data=data)
    query_emb = data.embedder.encode([q.text for q in queries])
    sets = teacher.retrieve_indices_for([q.text for q in queries], query_emb, args.k)
    members = [np.asarray(s, dtype=np.int64) for s in sets] * args.repeat
    dataset = CuratedSetDataset(np.concatenate([query_emb] * args.repeat), members, data.item_emb, args.k)
    model_cfg = dict(study.cfg.get("model") or {})
    model_cfg.update(set_size=args.k, dim=int(data.item_emb.shape[1]))
    if model_cfg.get("sigma_data") is None:  # measured from the data, as the datamodules do
        model_cfg["sigma_data"] = float(data.item_emb.std())
    L.seed_everything(args.seed)
    model = SetDiffusion(**model_cfg)
    trainer = L.Trainer(max_epochs=args.epochs, logger=False, enable_checkpointing=False, accelerator="cpu", devices=1,
                        callbacks=[_Recorder(data)], enable_model_summary=False)
    trainer.fit(model, DataLoader(dataset, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(args.seed)))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    trainer.save_checkpoint(args.out)
    print(f"{len(queries)} training queries x {args.repeat}, {trainer.global_step} steps, sigma_data {model_cfg['sigma_data']:.4f} -> {args.out}")


if __name__ == "__main__":
    main()
