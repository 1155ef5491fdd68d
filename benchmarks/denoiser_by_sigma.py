"""How well a trained denoiser does at each noise level, on its own training shards.

Per sigma: the EDM-weighted loss of the checkpoint's EMA denoiser and of the trivial denoiser
(network output F = 0, i.e. D = anchor + c_skip * (x - anchor): at high noise, "return the
query"), and the share of rows whose denoised vector's nearest catalog item is the row's own
item (row recovery). A trained model must beat F = 0 wherever the data says more than the
query; one that does not has not learned (this table found that every shard-trained fit ran
for two steps).

    python benchmarks/denoiser_by_sigma.py -c configs/music.yaml --checkpoint CKPT --shards runs/music/cache/shards/ID
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from r4t.bench.hardware import describe_hardware
from r4t.config import load_config
from r4t.data.prepare import DataConfig, prepare_data
from r4t.diffusion import edm
from r4t.diffusion.checkpoint import load_set_diffusion
from r4t.diffusion.denoiser import SetDenoiser
from r4t.synth.shards import read_shards

SIGMAS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 3.0)


def by_sigma(denoiser: SetDenoiser, sets: torch.Tensor, queries: torch.Tensor, item_index: Any,
             sigmas: Sequence[float] = SIGMAS, seed: int = 0) -> list[dict[str, float]]:
    """One row per sigma: weighted loss and row recovery of ``denoiser`` and of F = 0, same noise."""
    sd = denoiser.sigma_data
    truth = item_index.search(sets.reshape(-1, sets.shape[-1]).numpy().astype(np.float32), 1)[1][:, 0]
    eps = torch.randn(sets.shape, generator=torch.Generator().manual_seed(seed))
    anchor = denoiser.query_anchor * queries[:, None, :]

    def recovery(pred: torch.Tensor) -> float:
        found = item_index.search(pred.reshape(-1, pred.shape[-1]).numpy().astype(np.float32), 1)[1][:, 0]
        return float((found == truth).mean())

    rows = []
    for sigma in sigmas:
        s = torch.full((len(sets),), float(sigma))
        x = sets + sigma * eps
        with torch.no_grad():
            model = denoiser(x, s, queries)
        trivial = anchor + edm.c_skip(s.reshape(-1, 1, 1), sd) * (x - anchor)
        weight = edm.loss_weight(s, sd)
        loss, loss_f0 = (float((weight * ((pred - sets) ** 2).mean(dim=(1, 2))).mean()) for pred in (model, trivial))
        rows.append({"sigma": float(sigma), "loss": loss, "loss_f0": loss_f0,
                     "recovery": recovery(model), "recovery_f0": recovery(trivial)})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--shards", required=True, type=Path)
    p.add_argument("--samples", type=int, default=256, help="every 7th training sample, up to this many")
    args = p.parse_args()
    data = prepare_data(DataConfig.from_mapping(load_config(args.config)), quiet=True)
    denoiser = load_set_diffusion(args.checkpoint).ema.eval()
    picked = []
    for n, sample in enumerate(read_shards(sorted(str(f) for f in args.shards.glob("shard-*.tar")))):
        if n % 7 == 0:
            picked.append(sample)
        if len(picked) >= args.samples:
            break
    sets = torch.tensor(np.stack([s["z"] for s in picked]))
    queries = torch.tensor(np.stack([s["zq"] for s in picked]))
    print(f"# {args.checkpoint}: {len(picked)} samples of {args.shards}; sigma_data {denoiser.sigma_data:.4f}; "
          f"hardware: {describe_hardware()}\n")
    print("| sigma | loss, model | loss, F = 0 | row recovery, model | row recovery, F = 0 |")
    print("|---|---|---|---|---|")
    for r in by_sigma(denoiser, sets, queries, data.item_index):
        print(f"| {r['sigma']:g} | {r['loss']:.3f} | {r['loss_f0']:.3f} | {r['recovery']:.3f} | {r['recovery_f0']:.3f} |")


if __name__ == "__main__":
    main()
