"""The `r4t` command.

fit/validate/test/predict go through LightningCLI (``-c``, ``--print_config``,
``--trainer.*``, class_path/init_args), extended only at its documented hooks. Every
other command is a subcommand of the one jsonargparse parser in ``r4t.cli_parser`` (types,
ranges, ``--help``, ``--print_config``) and reads the same YAML sections, checked
(``r4t.stage_configs``). Errors r4t raises on purpose print as one line, exit code 2.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Callable, Sequence

from r4t.errors import ConfigError, R4TError

LIGHTNING_COMMANDS = ("fit", "validate", "test", "predict")
USAGE = """usage: r4t COMMAND [options]

commands:
  fit        train the set-diffusion retriever (LightningCLI; -c CONFIG, --print_config, --trainer.*)
  validate   validate a checkpoint (LightningCLI)
  test       test a checkpoint (LightningCLI)
  predict    predict with a checkpoint (LightningCLI)
  init       write a config for your own catalog: r4t init --items ITEMS --collections COLLECTIONS -o CONFIG
  catalog    r4t catalog validate -c CONFIG: load and check the catalog, print a summary (exit 2 on problems)
  data       build the catalog, embeddings and faiss indexes for a config (cached)
  rl         stage (i): warm-start the fan-out policy and train it with GRPO / Soft-GRPO (cached, resumable)
  synthesize stage (ii): the RL policy writes (query, set) webdataset shards (cached, resumable; torchrun for N processes)
  retrieve   print the set a retriever returns for a query
  export     write a self-contained retriever artifact (weights as safetensors, items, faiss index)
  serve      serve an exported retriever over HTTP with dynamic batching (LitServe; pip install "r4t[serve]")
  benchmark  set quality (with 95% CIs) and fan-out latency of every retriever -> registry/ records
  leaderboard  render registry/LEADERBOARD.md and plots from the records (--check validates them)
  list       list registered components: r4t list [KIND]

r4t COMMAND --help shows the options of one command.
"""


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    command, rest = argv[0], argv[1:]
    try:
        if command in LIGHTNING_COMMANDS:
            return _lightning(command, rest)
        from r4t.cli_parser import BUILDERS, parse

        if command not in BUILDERS:
            print(f"r4t: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
            return 2
        try:
            _, args = parse(argv)  # every flag's type and range checked here, before any stage starts
        except SystemExit as exc:  # --help
            return int(exc.code or 0)
        options = args.validate if command == "catalog" else args
        if getattr(options, "print_config", False):
            return print_stage_config(command, options)
        return _handler(command)(args, rest)
    except R4TError as exc:
        print(f"r4t {command}: error: {exc}", file=sys.stderr)
        return 2


def _handler(command: str) -> Callable[[Any, list[str]], int]:
    """The function that runs ``command`` with its parsed options (and its raw flags, for the
    commands that record or re-run them)."""
    if command in ("catalog", "init"):
        from r4t import cli_catalog

        return cli_catalog.catalog_command if command == "catalog" else cli_catalog.init_command
    if command in ("export", "serve"):
        from r4t import cli_serving

        return cli_serving.export_command if command == "export" else cli_serving.serve_command
    return {"data": _data, "rl": _rl, "synthesize": _synthesize, "retrieve": _retrieve, "benchmark": _benchmark,
            "leaderboard": _leaderboard, "list": _list}[command]


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


# ---------------------------------------------------------------------- lightning
def _lightning(command: str, rest: list[str]) -> int:
    from r4t.lightning_cli import R4TLightningCLI

    t0 = time.perf_counter()
    saved_argv = sys.argv
    # LightningCLI parses sys.argv[1:]; it must be exactly this command line, because Lightning's
    # DDP launcher starts the other ranks by re-running exactly sys.argv.
    sys.argv = [saved_argv[0] if saved_argv else "r4t", command, *rest]
    try:
        R4TLightningCLI(args=None)  # parses sys.argv[1:], set above
    except SystemExit as exc:  # argparse/--print_config/--help exit through here
        return int(exc.code or 0)
    except ValueError as exc:  # jsonargparse wraps a component's own error (e.g. a datamodule's ConfigError)
        cause = _r4t_cause(exc)
        if cause is None:
            raise
        raise cause from None
    finally:
        sys.argv = saved_argv
    print(f"[r4t {command}] done in {time.perf_counter() - t0:.1f}s")
    return 0


def _r4t_cause(exc: BaseException) -> R4TError | None:
    """The R4TError somewhere in ``exc``'s cause/context chain, if any."""
    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, R4TError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


