"""Reading r4t YAML configs outside LightningCLI, and validating every component spec.

The same YAML drives `r4t fit` (LightningCLI reads model/data/trainer) and the plain
stage commands (which read the top-level catalog/embedder/index/reward sections).
omegaconf is used only to resolve ``${...}`` interpolations.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import yaml
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from r4t.errors import ConfigError

# Top-level keys r4t understands; LightningCLI owns the others it declares.
STAGE_KEYS = {"run_dir", "catalog", "embedder", "index", "reward", "policy", "rl", "synth", "benchmark"}
LIGHTNING_KEYS = {"seed_everything", "trainer", "model", "data", "ckpt_path", "optimizer", "lr_scheduler"}


def load_config(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {path} not found")
    try:
        cfg = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    except (OmegaConfBaseException, ValueError, yaml.YAMLError) as exc:
        first = " ".join(str(exc).split())  # YAML errors span lines: one line naming the file
        raise ConfigError(f"{path}: invalid YAML: {first}") from None
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path}: a config must be a mapping of sections, got {type(cfg).__name__}")
    sections: dict[str, Any] = {str(key): value for key, value in cfg.items()}  # a YAML key may parse as an int or a bool
    unknown = sorted(set(sections) - STAGE_KEYS - LIGHTNING_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key(s) {unknown}; known: {sorted(STAGE_KEYS | LIGHTNING_KEYS)}")
    return sections


def validate_components(cfg: Mapping[str, Any]) -> None:
    """Check every registry spec and every stage section (types and ranges) at once; raise one
    error listing all problems."""
    from r4t.components import all_registries

    regs = all_registries()
    errors: list[str] = []
    if "catalog" in cfg:
        errors += regs["catalogs"].validate(cfg["catalog"], "catalog")
    if "embedder" in cfg:
        errors += regs["embedders"].validate(cfg["embedder"], "embedder")
    model = cfg.get("model") or {}
    model_args = model.get("init_args", model) if isinstance(model, Mapping) else {}
    if isinstance(model_args, Mapping) and "backbone" in model_args:
        errors += regs["backbones"].validate(model_args["backbone"], "model.backbone", provided=("dim", "set_size"))
    reward = cfg.get("reward") or {}
    for name, spec in (reward.get("components") or {}).items() if isinstance(reward, Mapping) else []:
        from r4t.rewards.composite import _weight_and_spec

        try:
            _weight_and_spec(name, spec)  # the weight's type
        except ConfigError as exc:
            errors.append(str(exc))
            continue
        errors += regs["rewards"].validate(reward_spec(name, spec), f"reward.components.{name}")
    index = cfg.get("index") or {}
    if isinstance(index, Mapping) and index.get("nprobe") is not None and "IVF" not in str(index.get("factory", "Flat")):
        errors.append(f"index.nprobe: applies to IVF indexes only; index.factory {index.get('factory', 'Flat')!r} has none")
    run_dir = cfg.get("run_dir")
    if run_dir is not None and (not isinstance(run_dir, str) or (Path(run_dir).exists() and not Path(run_dir).is_dir())):
        errors.append(f"run_dir: {run_dir!r} is not a folder (it is where every stage caches its outputs)")
    from r4t.sections import section_problems
    from r4t.stage_configs import STAGE_SECTIONS

    for key, cls in STAGE_SECTIONS.items():  # every stage's section, before the first stage runs
        errors += section_problems(cls, cfg.get(key), key)
    if errors:
        raise ConfigError("invalid config:\n  " + "\n  ".join(errors))


def reward_spec(name: str, entry: Any) -> dict[str, Any]:
    """A ``reward.components`` entry -> registry spec. ``name: 0.6`` weights the registered
    reward ``name``; ``name: {weight: 0.2, ...args}`` passes args; ``class_path`` works too."""
    entry = dict(entry) if isinstance(entry, Mapping) else {}
    entry.pop("weight", None)
    return entry if "class_path" in entry else {"name": name, **entry}
