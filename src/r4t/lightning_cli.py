"""LightningCLI for r4t, extended only through LightningCLI's documented hooks.

Adds the top-level stage sections (run_dir, catalog, embedder, index, reward) so one
YAML drives every command, links them into the datamodule, and validates every
registry spec before anything is instantiated.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch.cli import LightningCLI

from r4t.config import validate_components
from r4t.data.datamodules import CuratedSetDataModule
from r4t.diffusion.module import SetDiffusion


class R4TLightningCLI(LightningCLI):
    def __init__(self, args: list[str]) -> None:
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
        parser.add_argument("--catalog", type=Any, default="music", help="catalog spec (name or mapping)")
        parser.add_argument("--embedder", type=Any, default="minilm", help="embedder spec (name or mapping)")
        parser.add_argument("--index", type=dict, default={}, help="CatalogIndex settings (factory, metric, nprobe, use_gpu)")
        parser.add_argument("--reward", type=dict, default={}, help="reward section (components and weights)")
        parser.add_argument("--policy", type=dict, default={}, help="fan-out policy section (read by r4t rl)")
        parser.add_argument("--rl", type=dict, default={}, help="RL section (read by r4t rl)")
        parser.add_argument("--synth", type=dict, default={}, help="synthesis section (read by r4t synthesize and ShardDataModule)")
        for key in ("run_dir", "catalog", "embedder", "index", "reward", "policy", "rl", "synth"):
            parser.link_arguments(key, f"data.init_args.{key}")
        # Logs and checkpoints follow run_dir, including a --run_dir given on the command line.
        parser.link_arguments("run_dir", "trainer.default_root_dir", compute_fn=_diffusion_dir)

    def before_instantiate_classes(self) -> None:
        cfg = self.config[self.subcommand] if self.subcommand else self.config
        validate_components(_plain(cfg))


def _diffusion_dir(run_dir: str) -> str:
    return f"{run_dir}/diffusion"


def _plain(namespace: Any) -> Any:
    """jsonargparse Namespace -> plain dicts/lists."""
    if hasattr(namespace, "as_dict"):
        return namespace.as_dict()
    return namespace