# ---------------------------------------------------------------------- stage commands
# The YAML sections each stage command reads: `--print_config` shows these, checked.
COMMAND_SECTIONS: dict[str, tuple[str, ...]] = {
    "catalog": ("catalog",),
    "data": ("catalog", "embedder", "index"),
    "rl": ("catalog", "embedder", "index", "reward", "policy", "rl"),
    "synthesize": ("catalog", "embedder", "index", "reward", "policy", "rl", "synth"),
    "retrieve": ("catalog", "embedder", "index", "model"),
    "export": ("catalog", "embedder", "index", "model"),
    "benchmark": ("catalog", "embedder", "index", "reward", "policy", "rl", "synth", "model", "benchmark"),
}


def _stage_config(args: Any, validate: bool = True) -> dict[str, Any]:
    """The YAML of ``-c`` with ``--run_dir`` applied; every component spec checked up front."""
    from r4t.config import load_config, validate_components

    cfg = load_config(args.config)
    if args.run_dir:
        cfg["run_dir"] = args.run_dir
    if validate:
        validate_components(cfg)
    return cfg


def print_stage_config(command: str, args: Any) -> int:
    """``r4t COMMAND -c CONFIG --print_config``: the sections COMMAND reads, after every check, with
    the typed stage sections' defaults filled in (what will run, not only what the file says)."""
    import dataclasses

    import yaml

    from r4t.sections import checked_section
    from r4t.stage_configs import STAGE_SECTIONS

    cfg = _stage_config(args)
    shown: dict[str, Any] = {"run_dir": cfg.get("run_dir")}
    for key in COMMAND_SECTIONS[command]:
        if key in STAGE_SECTIONS:
            shown[key] = dataclasses.asdict(checked_section(STAGE_SECTIONS[key], cfg.get(key), key))
        elif cfg.get(key) is not None:
            shown[key] = cfg[key]
    print(yaml.safe_dump(shown, sort_keys=False, default_flow_style=False), end="")
    return 0


def config_set_size(cfg: dict[str, Any], given: int | None = None) -> int:
    """``--set_size`` when given, else the set size the config trains for (``model.set_size``, else 10)."""
    if given is not None:
        return given
    size = (cfg.get("model") or {}).get("set_size", 10)
    return size if isinstance(size, int) and not isinstance(size, bool) and size >= 1 else 10


def json_spec(text: str, flag: str) -> Any:
    """A registry name, or a JSON object spec; malformed JSON fails in one line naming the flag."""
    if not text.lstrip().startswith("{"):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{flag}: invalid JSON ({exc.msg} at character {exc.pos}): {text}") from None


def _data(args: Any, rest: list[str]) -> int:
    from r4t.pipeline import Pipeline

    cfg = _stage_config(args)
    t0 = time.perf_counter()
    data = Pipeline(cfg).data()
    print(f"[r4t data] ready in {time.perf_counter() - t0:.1f}s: {len(data.catalog)} items, "
          f"{len(data.catalog.collections)} collections, {len(data.catalog.queries)} queries, dim {data.item_emb.shape[1]}")
    for name, path in data.paths.items():
        print(f"  {name:<10} {path}")
    return 0


# ---------------------------------------------------------------------- rl
def _rl(args: Any, rest: list[str]) -> int:
    from r4t.distributed import init_from_env
    from r4t.pipeline import Pipeline

    pipeline = Pipeline(_stage_config(args))
    if args.steps is not None:
        pipeline = pipeline.with_rl_steps(args.steps)
    t0 = time.perf_counter()
    rank, world = init_from_env()  # torchrun / accelerate launch: N processes, one policy
    run = pipeline.ensure("rl", rank=rank, world=world, group=world > 1)
    if rank == 0:
        print(f"[r4t rl] done in {time.perf_counter() - t0:.1f}s on {world} process(es) ({run.report()}): policy at {run.path}")
    return 0


# ---------------------------------------------------------------------- synthesize
def _synthesize(args: Any, rest: list[str]) -> int:
    from r4t.distributed import init_from_env
    from r4t.pipeline import Pipeline

    manual = args.rank is not None or args.world_size is not None
    if manual:
        rank, world = args.rank or 0, args.world_size or 1
        if not 0 <= rank < world:
            raise ConfigError(f"--rank must be in [0, --world_size), got {rank} of {world}")
    else:  # a launcher's process group: RL trains on all ranks, rank 0 writes the manifest after every rank
        rank, world = init_from_env()
    pipeline = Pipeline(_stage_config(args))
    t0 = time.perf_counter()
    run = pipeline.ensure("shards", rank=rank, world=world, group=not manual and world > 1)
    print(f"[r4t synthesize] rank {rank}/{world} done in {time.perf_counter() - t0:.1f}s ({run.report()}): {run.path}")
    return 0


