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
