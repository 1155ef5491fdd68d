"""The paper's latency regime on one GPU: every method timed call by call in one interleaved run.

    python benchmarks/gpu/gpu_latency.py --bundle .gpu/music --out OUT              # on the GPU (run.sh calls this)
    python benchmarks/gpu/gpu_latency.py --smoke --device cpu --out OUT             # tiny, on CPU (CI)

Methods (one ``retrieve`` call each per round, order rotated per round, caches dropped,
CUDA-synchronised at every stage boundary, warm-up calls excluded):

* ``dense_topk``; ``r4t_diffusion`` (the CPU-trained model from the bundle) with its default
  sampler and with the paper's 256-step SDE (guidance 0.1);
* the paper-size denoiser (6 x 1024, random weights) with the 256-step SDE;
* a 4B-class fan-out LM (Qwen3-4B architecture from its config, bf16, random weights) decoding
  exactly the fan-out length measured on CPU, with transformers' static KV cache (which
  compiles the decoding step on CUDA), then encoding its sub-queries and grounding them.

Search is an exact torch matmul top-k on the device (``r4t.catalog.torch_index``): faiss-gpu
does not fit a 64 MiB carry. The query encoder has MiniLM-L6's architecture and tokenizer;
its weights are random unless the bundle carries them (90 MB do not fit either), and every
record says so. Rounds per batch size adapt to a time budget; a batch size that cannot get
``--min-rounds`` rounds is recorded as skipped. Writes ``records.jsonl`` (one registry
record per method; ``land.py`` files them under ``registry/``) and ``summary.md``
(speed-ups with bootstrap intervals over rounds, stage shares) into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bundle import ENCODER_FILES, read_bundle, tiny  # noqa: E402

from r4t.bench.latency import BatchLatency, batch_of, measure_interleaved, timed_call  # noqa: E402
from r4t.bench.records import hardware, new_run_id, slugify, validate_record, versions  # noqa: E402
from r4t.bench.stats import median_ratio  # noqa: E402
from r4t.catalog.catalog import Catalog  # noqa: E402
from r4t.catalog.embedders import SentenceTransformerEmbedder  # noqa: E402
from r4t.catalog.torch_index import TorchExactIndex  # noqa: E402
from r4t.data.prepare import PreparedData  # noqa: E402
from r4t.retrievers import retrievers  # noqa: E402
from r4t.retrievers.diffusion import DEFAULT_SAMPLER  # noqa: E402

PAPER = {8: ("1.46 s", "0.07 s", "~21x"), 1024: ("~50 s", "4.21 s", "~12x")}  # 4B LLM fan-out vs diffusion (PAPER.md)
DIRECTION_STAGES = ("encode", "generate")
R4T_LABEL = "r4t_diffusion"


def encoder_folder(bundle: Path, work: Path, seed: int) -> tuple[Path, str]:
    """The query encoder's model folder, and what it is: the carried weights, or MiniLM's
    architecture with random weights (same shapes, same tokenizer, same arithmetic)."""
    source = bundle / "encoder"
    if (source / "model.safetensors").exists():
        return source, "all-MiniLM-L6-v2 (carried weights)"
    from transformers import AutoConfig, AutoModel

    target = work / "encoder"
    target.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    AutoModel.from_config(AutoConfig.from_pretrained(source)).save_pretrained(target)
    for name in ENCODER_FILES[1:]:
        shutil.copy2(source / name, target / name)
    return target, "MiniLM-L6 architecture and tokenizer, random weights (latency only: the 90 MB weights exceed the carry)"


def prepared_data(meta: dict[str, Any], vectors: np.ndarray, ids: list[str], texts: list[str], index: TorchExactIndex,
                  embedder: SentenceTransformerEmbedder) -> PreparedData:
    cat = meta["catalog"]
    catalog = Catalog(name=cat["name"], domain=cat["domain"], item_ids=ids, item_texts=texts,
                      meta={"source_fingerprint": cat["fingerprint"]}).validate("GPU bundle")
    empty = np.zeros((0, vectors.shape[1]), dtype=np.float32)
    paths = {"embeddings": Path(cat["embeddings"])} if cat.get("embeddings") else {}
    return PreparedData(catalog=catalog, item_emb=vectors, query_emb=empty, collection_emb=empty, collection_title_emb=empty,
                        item_index=index, collection_index=None, paths=paths, _embedder=embedder)  # type: ignore[arg-type]


def method_specs(bundle: Path, meta: dict[str, Any], device: str, smoke: bool, lm_arch: str, lm_compile: bool) -> dict[str, dict]:
    """label -> retriever spec. Smoke mode keeps every code path but shrinks steps and sizes."""
    sde = {"name": "edm_sde", "steps": 8 if smoke else 256}
    fan = meta["fanout"]
    specs = {
        "dense_topk": {"name": "dense_topk"},
        R4T_LABEL: {"name": "r4t_diffusion", "checkpoint": str(bundle / "denoiser"), "sampler": dict(DEFAULT_SAMPLER), "device": device},
        "r4t_diffusion (256-step SDE, guidance 0.1)": {"name": "r4t_diffusion", "checkpoint": str(bundle / "denoiser"),
                                                        "sampler": sde, "guidance": 0.1, "device": device},
        "latency_only_diffusion (paper size, 256 SDE steps)": {"name": "latency_only_diffusion", "sampler": sde, "device": device},
        lm_label(smoke, lm_arch): {"name": "latency_only_fanout", "arch": "test-tiny" if smoke else lm_arch,
                                    "dtype": "float32" if smoke else "bfloat16",
                   "new_tokens": int(fan["new_tokens"]), "subqueries": int(fan["subqueries"]), "cache": "static",
                   "compile": lm_compile, "device": device},
    }
    if smoke:
        specs["latency_only_diffusion (paper size, 256 SDE steps)"]["backbone"] = {"name": "coherent_transformer", "depth": 1,
                                                                               "width": 32, "mlp": 32, "heads": 2}
    return specs


def lm_label(smoke: bool, arch: str) -> str:
    return f"latency_only_fanout ({'test-tiny, float32' if smoke else arch + ', bf16'}, static cache)"


def choose_rounds(round_s: float, remaining_s: float, sizes_left: int, lo: int, hi: int) -> int:
    """Rounds for this batch size: an equal share of the remaining budget, within [lo, hi];
    0 when not even ``lo`` rounds fit in what is left."""
    if round_s <= 0:
        return hi
    if lo * round_s > remaining_s:
        return 0
    share = remaining_s / max(sizes_left, 1)
    return int(min(hi, max(lo, math.floor(share / round_s))))


def batch_entry(batch: int, total: np.ndarray, stages: dict[str, np.ndarray]) -> dict[str, Any]:
    """The record's batch entry, with every round's seconds so that runs pair up round by round."""
    entry = BatchLatency.from_times(batch, total, {k: float(v.sum()) for k, v in stages.items()}).as_dict()
    return {**entry, "round_s": [float(x) for x in total]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", type=Path, help="made by benchmarks/gpu/bundle.py (default with --smoke: a tiny one)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--smoke", action="store_true", help="tiny models, 2 batch sizes, 2 rounds: exercises every path on CPU")
    p.add_argument("--batch_sizes", "--batch-sizes", default="1,8,64,256,1024")
    p.add_argument("--min_rounds", "--min-rounds", type=int, default=5)
    p.add_argument("--max_rounds", "--max-rounds", type=int, default=20)
    p.add_argument("--warmup", type=int, default=2, help="untimed calls per method and batch size (compilation happens here)")
    p.add_argument("--budget_s", "--budget-s", type=float, default=300.0, help="seconds for warm-up and timed rounds over all batch sizes")
    p.add_argument("--lm_arch", "--lm-arch", default="qwen3-4b")
    p.add_argument("--no_lm_compile", "--no-lm-compile", dest="lm_compile", action="store_false", help="static cache without torch.compile")
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda but torch sees no CUDA GPU (use --device cpu --smoke to exercise the script)")
    if args.smoke:
        args.batch_sizes, args.min_rounds, args.max_rounds, args.warmup = "1,4", 2, 2, 1
    sizes = sorted({int(x) for x in args.batch_sizes.split(",")})
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="r4t-gpu-"))
    bundle = args.bundle or (tiny(work / "bundle") if args.smoke else p.error("--bundle is required without --smoke"))
    meta, vectors, ids, texts = read_bundle(bundle)
    sync = torch.cuda.synchronize if args.device == "cuda" else None

    index = TorchExactIndex(vectors, device=args.device)
    enc_dir, encoder_label = encoder_folder(bundle, work, args.seed)
    embedder = SentenceTransformerEmbedder(model=str(enc_dir), device=args.device)
    data = prepared_data(meta, vectors, ids, texts, index, embedder)
    specs = method_specs(bundle, meta, args.device, args.smoke, args.lm_arch, args.lm_compile)
    built, params = {}, {}
    for label, spec in specs.items():
        t = time.monotonic()
        built[label] = retrievers.build(spec, data=data)
        params[label] = getattr(built[label], "num_parameters", None) or _parameters(built[label])
        print(f"[gpu] built {label} in {time.monotonic() - t:.1f}s ({(params[label] or 0) / 1e6:.1f}M parameters)", flush=True)
    queries = meta["queries"]
    print(f"[gpu] {hardware(args.device)['summary']}; {len(ids)} items; search: {index.describe()['search']}; encoder: {encoder_label}",
          flush=True)

    protocol = {"kind": "interleaved", "batch_sizes": sizes, "min_rounds": args.min_rounds, "max_rounds": args.max_rounds,
                "warmup": args.warmup, "budget_s": args.budget_s, "k": args.k, "search": index.describe()["search"],
                "encoder": encoder_label, "cuda_synchronised": args.device == "cuda", "smoke": args.smoke,
                "run": new_run_id({"argv": sys.argv, "started": time.time()})}  # records of one run pair up round by round
    results: dict[str, list[dict[str, Any]]] = {label: [] for label in built}
    paired: dict[int, dict[str, Any]] = {}
    skipped: list[int] = []
    failures: list[str] = []
    budget_start = time.monotonic()
    for i, size in enumerate(sizes):
        remaining = args.budget_s - (time.monotonic() - budget_start)
        batch = batch_of(queries, size)
        try:
            warm = {}
            for label, r in built.items():
                t = time.monotonic()
                for _ in range(args.warmup):
                    seconds, _ = timed_call(r, batch, args.k, sync)
                warm[label] = (seconds, time.monotonic() - t)
            remaining = args.budget_s - (time.monotonic() - budget_start)
            rounds = choose_rounds(sum(s for s, _ in warm.values()), remaining, len(sizes) - i, args.min_rounds, args.max_rounds)
            if rounds == 0:
                skipped.append(size)
                print(f"[gpu] batch {size}: skipped ({remaining:.0f}s left, one round takes {sum(s for s, _ in warm.values()):.1f}s)")
                continue
            times = measure_interleaved(built, batch, rounds=rounds, k=args.k, warmup=0, sync=sync)
        except Exception as exc:  # an untested device: keep what was measured, say what failed
            skipped.append(size)
            failures.append(f"batch {size}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            traceback.print_exc()
            if args.device == "cuda":
                torch.cuda.empty_cache()
            continue
        paired[size] = {label: t for label, t in times.items()}
        for label, t in times.items():
            results[label].append(batch_entry(size, t.total_s, t.stages_s))
        line = ", ".join(f"{label} {np.median(t.total_s) * 1e3:.1f} ms" for label, t in times.items())
        print(f"[gpu] batch {size}: {rounds} rounds, warm-up {sum(w for _, w in warm.values()):.1f}s; p50 {line}", flush=True)
        write_outputs(args, meta, built, specs, params, results, paired, skipped, failures, protocol, encoder_label, started)

    if paired:
        write_outputs(args, meta, built, specs, params, results, paired, skipped, failures, protocol, encoder_label, started)
    print(f"[gpu] {'wrote records.jsonl and summary.md to ' + str(args.out) if paired else 'nothing measured'} "
          f"in {time.monotonic() - started:.0f}s", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    return 0 if paired else 1


def write_outputs(args: argparse.Namespace, meta: dict[str, Any], built: dict, specs: dict, params: dict, results: dict,
                  paired: dict, skipped: list[int], failures: list[str], protocol: dict[str, Any], encoder_label: str,
                  started: float) -> None:
    """Rewritten after every batch size: a run stopped at its time limit keeps what it measured."""
    records = make_records(meta, built, specs, params, results, skipped, protocol, args, encoder_label)
    tmp = args.out / "records.jsonl.tmp"
    tmp.write_text("".join(json.dumps(record, sort_keys=True) + "\n" for record in records))
    tmp.replace(args.out / "records.jsonl")
    (args.out / "summary.md").write_text(summary(meta, records, paired, skipped, failures, records[0]["latency"]["protocol"],
                                                 lm_label(args.smoke, args.lm_arch), time.monotonic() - started))


def _parameters(retriever: Any) -> int | None:
    model = getattr(retriever, "denoiser", None)
    return sum(p.numel() for p in model.parameters()) if model is not None else None


def make_records(meta: dict[str, Any], built: dict, specs: dict, params: dict, results: dict, skipped: list[int],
                 protocol: dict[str, Any], args: argparse.Namespace, encoder_label: str) -> list[dict[str, Any]]:
    import datetime as dt

    now = dt.datetime.now(dt.timezone.utc)
    env, machine = versions(), hardware(args.device)
    command = "bash benchmarks/gpu/run.sh OUT " + " ".join(sys.argv[1:])
    run_tag = protocol["run"]
    out = []
    for label, spec in specs.items():
        notes = [f"GPU interleaved run {run_tag}", f"query encoder: {encoder_label}", protocol["search"]]
        if getattr(built[label], "latency_only", False):
            notes.insert(0, "latency only, random weights")
        if spec["name"] == "latency_only_fanout":
            notes.append(f"decodes {spec['new_tokens']} tokens per fan-out ({meta['fanout']['source']}), "
                         f"{spec['subqueries']} sub-queries encoded and grounded; static KV cache, "
                         f"torch.compile {'on' if spec['compile'] else 'off'}")
        record = {
            "schema_version": 1, "run_id": "", "date": now.isoformat(timespec="seconds"), "command": command,
            "catalog": {"name": meta["catalog"]["name"], "items": int(meta["catalog"]["items"]), "split": "test", "k": args.k},
            "retriever": {"name": spec["name"], "label": label, "slug": slugify(label), "spec": json.loads(json.dumps(spec, default=str)),
                          "latency_only": bool(getattr(built[label], "latency_only", False)), "parameters": params[label],
                          "notes": "; ".join(notes)},
            "config_hash": meta["config_hash"], "data_fingerprint": meta["catalog"]["fingerprint"],
            "checkpoint_sha256": meta["checkpoint_sha256"] if spec["name"] == "r4t_diffusion" else None,
            "seeds": {"retriever": int(spec.get("seed", 0)), "encoder_weights": args.seed},
            "versions": env, "hardware": machine, "quality": None,
            "latency": {"protocol": protocol, "batches": results[label], "skipped_batch_sizes": sorted(skipped)},
        }
        record["run_id"] = new_run_id(record, now)
        errors = validate_record(record)
        if errors:
            raise SystemExit(f"record for {label} does not match the schema: {errors}")
        out.append(record)
    return out


def summary(meta: dict[str, Any], records: list[dict[str, Any]], paired: dict[int, dict], skipped: list[int], failures: list[str],
            protocol: dict[str, Any], reference: str, elapsed: float) -> str:
    hw = records[0]["hardware"]["summary"] if records else "?"
    lines = [f"# GPU latency: {meta['catalog']['name']} ({meta['catalog']['items']} items), one interleaved run",
             "", f"- machine: {hw}", f"- search: {protocol['search']}", f"- query encoder: {protocol['encoder']}",
             f"- fan-out LM: {reference}, {meta['fanout']['new_tokens']} tokens per fan-out ({meta['fanout']['source']})",
             f"- run {protocol['run']}, {elapsed:.0f} s; skipped batch sizes: {skipped or 'none'}"
             + (f"; failures: {'; '.join(failures)}" if failures else ""),
             "", "## p50 / p99 seconds per call", "",
             "| method | " + " | ".join(f"batch {b}" for b in sorted(paired)) + " |", "|---|" + "---|" * len(paired)]
    for label in (paired[min(paired)] if paired else {}):
        cells = [f"{np.median(paired[b][label].total_s):.4f} / {np.percentile(paired[b][label].total_s, 99):.4f}" for b in sorted(paired)]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", f"## speed-up over {reference} (median of per-round ratios, 95% bootstrap interval over rounds)", "",
              "| method | batch | rounds | end to end | at fan-out (encode + generate) | paper (LLM vs diffusion) |", "|---|---|---|---|---|---|"]
    for b in sorted(paired):
        ref = paired[b].get(reference)
        for label, t in paired[b].items():
            if ref is None or label == reference:
                continue
            whole, fan = median_ratio(ref.total_s, t.total_s), median_ratio(ref.fanout_s(), t.fanout_s())
            paper = " vs ".join(PAPER[b][:2]) + f" = {PAPER[b][2]}" if b in PAPER and label.startswith("r4t") else ""
            lines.append(f"| {label} | {b} | {whole.n} | {whole.mean:.1f}x [{whole.lo:.1f}, {whole.hi:.1f}] | "
                         f"{fan.mean:.1f}x [{fan.lo:.1f}, {fan.hi:.1f}] | {paper} |")
    lines += ["", f"## where {R4T_LABEL}'s call goes (share of the mean call)", "", "| batch | encode | generate | search | other |",
              "|---|---|---|---|---|"]
    for b in sorted(paired):
        t = paired[b].get(R4T_LABEL)
        if t is None:
            continue
        mean = float(t.total_s.mean())
        shares = {s: float(t.stages_s.get(s, np.zeros(1)).mean()) / mean for s in ("encode", "generate", "search")}
        lines.append(f"| {b} | " + " | ".join(f"{100 * v:.0f}%" for v in shares.values()) + f" | {100 * (1 - sum(shares.values())):.0f}% |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
