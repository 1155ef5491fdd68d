"""Stage (i) end to end (`r4t rl`): policy -> warm-start -> GRPO / Soft-GRPO -> saved policy.

Cached like every stage under ``<run_dir>/cache``:
  policy/<hash>/           the warm-started policy (model + tokenizer), reused by later runs
  rl/<hash>/checkpoint-*   trl checkpoints (a rerun resumes from the newest)
  rl/<hash>/final/         the RL-tuned policy, written atomically when training finishes
  rl/<hash>/metrics.csv, curve.png, summary.json
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path
from typing import Any, Mapping, cast

import numpy as np
import torch

from r4t.catalog.catalog import Catalog, Query
from r4t.data.prepare import PreparedData
from r4t.distributed import barrier, env_world, init_from_env, main_process_first
from r4t.errors import ConfigError
from r4t.fanout.constrained import constrained_generation
from r4t.fanout.grounding import FanoutGrounder
from r4t.fanout.policy import FanoutPolicy, GenerationSettings, load_policy
from r4t.rewards import build_reward
from r4t.rewards.composite import CompositeReward
from r4t.runs import atomic_dir, cached_or_legacy, config_hash, path_key
from r4t.sections import checked_section
from r4t.seeding import caller_rng_preserved
from r4t.stage_configs import PolicyConfig, RLConfig  # noqa: F401  (re-exported: the stage's sections)


def section_config(cls, section: Mapping[str, Any] | None, key: str):
    """A stage section as its typed dataclass (every type and range checked; see r4t.sections)."""
    return checked_section(cls, section, key)


def _log(msg: str) -> None:
    if env_world()[0] == 0:  # once, not once per process
        print(f"[r4t rl] {msg}", flush=True)


def warm_started_policy(data: PreparedData, cfg: PolicyConfig, cache: Path) -> tuple[FanoutPolicy, Path | str]:
    """The starting policy, cached: the tiny LM built here, Gemma 3 270M, or a loaded checkpoint,
    warm-started on curated (query -> sub-queries) pairs when ``warmstart.steps`` > 0."""
    from r4t.fanout.sft import supervised_warmstart
    from r4t.fanout.tiny_lm import build_tiny_lm, save_policy, train_word_tokenizer
    from r4t.fanout.warmstart import has_themes, nearest_collections, training_vocabulary, warmstart_pairs

    gen = GenerationSettings(max_new_tokens=cfg.max_new_tokens)
    ws = dict(cfg.warmstart)
    steps = int(ws.get("steps", 300))
    if cfg.model not in ("tiny",) and steps <= 0:
        source = _resolve_model(cfg.model, cache)
        return load_policy(str(source), cfg.prompt_style, data.catalog.domain, cfg.subqueries, cfg.gguf_file, gen), source
    folder = warm_start_dir(data, cfg, cache)
    if (folder / "config.json").exists():
        _log(f"warm-start policy: reusing {folder}")
        return load_policy(str(folder), cfg.prompt_style, data.catalog.domain, cfg.subqueries, generation=gen), folder
    catalog = data.catalog
    train_queries = catalog.queries_for(split="train")
    nearest = None if has_themes(catalog) else nearest_collections(catalog, data.query_emb, data.collection_title_emb, train_queries)
    pairs = warmstart_pairs(catalog, train_queries, subqueries=cfg.subqueries, nearest=nearest, phrase_keep=float(ws.get("phrase_keep", 0.8)))
    if not pairs:
        raise ConfigError(f"catalog {catalog.name!r} yields no warm-start pairs (no training queries with matching collections)")
    t0 = time.perf_counter()
    if cfg.model == "tiny":
        tok = train_word_tokenizer(training_vocabulary(catalog, pairs))
        policy = FanoutPolicy(build_tiny_lm(len(tok), **cfg.tiny), tok, "bare", catalog.domain, cfg.subqueries, gen)
    else:
        policy = load_policy(str(_resolve_model(cfg.model, cache)), cfg.prompt_style, catalog.domain, cfg.subqueries, cfg.gguf_file, gen)
    losses = supervised_warmstart(policy, pairs, steps=steps, batch_size=int(ws.get("batch_size", 32)), lr=float(ws.get("lr", 1e-3)))
    with atomic_dir(folder) as tmp:
        save_policy(policy.model, policy.tokenizer, tmp)
        (tmp / "warmstart.json").write_text(json.dumps({"pairs": len(pairs), "first_loss": losses[0], "last_loss": losses[-1]}))
    _log(f"warm-start: {len(pairs)} pairs, loss {losses[0]:.2f} -> {losses[-1]:.2f} in {time.perf_counter() - t0:.1f}s -> {folder}")
    return policy, folder


def warm_start_dir(data: PreparedData, cfg: PolicyConfig, cache: Path) -> Path:
    """Where the warm-started policy for this config lives (whether or not it exists yet)."""
    from r4t.fanout.warmstart import has_themes

    if has_themes(data.catalog):
        return cache / "policy" / config_hash(data.catalog.fingerprint(), cfg.warmstart_key())
    # Without themes the pairs come from the nearest collection titles, i.e. from the vectors too.
    return cache / "policy" / config_hash(data.catalog.fingerprint(), cfg.warmstart_key(), "nearest-title-pairs", data.vectors_id)


def rl_policy_dir(data: PreparedData, policy_cfg: PolicyConfig, rl_cfg: RLConfig, reward_section: Mapping[str, Any] | None,
                  run_dir: str | Path) -> Path:
    """Where ``run_rl`` puts (or found) the final RL policy for this config, without building anything."""
    cache = Path(run_dir) / "cache"
    steps = int(dict(policy_cfg.warmstart).get("steps", 300))
    start: Path | str = warm_start_dir(data, policy_cfg, cache)
    if policy_cfg.model not in ("tiny",) and steps <= 0:
        start = _resolve_model(policy_cfg.model, cache)
    key = (data.catalog.fingerprint(), data.vectors_id, policy_cfg.cache_key(), rl_cfg.cache_key(), reward_section, rl_cfg.regime)
    current = cache / "rl" / config_hash("start", path_key(start, cache), *key)
    return cached_or_legacy(current, cache / "rl" / config_hash(str(start), *key)) / "final"  # legacy: keyed by the run dir's spelling


def _resolve_model(name: str, cache: Path) -> Path | str:
    if name == "gemma3-270m":
        from r4t.fanout.gemma import gemma3_model_dir

        return gemma3_model_dir(cache)
    return name


def rl_reward(reward_section: Mapping[str, Any] | None, cfg: RLConfig) -> CompositeReward:
    if cfg.regime == "wscr":
        return CompositeReward({"reference_recall": {"weight": 1.0, "depth": cfg.depth}})
    return build_reward(reward_section)


@torch.no_grad()
def evaluate_policy(policy: FanoutPolicy, grounder: FanoutGrounder, reward: CompositeReward, queries: list, seed: int = 0,
                    samples: int = 1) -> dict[str, float]:
    """Mean reward (total and terms) of ``samples`` sampled fan-outs per query; parse failures score the minimum.
    One sample per query on a few dozen queries is noisy (the warm start's own score moves by ~0.03 with the seed
    on the tiny catalog), so ``rl.eval_samples`` averages several."""
    completions = [c for per_query in policy.sample([q.text for q in queries], samples, seed=seed) for c in per_query]
    repeated = [q for q in queries for _ in range(samples)]  # one entry per completion, in sample()'s order
    grounded = grounder.ground(completions, [q.text for q in repeated], [q.qid for q in repeated])
    totals: list[float] = []
    terms: dict[str, list[float]] = {n: [] for n in reward.components}
    for g in grounded:
        if g is None:
            totals.append(reward.min_value)
            for n, r in reward.components.items():
                terms[n].append(r.min_value)
            continue
        out = reward(g.batch)
        totals.append(float(out.total[0]))
        for n in terms:
            terms[n].append(float(out.terms[n][0]))
    return {"reward": float(np.mean(totals)), **{n: float(np.mean(v)) for n, v in terms.items()},
            "parse_failure_rate": float(np.mean([g is None for g in grounded]))}


def trim_metrics(metrics_csv: Path, last_step: int) -> None:
    """Resuming from checkpoint ``last_step`` replays the steps after it: drop their old rows
    so metrics.csv holds each step once."""
    if not metrics_csv.exists():
        return
    with open(metrics_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return
    fields = list(rows[0].keys())
    kept = [r for r in rows if int(float(r["step"])) <= last_step]
    tmp = metrics_csv.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(kept)
    os.replace(tmp, metrics_csv)


def plot_curve(metrics_csv: Path, out_png: Path, evals: dict[str, dict[str, float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(metrics_csv) as fh:
        rows = list(csv.DictReader(fh))
    steps = [int(r["step"]) for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, [float(r["reward"]) for r in rows], label="train reward (mean of G samples)", alpha=0.7)
    window = max(1, len(rows) // 10)
    smooth = np.convolve([float(r["reward"]) for r in rows], np.ones(window) / window, mode="valid")
    ax.plot(steps[window - 1 :], smooth, label=f"train reward, moving mean ({window})")
    for (name, ev), x in zip(evals.items(), (0, steps[-1] if steps else 0)):
        ax.scatter([x], [ev["reward"]], zorder=3, label=f"{name}: held-out {ev['reward']:.3f}")
    ax.set_xlabel("GRPO step")
    ax.set_ylabel("composite reward")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_png, dpi=120)
    plt.close(fig)


def rl_queries(catalog: Catalog, rl_cfg: RLConfig) -> tuple[list[Query], list[Query]]:
    """The RL prompts (training queries of the regime's kind) and the held-out val queries
    the policy is evaluated on; test queries are never among either."""
    kind = "compositional" if rl_cfg.regime == "wscr" else "open"
    train_q, val_q = catalog.queries_for("train", kind), catalog.queries_for("val", kind)[: rl_cfg.eval_queries]
    if not train_q or not val_q:
        raise ConfigError(f"catalog {catalog.name!r} has no {kind} train/val queries for rl.regime={rl_cfg.regime!r}")
    return train_q, val_q


def run_rl(data: PreparedData, policy_cfg: PolicyConfig, rl_cfg: RLConfig, reward_section: Mapping[str, Any] | None, run_dir: str | Path) -> Path:
    """Train (or resume, or reuse) the RL policy; returns the folder of the final policy. The
    caller's random generators are as they were afterwards (trl's trainer seeds them globally)."""
    with caller_rng_preserved():
        return _run_rl(data, policy_cfg, rl_cfg, reward_section, run_dir)


def _run_rl(data: PreparedData, policy_cfg: PolicyConfig, rl_cfg: RLConfig, reward_section: Mapping[str, Any] | None,
            run_dir: str | Path) -> Path:
    final = rl_policy_dir(data, policy_cfg, rl_cfg, reward_section, run_dir)
    if (final / "config.json").exists():  # checked before trl, datasets and the warm start load: reuse takes no time
        _log(f"RL policy: reusing {final}")
        return final
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from r4t.fanout.grpo import SoftGRPOTrainer
    from r4t.fanout.trl_callbacks import CSVMetricsCallback, FailpointCallback
    from r4t.rewards.trl_adapter import trl_reward_functions

    rank, world = init_from_env()
    main = rank == 0
    cache = Path(run_dir) / "cache"
    with main_process_first(rank, world):  # rank 0 trains or reuses the warm start; the others then read it
        policy, start_dir = warm_started_policy(data, policy_cfg, cache)
    if policy_cfg.constrained:  # RL samples (and is evaluated on) exactly the fan-outs synthesis and serving decode
        policy.constrain(policy_cfg.min_subqueries)
    reward = rl_reward(reward_section, rl_cfg)
    out = final.parent
    per_device = data_parallel_batch(rl_cfg, world)
    train_q, val_q = rl_queries(data.catalog, rl_cfg)
    grounder = FanoutGrounder(data, max_subqueries=policy_cfg.subqueries, depth=rl_cfg.depth if rl_cfg.regime == "wscr" else 1,
                              served_k=policy_cfg.subqueries if rl_cfg.reward_on == "served" else None, anchor=rl_cfg.anchor,
                              rows_dpp=rl_cfg.alpha if rl_cfg.grounding == "rows_dpp" else None)
    if main:  # evaluation, logs and files are rank 0's; with N processes each trains on 1/N of every step's batch
        before = evaluate_policy(policy, grounder, reward, val_q, rl_cfg.seed, rl_cfg.eval_samples)
        _log(f"warm-start policy on {len(val_q)} val queries"
             + (f" x {rl_cfg.eval_samples} samples" if rl_cfg.eval_samples > 1 else "") + ": " + ", ".join(f"{k} {v:.3f}" for k, v in before.items())
             + (f"; training on {world} processes, {per_device} completions each per step" if world > 1 else ""))

    funcs, weights, shared = trl_reward_functions(reward, grounder, rl_cfg.unparsable)
    dataset = Dataset.from_dict({"prompt": [policy.prompt(q.text) for q in train_q], "query": [q.text for q in train_q], "qid": [q.qid for q in train_q]})
    args = GRPOConfig(
        output_dir=str(out), max_steps=rl_cfg.steps, per_device_train_batch_size=per_device,
        num_generations=rl_cfg.num_generations, num_iterations=rl_cfg.num_iterations, learning_rate=rl_cfg.learning_rate,
        temperature=rl_cfg.temperature, max_completion_length=policy_cfg.max_new_tokens, epsilon=rl_cfg.epsilon,
        beta=0.0, reward_weights=weights, loss_type="grpo" if rl_cfg.loss == "soft_grpo" else rl_cfg.loss, scale_rewards=rl_cfg.scale_rewards, bf16=rl_cfg.precision == "bf16-mixed", fp16=False, gradient_checkpointing=False,
        use_cpu=not torch.cuda.is_available(), report_to=[], logging_steps=1, save_strategy="steps",
        save_steps=rl_cfg.save_steps, save_total_limit=2, seed=rl_cfg.seed, adam_beta1=0.9, adam_beta2=0.95,
    )
    trainer_cls = SoftGRPOTrainer if rl_cfg.loss == "soft_grpo" else GRPOTrainer
    extra: dict[str, Any] = {"beta_ratio": rl_cfg.beta_ratio, "beta_nll": rl_cfg.beta_nll} if rl_cfg.loss == "soft_grpo" else {}
    metrics_csv = out / "metrics.csv"
    if rl_cfg.lora:
        from peft import LoraConfig

        lora = dict(rl_cfg.lora)
        extra["peft_config"] = LoraConfig(r=int(lora.get("r", 16)), lora_alpha=int(lora.get("alpha", 32)),
                                          target_modules=lora.get("target_modules", "all-linear"), task_type="CAUSAL_LM")
    trainer = trainer_cls(model=policy.model, reward_funcs=list[Any](funcs), args=args, train_dataset=dataset,
                          processing_class=policy.tokenizer, callbacks=[CSVMetricsCallback(metrics_csv, shared), FailpointCallback()], **extra)
    policy.model = cast(Any, trainer.model)  # with LoRA this is the peft-wrapped model that trains
    resume = any(out.glob("checkpoint-*"))
    if resume and main:
        last_step = max(int(p.name.split("-")[1]) for p in out.glob("checkpoint-*") if p.name.split("-")[1].isdigit())
        _log(f"resuming from the newest checkpoint in {out} (step {last_step})")
        trim_metrics(metrics_csv, last_step)
    elif main and metrics_csv.exists():
        metrics_csv.unlink()  # a fresh start: drop rows of a run that never checkpointed
    barrier(world)  # no rank starts while rank 0 still edits metrics.csv
    t0 = time.perf_counter()
    with constrained_generation(policy.model, policy.format):
        trainer.train(resume_from_checkpoint=True if resume else None)
    if not main:
        barrier(world)  # wait for rank 0 to save the final policy
        return final
    _log(f"{rl_cfg.loss}: {rl_cfg.steps} steps in {time.perf_counter() - t0:.1f}s; parse failures {shared.parse_failure_rate:.1%}"
         + (" (rank 0's completions)" if world > 1 else ""))
    # no RL steps: the policy is the warm start, and the seeded evaluation would repeat `before` exactly
    after = before if rl_cfg.steps == 0 else evaluate_policy(policy, grounder, reward, val_q, rl_cfg.seed, rl_cfg.eval_samples)
    _log("RL policy on the same val queries: " + ", ".join(f"{k} {v:.3f}" for k, v in after.items()))
    summary = {"warm_start": before, "rl": after, "steps": rl_cfg.steps, "loss": rl_cfg.loss, "regime": rl_cfg.regime, "val_queries": len(val_q),
               "eval_samples": rl_cfg.eval_samples}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    if metrics_csv.exists():
        plot_curve(metrics_csv, out / "curve.png", {"warm-start": before, "RL": after})
    merge = getattr(policy.model, "merge_and_unload", None)  # a peft-wrapped model: fold the LoRA adapters in
    model = merge() if callable(merge) else policy.model
    with atomic_dir(final) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        policy.tokenizer.save_pretrained(tmp)
        (tmp / "r4t_policy.json").write_text(json.dumps({"prompt_style": policy.prompt_style, "subqueries": policy.subqueries, "domain": policy.domain,
                                                              "constrained": policy.constrained, "min_subqueries": policy.min_subqueries}))
    _log(f"saved {final}")
    barrier(world)
    return final


def data_parallel_batch(rl_cfg: RLConfig, world: int) -> int:
    """Completions per process per step: the step's batch (prompts_per_step x num_generations)
    split evenly over ``world`` processes, so N processes train on the batch one would."""
    total = rl_cfg.prompts_per_step * rl_cfg.num_generations
    if total % world:
        raise ConfigError(f"rl.prompts_per_step x rl.num_generations = {total} completions per step do not split evenly over "
                          f"{world} processes; choose prompts_per_step so that the product is a multiple of {world}")
    return total // world
