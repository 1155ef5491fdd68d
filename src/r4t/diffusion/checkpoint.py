"""Load a SetDiffusion checkpoint that someone else may have written, without running its code.

``torch.load(weights_only=True)`` stops pickle from building arbitrary objects, but a
Lightning checkpoint also carries *names* that get imported and called:
``LightningModule.load_from_checkpoint`` calls whatever ``_instantiator`` the file names, and
our module builds the backbone spec in its hyper-parameters (a ``class_path`` would import any
module). So r4t never calls ``load_from_checkpoint`` on a file: it reads the file with
``weights_only=True``, accepts only the hyper-parameters ``SetDiffusion`` takes, resolves the
backbone through the registry's trusted path (built-ins and installed plugins, checked as text
before any import), builds the module itself and loads the weights strictly.
"""

from __future__ import annotations

import inspect
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from r4t.diffusion.backbones import backbones
from r4t.errors import ConfigError, DataError
from r4t.registry import _require_plain

# What LightningCLI writes into every module it instantiated; anything else is refused.
LIGHTNING_INSTANTIATOR = "lightning.pytorch.cli.instantiate_module"


def require_local_checkpoint(path: str | Path, what: str = "checkpoint") -> Path:
    """A local, non-empty file, or one line saying why not. Remote paths are refused because
    Lightning loads them with ``weights_only=False`` (full pickle)."""
    text = str(path)
    if "://" in text:
        raise ConfigError(f"{what} {text!r}: only local files are loaded (Lightning unpickles remote checkpoints "
                          "with weights_only=False); download it first")
    p = Path(text)
    if not p.exists():
        raise ConfigError(f"{what} {text!r} not found")
    if p.is_dir():
        raise ConfigError(f"{what} {text!r} is a directory, not a .ckpt file")
    if p.stat().st_size == 0:
        raise DataError(f"{what} {text!r} is empty")
    return p


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The checkpoint's dict, read with ``weights_only=True``; a truncated, text or foreign file
    fails in one line naming it."""
    p = require_local_checkpoint(path)
    try:
        ckpt = torch.load(p, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{p}: refused: not a checkpoint of tensors and plain data ({first})") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{p}: not a readable torch checkpoint (truncated or another format): {first}") from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise DataError(f"{p}: not a Lightning checkpoint (no state_dict)")
    return ckpt


def checked_hparams(hparams: Any, where: str) -> dict[str, Any]:
    """``SetDiffusion``'s arguments from a file, or a ConfigError naming the first problem."""
    from r4t.diffusion.module import SetDiffusion

    if not isinstance(hparams, dict):
        raise DataError(f"{where}: hyper_parameters must be a mapping, got {type(hparams).__name__}")
    hp = dict(hparams)
    instantiator = hp.pop("_instantiator", None)
    if instantiator not in (None, LIGHTNING_INSTANTIATOR):
        raise ConfigError(f"{where}: refusing _instantiator {instantiator!r} (only {LIGHTNING_INSTANTIATOR!r} is accepted)")
    accepted = set(inspect.signature(SetDiffusion.__init__).parameters) - {"self"}
    unknown = sorted(set(hp) - accepted)
    if unknown:
        raise ConfigError(f"{where}: unknown hyper-parameters {unknown} (SetDiffusion takes {', '.join(sorted(accepted))})")
    backbones.resolve_trusted(hp.get("backbone", "coherent_transformer"), where=f"{where}: backbone")
    for key, value in hp.items():
        if key != "backbone":
            _require_plain(value, f"{where}: {key}")
    return hp


def load_set_diffusion(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """A trained SetDiffusion from a ``.ckpt``, built only from registered components."""
    from r4t.diffusion.module import SetDiffusion

    ckpt = read_checkpoint(path, map_location)
    hp = checked_hparams(ckpt.get("hyper_parameters", {}), str(path))
    if hp.get("dim") is None or hp.get("sigma_data") is None:
        raise DataError(f"{path}: checkpoint has no trained denoiser (dim/sigma_data missing)")
    module = SetDiffusion(**hp)
    missing, unexpected = module.load_state_dict(ckpt["state_dict"], strict=False)
    if missing or unexpected:
        raise DataError(f"{path}: weights do not match its hyper-parameters (missing {sorted(missing)[:3]}, "
                        f"unexpected {sorted(unexpected)[:3]})")
    trained_on = ckpt.get("r4t_data")
    module.trained_on = trained_on if isinstance(trained_on, dict) else None  # checked against the data by the retriever
    return module.to(map_location)


# ---------------------------------------------------------------------- exported denoisers
DENOISER_CONFIG = "denoiser.json"
DENOISER_WEIGHTS = "denoiser.safetensors"
DENOISER_KEYS = ("backbone", "set_size", "dim", "sigma_data", "sigma_min", "sigma_max", "query_anchor")


def is_denoiser_folder(path: str | Path) -> bool:
    p = Path(path)
    return p.is_dir() and (p / DENOISER_CONFIG).exists()


def save_denoiser_folder(denoiser: Any, config: dict[str, Any], folder: str | Path) -> Path:
    """The serving half of a checkpoint: its sampling settings as JSON and the (EMA) weights as
    safetensors, which hold tensors only, so loading them runs no code and unpickles nothing."""
    import json

    from safetensors.torch import save_file

    missing = [k for k in DENOISER_KEYS if k not in config]
    if missing:
        raise ConfigError(f"denoiser config lacks {missing}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous().clone() for k, v in denoiser.state_dict().items()}
    save_file(state, str(folder / DENOISER_WEIGHTS))
    (folder / DENOISER_CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return folder


def load_denoiser_folder(folder: str | Path, map_location: str | torch.device = "cpu") -> tuple[Any, dict[str, Any]]:
    """(SetDenoiser, config) from ``save_denoiser_folder``'s output: the backbone is resolved
    through the registry's trusted path and the weights must match its shapes exactly."""
    import json

    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from r4t.diffusion.denoiser import SetDenoiser

    folder = Path(folder)
    where = str(folder / DENOISER_CONFIG)
    try:
        config = json.loads((folder / DENOISER_CONFIG).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{where}: not a readable denoiser config ({exc})") from None
    if not isinstance(config, dict) or any(k not in config for k in DENOISER_KEYS):
        raise DataError(f"{where}: a denoiser config needs {list(DENOISER_KEYS)}")
    factory, kwargs = backbones.resolve_trusted(config["backbone"], where=f"{where}: backbone")
    for key in set(config) - {"backbone"}:
        _require_plain(config[key], f"{where}: {key}")
    dim, set_size = config["dim"], config["set_size"]
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in (dim, set_size)):
        raise DataError(f"{where}: dim and set_size must be positive integers, got {dim!r} and {set_size!r}")
    net = factory(**{**kwargs, "dim": dim, "set_size": set_size})
    denoiser = SetDenoiser(net, float(config["sigma_data"]), float(config["query_anchor"]))
    try:
        state = load_file(str(folder / DENOISER_WEIGHTS), device="cpu")
    except (OSError, SafetensorError) as exc:
        raise DataError(f"{folder / DENOISER_WEIGHTS}: not a readable safetensors file ({str(exc).splitlines()[0]})") from None
    try:
        denoiser.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise DataError(f"{folder / DENOISER_WEIGHTS}: weights do not match {where} ({str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else exc})") from None
    return denoiser.to(map_location).eval(), config
