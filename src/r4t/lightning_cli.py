"""LightningCLI for r4t, extended only through LightningCLI's documented hooks.

Adds the top-level stage sections (run_dir, catalog, embedder, index, reward) so one
YAML drives every command, links them into the datamodule, and validates every
registry spec before anything is instantiated.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Union

from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningCLI

from r4t.config import validate_components
from r4t.data.datamodules import CuratedSetDataModule
from r4t.diffusion.checkpoint import checked_hparams, read_checkpoint
from r4t.diffusion.module import SetDiffusion
from r4t.errors import ConfigError, DataError
from r4t.runs import atomic_write_json, cached_or_legacy, config_hash

# Typed (not Any) so that dotted overrides merge into the YAML mapping with YAML-typed values:
# `--model.backbone.width 128`, `--synth.samples_per_query 8`, `--index.nprobe 32`.
Spec = Union[str, dict[str, Any]]  # a registry name or a mapping
Section = dict[str, Any]


class R4TLightningCLI(LightningCLI):
    def __init__(self, args: list[str] | None = None) -> None:
        super().__init__(
            model_class=SetDiffusion,
            datamodule_class=CuratedSetDataModule,
            subclass_mode_data=True,
            args=args,
            parser_kwargs={"parser_mode": "omegaconf"},
            save_config_kwargs={"overwrite": True},
        )

    def add_arguments_to_parser(self, parser: Any) -> None:
        parser.add_argument("--run_dir", type=str, default="runs/default", help="where every stage caches its outputs")
        parser.add_argument("--catalog", type=Spec, default="music", help="catalog spec (name or mapping)")
        parser.add_argument("--embedder", type=Spec, default="minilm", help="embedder spec (name or mapping)")
        parser.add_argument("--index", type=Section, default={}, help="CatalogIndex settings (factory, metric, nprobe, use_gpu)")
        parser.add_argument("--reward", type=Section, default={}, help="reward section (components and weights)")
        parser.add_argument("--policy", type=Section, default={}, help="fan-out policy section (read by r4t rl)")
        parser.add_argument("--rl", type=Section, default={}, help="RL section (read by r4t rl)")
        parser.add_argument("--synth", type=Section, default={}, help="synthesis section (read by r4t synthesize and ShardDataModule)")
        parser.add_argument("--benchmark", type=Section, default={}, help="benchmark section (read by r4t benchmark; not part of a fit)")
        for key in ("run_dir", "catalog", "embedder", "index", "reward", "policy", "rl", "synth"):
            parser.link_arguments(key, f"data.init_args.{key}")
        # Logs and checkpoints follow run_dir, including a --run_dir given on the command line.
        parser.link_arguments("run_dir", "trainer.default_root_dir", compute_fn=_diffusion_dir)

    def parse_arguments(self, parser: Any, args: Any) -> None:
        """Check a ``--ckpt_path`` before LightningCLI reads it: LightningCLI merges a checkpoint's
        hyper-parameters into the model config (and Lightning unpickles remote files fully), so a
        crafted file could name any class. Only local files whose hyper-parameters name
        registered r4t components get through; they are then loaded with ``weights_only=True``."""
        super().parse_arguments(parser, args)
        sub = self.config.get("subcommand")
        cfg = self.config.get(sub) if sub else None
        if cfg is None:
            return
        if cfg.get("weights_only") is False:
            raise ConfigError("--weights_only false is refused: r4t loads checkpoints with weights_only=True only")
        if cfg.get("ckpt_path"):
            ckpt = read_checkpoint(cfg["ckpt_path"])
            checked_hparams(ckpt.get("hyper_parameters", {}), str(cfg["ckpt_path"]))
        if "weights_only" in cfg:
            cfg["weights_only"] = True

    def before_instantiate_classes(self) -> None:
        cfg = self.config[self.subcommand] if self.subcommand else self.config
        validate_components(_plain(cfg))

    def before_fit(self) -> None:
        """Build the stages a shard fit trains on (``ensure_stages``), then make `r4t fit` resumable: checkpoints go to a folder keyed by the fit config, with
        a `last.ckpt`; rerunning the same command resumes from it (a finished run returns at
        once), and any change to the config starts a fresh folder. An explicit
        `--ckpt_path` always wins."""
        self.ensure_stages("fit")
        cfg = _plain(self.config["fit"])
        callback = self.trainer.checkpoint_callback
        if not isinstance(callback, ModelCheckpoint):  # --trainer.enable_checkpointing false: nothing to resume from
            return
        checkpoints = Path(cfg["run_dir"]) / "diffusion" / "checkpoints"
        folder = cached_or_legacy(checkpoints / config_hash(_fit_identity(cfg)), checkpoints / config_hash(_fit_identity(cfg, legacy=True)))
        callback.dirpath = str(folder)
        callback.save_last = True
        last = folder / "last.ckpt"
        if self.config_init["fit"].get("ckpt_path") is None and last.exists():
            try:
                read_checkpoint(last)  # a last.ckpt cut short (disk full, copy) would crash deep in Lightning
            except DataError as exc:
                kept = last.with_name(f"last.ckpt.damaged-{int(time.time())}")
                last.rename(kept)
                print(f"[r4t fit] {exc}; kept it as {kept.name} and starting this fit from scratch", flush=True)
            else:
                self.config_init["fit"]["ckpt_path"] = str(last)
                print(f"[r4t fit] resuming from {last}", flush=True)
        if self.trainer.is_global_zero:
            atomic_write_json(folder / "run.json", {"data_class": cfg["data"]["class_path"], "config": _fit_identity(cfg)})


    def before_validate(self) -> None:
        self.ensure_stages("validate")

    def before_test(self) -> None:
        self.ensure_stages("test")

    def ensure_stages(self, command: str) -> None:
        """A datamodule that reads synthesized shards gets them here, before the trainer runs:
        ``Pipeline.ensure("shards")`` builds data, RL policy and shards, each cached.

        Under DDP the trainer's processes must not run trl (it would wait for ranks that are
        waiting for it), so the launching process builds the stages in one child process before
        Lightning starts the others, which then find them cached. Processes that an outside
        launcher started (torchrun, SLURM) cannot elect one builder here: they are told to build
        the stages first with the same launcher (``r4t synthesize``), which uses every process."""
        from r4t.data.datamodules import ShardDataModule
        from r4t.pipeline import Pipeline, StageRun

        dm = self.datamodule
        if not isinstance(dm, ShardDataModule):
            return
        pipeline = Pipeline(dm.stage_sections)
        world = int(self.trainer.world_size)
        if world == 1:
            run = pipeline.ensure("shards")
        elif pipeline.shards_ready():
            run = StageRun(pipeline.shards_dir(), {"RL policy + synthesis": 0.0})
        elif getattr(getattr(self.trainer.strategy, "cluster_environment", None), "creates_processes_externally", True):
            raise ConfigError(f"r4t {command}: this config's RL policy and shards are not built, and the {world} processes were "
                              "started by an outside launcher; build them first with the same launcher "
                              "(e.g. `torchrun --nproc-per-node N -m r4t.cli synthesize -c CONFIG`), then run this again")
        else:
            from r4t.synth.stage import build_in_subprocess

            t0 = time.perf_counter()
            build_in_subprocess(dm.stage_sections)
            run = StageRun(pipeline.shards_dir(), {"RL policy + synthesis (child process)": time.perf_counter() - t0})
        dm.data = pipeline.data(quiet=True)  # the datamodule does not load the catalog again
        if os.environ.get("RANK", "0") == "0" and os.environ.get("LOCAL_RANK", "0") == "0":  # once, not once per process
            print(f"[r4t {command}] stage times: {run.report()} (cached stages ~0s); shards at {run.path}", flush=True)


# Bumped when a code change alters what a fit computes from the same config (2: validation no
# longer reseeds the global RNG, so epochs draw fresh noise; 3: the streamed shard loader has a
# length, so the learning-rate schedule spans the fit instead of reaching zero after two steps),
# so an older checkpoint folder is not resumed or taken as finished by the new code.
FIT_CODE_VERSION = 3

# Settings that change how a run is displayed, not what it computes.
_COSMETIC_TRAINER_KEYS = ("enable_progress_bar", "enable_model_summary", "log_every_n_steps", "logger", "callbacks", "default_root_dir")


def _fit_identity(cfg: dict[str, Any], legacy: bool = False) -> dict[str, Any]:
    """What determines a fit's checkpoints: every section except file paths and display settings,
    renamed section keys under their first names (``policy.subqueries`` was ``policy.k``), so a
    config that only renames a key resumes and finds the same checkpoints. ``run_dir`` is left out
    (the folder is inside it: ``runs/music`` and its absolute path are one run); ``legacy`` keeps
    it, as fits keyed before that did."""
    paths = ("config", "ckpt_path", "trainer", "benchmark") + (() if legacy else ("run_dir",))
    ident = {k: v for k, v in cfg.items() if k not in paths}
    ident["trainer"] = {k: v for k, v in (cfg.get("trainer") or {}).items() if k not in _COSMETIC_TRAINER_KEYS}
    data = ident.get("data")
    if isinstance(data, dict) and isinstance(data.get("init_args"), dict):  # the stage sections are linked into the datamodule
        init_args = {k: v for k, v in data["init_args"].items() if legacy or k != "run_dir"}
        ident["data"] = {**data, "init_args": _legacy_sections(init_args)}
    ident = _legacy_sections(ident)
    ident["fit_code_version"] = FIT_CODE_VERSION
    return ident


def _legacy_sections(sections: dict[str, Any]) -> dict[str, Any]:
    """``sections`` with each stage section's renamed keys under their first names."""
    from r4t.sections import legacy_names
    from r4t.stage_configs import STAGE_SECTIONS

    return {k: legacy_names(STAGE_SECTIONS[k], v) if k in STAGE_SECTIONS and isinstance(v, dict) else v for k, v in sections.items()}


def _diffusion_dir(run_dir: str) -> str:
    return f"{run_dir}/diffusion"


def _plain(namespace: Any) -> Any:
    """jsonargparse Namespace -> plain dicts/lists."""
    if hasattr(namespace, "as_dict"):
        return namespace.as_dict()
    return namespace
