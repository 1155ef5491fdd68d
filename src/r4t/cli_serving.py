"""`r4t export` and `r4t serve`: a self-contained retriever artifact, and the HTTP server over it."""

from __future__ import annotations

import time
from typing import Any

from r4t.cli import _stage_config, config_set_size, json_spec
from r4t.errors import ConfigError


def default_spec(name: str, cfg: dict[str, Any], data: Any) -> dict[str, Any]:
    """A bare retriever name, completed from the run directory as the benchmark does it
    (the newest checkpoint of r4t_diffusion / raw_diffusion, the RL-tuned policy for fanout_lm)."""
    from r4t.bench.runner import RL_FANOUT_LABEL, default_entries

    found, missing = default_entries(cfg, data)
    entries = [e for e in found if e.spec["name"] == name and not e.latency_run_only]
    if name == "fanout_lm":  # the RL-tuned policy, never the warm-start one in its place
        entries = [e for e in entries if e.label == RL_FANOUT_LABEL]
    if entries:
        return dict(entries[0].spec)
    why = next((line for line in missing if line.startswith("fanout_lm (RL-tuned)" if name == "fanout_lm" else name)), None)
    if why and name in ("r4t_diffusion", "raw_diffusion", "fanout_lm", "best_of_n"):
        raise ConfigError(f"--retriever {name}: {why.split(': ', 1)[-1]} (or give a JSON spec naming the file)")
    return {"name": name}


def export_command(args: Any, rest: list[str]) -> int:
    from r4t.data.prepare import DataConfig, prepare_data
    from r4t.retrievers import retrievers
    from r4t.serving.artifact import export_retriever

    cfg = _stage_config(args)
    spec = json_spec(args.retriever, "--retriever")
    retrievers.get(spec if isinstance(spec, str) else str(spec.get("name")))  # an unknown name fails with the valid ones listed
    data = prepare_data(DataConfig.from_mapping(cfg), quiet=True)
    if isinstance(spec, str):
        spec = default_spec(spec, cfg, data)
    problems = retrievers.validate(spec, "--retriever", provided=("data",))
    if problems:
        raise ConfigError(problems[0])
    t0 = time.perf_counter()
    out = export_retriever(data, spec, args.output, k=config_set_size(cfg, args.set_size), overwrite=args.overwrite)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"[r4t export] {spec['name']} -> {out} ({size / 1e6:.1f} MB, {time.perf_counter() - t0:.1f}s); serve it with `r4t serve {out}`")
    return 0


def serve_command(args: Any, rest: list[str]) -> int:
    """The server runs in its own process (r4t.serving.supervisor), started with the flags given here
    (already checked by the parser)."""
    from r4t.serving.supervisor import supervise

    return supervise(rest)