# ---------------------------------------------------------------------- retrieve
def _retrieve(args: Any, rest: list[str]) -> int:
    from r4t.data.prepare import DataConfig, prepare_data
    from r4t.retrievers import retrievers

    cfg = _stage_config(args, validate=False)
    if args.retriever:
        spec = json_spec(args.retriever, "--retriever")
    elif args.ckpt:
        spec = {"name": "r4t_diffusion", "checkpoint": args.ckpt}
    else:
        raise ConfigError("give --ckpt (a diffusion checkpoint) or --retriever")
    set_size = config_set_size(cfg, args.set_size)
    problems = retrievers.validate(spec, "--retriever", provided=("data",))  # before any data is built
    if problems:
        raise ConfigError(problems[0])
    data = prepare_data(DataConfig.from_mapping(cfg), quiet=True)
    retriever = retrievers.build(spec, data=data)
    index = {item_id: i for i, item_id in enumerate(data.catalog.item_ids)}
    for query, items in zip(args.query, retriever.retrieve(args.query, set_size)):
        print(f"query: {query}")
        for n, item_id in enumerate(items, 1):
            print(f"  {n:2d}. {item_id}  {data.catalog.item_texts[index[item_id]]}")
    return 0


# ---------------------------------------------------------------------- benchmark
def _benchmark(args: Any, rest: list[str]) -> int:
    import shlex

    from r4t.bench.latency import LatencyProtocol
    from r4t.bench.runner import default_entries, parse_entry, run_benchmark
    from r4t.data.prepare import DataConfig, prepare_data

    cfg = _stage_config(args)
    data = prepare_data(DataConfig.from_mapping(cfg), quiet=True)
    missing: list[str] = []
    if args.retrievers:
        entries = [parse_entry(r) for r in args.retrievers]
    else:
        entries, missing = default_entries(cfg, data)
    if args.skip:
        from r4t.retrievers import retrievers

        for name in args.skip:
            retrievers.get(name)  # an unknown name fails with the valid ones listed
        entries = [e for e in entries if e.name not in set(args.skip)]
    for line in missing:
        print(f"[r4t benchmark] skipping {line}")
    protocol = LatencyProtocol(batch_sizes=args.batch_sizes, warmup=args.warmup, repeats=args.repeats, min_repeats=args.min_repeats,
                               budget_s=args.budget_s, max_call_s=args.max_call_s, k=config_set_size(cfg, args.set_size))
    role = args.role_attribute or ("category" if data.catalog.domain == "fashion" else "facet")
    t0 = time.perf_counter()
    paths = run_benchmark(cfg, data, entries, protocol, registry=args.registry, split=args.split, device=args.device,
                          max_queries=args.max_queries, quality=not args.no_quality, latency=not args.no_latency,
                          seed=int(cfg.get("seed_everything", 0) or 0), command="r4t benchmark " + shlex.join(rest),
                          role_attribute=role, wscr_depth=args.wscr_depth)
    print(f"[r4t benchmark] {len(paths)} records in {time.perf_counter() - t0:.1f}s:")
    for path in paths:
        print(f"  {path}")
    return render_leaderboard(args.registry) if args.leaderboard else 0


def _leaderboard(args: Any, rest: list[str]) -> int:
    return render_leaderboard(args.registry, check=args.check, html=args.html)


def render_leaderboard(registry: str, check: bool = False, html: bool = False) -> int:
    """Validate every record under ``registry``; then (unless ``check``) render LEADERBOARD.md from them."""
    from r4t.bench.leaderboard import build_leaderboard
    from r4t.bench.records import check_registry

    count, problems = check_registry(registry)
    for problem in problems:
        print(f"r4t leaderboard: {problem}", file=sys.stderr)
    if check:
        print(f"[r4t leaderboard] {count} records checked, {len(problems)} problems")
        return 1 if problems else 0
    if problems:
        raise ConfigError(f"{len(problems)} invalid records under {registry}; fix them or run `r4t leaderboard --check`")
    for path in build_leaderboard(registry, html_page=html):
        print(f"[r4t leaderboard] wrote {path}")
    return 0


# ---------------------------------------------------------------------- list
def _list(args: Any, rest: list[str]) -> int:
    from r4t.components import all_registries

    regs = all_registries()
    for kind in [args.kind] if args.kind else sorted(regs):
        reg = regs[kind]
        print(f"{kind}:")
        descriptions = reg.describe()
        width = max((len(n) for n in descriptions), default=0)
        for name, doc in descriptions.items():
            print(f"  {name:<{width}}  {doc}")
        if not descriptions:
            print("  (none registered)")
        for name, err in reg.plugin_errors.items():
            print(f"  {name:<{width}}  [failed to load] {err}")
    return 0


if __name__ == "__main__":
    run()
