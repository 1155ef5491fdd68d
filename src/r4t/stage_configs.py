"""The stage sections of a config (``policy``, ``rl``, ``synth``) as typed, ranged dataclasses.

They live in this light module (no torch, trl or transformers imports) so that every command
can check all of them before any stage starts (``r4t.config.validate_components``); the
stages themselves import them from here. Field names are part of each stage's cache key
(``config_hash(asdict(...))``), so a renamed field is listed in its class's ``RENAMED`` (old name ->
new name): configs may still use the old name, and cache keys keep using it (``legacy_names``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from r4t.errors import ConfigError
from r4t.sections import legacy_names, option


def cache_key(section: Any, added: dict[str, Any]) -> dict[str, Any]:
    """A section's fields as its cache key. ``added`` maps fields added after caches existed to
    their defaults; such a field enters the key only when set away from it, so older caches stay valid."""
    key = legacy_names(type(section), asdict(section))
    for name, default in added.items():
        if key.get(name) == default:
            key.pop(name)
    return key


@dataclass
class PolicyConfig:
    model: str = "tiny"                 # "tiny" (built here), "gemma3-270m" (the gemma extra), a local folder or a hub id
    prompt_style: str = option("bare", choices=("bare", "instruction"))  # instruction: instruction-tuned LMs
    gguf_file: str | None = None
    subqueries: int = option(10, min=1)  # sub-queries per fan-out (at most; the paper's k); was `k`
    max_new_tokens: int = option(160, min=1)
    tiny: dict[str, int] = option(default_factory=lambda: {"layers": 4, "width": 128, "heads": 4})
    warmstart: dict[str, Any] = option(default_factory=lambda: {"steps": 300, "batch_size": 32, "lr": 1e-3})
    # Decode only well-formed fan-outs (r4t.fanout.constrained) in RL, synthesis and serving: no
    # parse failures, so RL's advantages rank content rather than format. Built-in tiny policy only.
    constrained: bool = False
    min_subqueries: int = option(1, min=1)  # constrained: close the array only after this many sub-queries

    # `k` named both this and the set size; `k` now means only the set size of `retrieve(queries, k)`.
    RENAMED: ClassVar[dict[str, str]] = {"k": "subqueries"}

    def cache_key(self) -> dict[str, Any]:
        """The fields that name the RL cache, under their first names (fields added later only when set)."""
        return cache_key(self, ADDED_POLICY_FIELDS)

    def warmstart_key(self) -> dict[str, Any]:
        """The fields that name the warm-start cache: decoding settings do not change what the warm start trains."""
        return {k: v for k, v in self.cache_key().items() if k not in ADDED_POLICY_FIELDS}

    def __post_init__(self) -> None:
        """``warmstart`` stays a plain mapping (its keys name the warm-start cache); its keys and ranges are checked here."""
        if self.min_subqueries > self.subqueries:
            raise ConfigError(f"policy.min_subqueries: must be <= policy.subqueries ({self.subqueries}), got {self.min_subqueries}")
        unknown = sorted(set(self.warmstart) - set(WARMSTART_KEYS))
        if unknown:
            raise ConfigError(f"policy.warmstart: unknown key(s) {unknown}; known: {', '.join(WARMSTART_KEYS)}")
        keep = self.warmstart.get("phrase_keep", 0.8)
        if isinstance(keep, bool) or not isinstance(keep, (int, float)) or not 0.0 < keep <= 1.0:
            raise ConfigError(f"policy.warmstart.phrase_keep: must be a number in (0, 1], got {keep!r}")


ADDED_POLICY_FIELDS = {"constrained": False, "min_subqueries": 1}

# steps, batch_size, lr: the supervised warm start. phrase_keep: the chance that each attribute of a
# curated member enters its target sub-query (generated catalogs; 1.0 names them all).
WARMSTART_KEYS = ("steps", "batch_size", "lr", "phrase_keep")


@dataclass
class RLConfig:
    # soft_grpo: the paper's objective (r4t.fanout.grpo); the others are trl's loss_type: grpo normalises each
    # completion by its own length (a known bias toward short outputs), dr_grpo by a constant (max_new_tokens), dapo by
    # the batch's tokens.
    loss: str = option("soft_grpo", choices=("soft_grpo", "grpo", "dr_grpo", "dapo"))
    regime: str = option("oar", choices=("oar", "wscr"))  # oar: composite reward on open queries; wscr: reference recall
    steps: int = option(100, min=0)     # 0: no RL (the warm-start policy is the teacher)
    prompts_per_step: int = option(8, min=1)
    num_generations: int = option(8, min=2)   # G: a group needs two completions to have an advantage
    num_iterations: int = option(2, min=1)    # updates per generation batch (makes Soft-GRPO's terms act)
    learning_rate: float = option(5e-5, min=0.0)
    temperature: float = option(0.9, min=0.0)
    epsilon: float = option(0.2, min=0.0)
    beta_ratio: float = option(0.05, min=0.0)
    beta_nll: float = option(0.05, min=0.0)
    depth: int = option(50, min=1)      # WSCR: hits per sub-query for reference recall
    lora: dict[str, Any] | None = None  # e.g. {r: 16, alpha: 32}: train LoRA adapters (peft) instead of all weights
    save_steps: int = option(25, min=1)
    eval_queries: int = option(64, min=0)
    eval_samples: int = option(1, min=1)  # sampled fan-outs per val query in the before/after evaluation (averaged)
    seed: int = 0
    # What the reward scores: each sub-query's top-1 item (the paper's grounding) or the k distinct
    # items the retriever serves (predicts the judge on val: benchmarks/results/reward_vs_judge_*.md).
    reward_on: str = option("subqueries", choices=("subqueries", "served"))
    # An unparsable fan-out: the reward's minimum (teaches the format), or skip (trl: no advantage).
    unparsable: str = option("minimum", choices=("minimum", "skip"))
    # Lightning's names: "bf16-mixed" trains in bfloat16 autocast (GPUs for 4B-class policies; docs/multiprocess.md).
    precision: str = option("32", choices=("32", "bf16-mixed"))
    # trl's scale_rewards: advantages divided by each group's reward std ("group"), the batch's ("batch"), or not
    # at all ("none", the Dr. GRPO paper's choice: removes a per-query difficulty weighting, but within-group spreads
    # of ~0.02 then give ~50x smaller steps at the same learning rate).
    scale_rewards: str = option("group", choices=("group", "batch", "none"))
    # reward_on: served only. The served set the reward scores is the one fanout_lm serves with the same
    # options: each sub-query searched from between it and the query (``anchor``, as synth.anchor), and
    # grounded to the nearest distinct items or by rows_dpp (DPP over the query's top-100, quality
    # exp(alpha max cos(item, sub-query)); ``alpha`` as the benchmark's dpp_alpha).
    anchor: float = option(0.0, min=0.0, max=0.99)
    grounding: str = option("nearest", choices=("nearest", "rows_dpp"))
    alpha: float = option(5.0, min=0.0)

    def __post_init__(self) -> None:
        if self.reward_on != "served" and (self.anchor or self.grounding != "nearest"):
            raise ConfigError("rl.anchor and rl.grounding choose how the served set is grounded: they need rl.reward_on: served")

    def cache_key(self) -> dict[str, Any]:
        """The fields that name the RL cache (fields added later only when set)."""
        return cache_key(self, ADDED_RL_FIELDS)


ADDED_RL_FIELDS = {"reward_on": "subqueries", "unparsable": "minimum", "precision": "32", "scale_rewards": "group", "eval_samples": 1,
                   "anchor": 0.0, "grounding": "nearest", "alpha": 5.0}


@dataclass
class SynthConfig:
    samples_per_query: int = option(128, min=1)   # S (the paper's 128)
    temperature: float = option(0.9, min=0.0)
    set_size: int = option(10, min=1)             # items per synthesized set (the diffusion model's set_size)
    queries_per_shard: int = option(16, min=1)
    max_queries: int | None = option(None, min=1)  # only the first N training queries (quick runs, slow policies)
    filter: str = option("none", choices=("none", "threshold", "top_fraction"))
    filter_value: float | None = None
    seed: int = 0
    # Prompts per generate() call: several queries' fan-outs decode together (up to this many
    # prompts). None: each query's samples_per_query fan-outs alone, in calls of 64 (as before).
    generation_batch: int | None = option(None, min=1)
    # Search each sub-query from between it and the query (fanout_lm's ``anchor``; < 1).
    anchor: float = option(0.0, min=0.0, max=0.99)
    # What a sample's target rows are: each sub-query's top-1 item (may repeat), the set_size
    # distinct items the teacher's fan-out serves (fanout_lm's exact grounding), or ``served_dpp``:
    # the set_size items DPP selects (quality exp(pool_alpha cos(item, query))) from the union
    # of every sub-query's top-pool_depth items: the teacher proposes, the set objective picks.
    target: str = option("top1", choices=("top1", "served", "served_dpp"))
    pool_depth: int = option(20, min=1)       # served_dpp: hits per sub-query in the pool
    pool_alpha: float = option(5.0, min=0.0)  # served_dpp: DPP's quality exponent (the ``dpp`` retriever's alpha)

    def cache_key(self) -> dict[str, Any]:
        """The fields that name the shard cache (fields added later only when set)."""
        return cache_key(self, ADDED_SYNTH_FIELDS)


ADDED_SYNTH_FIELDS = {"generation_batch": None, "anchor": 0.0, "target": "top1", "pool_depth": 20, "pool_alpha": 5.0}


STAGE_SECTIONS: dict[str, type] = {"policy": PolicyConfig, "rl": RLConfig, "synth": SynthConfig}
