"""The `r4t` command.

fit/validate/test/predict go through LightningCLI (``-c``, ``--print_config``,
``--trainer.*``, class_path/init_args), extended only at its documented hooks. The
stage commands (data, list, and the later rl/synthesize/benchmark) read the same YAML
sections with plain code. Errors r4t raises on purpose print as one line, exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Sequence

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
        if command == "data":
            return _data(rest)
        if command in ("catalog", "init"):
            from r4t import cli_catalog

            return cli_catalog.catalog_command(rest) if command == "catalog" else cli_catalog.init_command(rest)
        if command == "rl":
            return _rl(rest)
        if command == "synthesize":
            return _synthesize(rest)
        if command == "retrieve":
            return _retrieve(rest)
        if command in ("export", "serve"):
            from r4t import cli_serving

            return cli_serving.export_command(rest) if command == "export" else cli_serving.serve_command(rest)
        if command == "list":
            return _list(rest)
        if command == "benchmark":
            return _benchmark(rest)
        if command == "leaderboard":
            return _leaderboard(rest)
    except R4TError as exc:
        print(f"r4t {command}: error: {exc}", file=sys.stderr)
        return 2
    print(f"r4t: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


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
def _stage_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("-c", "--config", required=True, help="YAML config (same file as r4t fit)")
    parser.add_argument("--run_dir", help="override the config's run_dir")
    return parser


def _stage_config(args: argparse.Namespace, validate: bool = True) -> dict[str, Any]:
    """The YAML of ``-c`` with ``--run_dir`` applied; every component spec checked up front."""
    from r4t.config import load_config, validate_components

    cfg = load_config(args.config)
    if args.run_dir:
        cfg["run_dir"] = args.run_dir
    if validate:
        validate_components(cfg)
    return cfg


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


def _data(rest: list[str]) -> int:
    from r4t.pipeline import Pipeline

    cfg = _stage_config(_stage_parser("r4t data", "Build (or reuse) catalog, embeddings and indexes.").parse_args(rest))
    t0 = time.perf_counter()
    data = Pipeline(cfg).data()
    print(f"[r4t data] ready in {time.perf_counter() - t0:.1f}s: {len(data.catalog)} items, "
          f"{len(data.catalog.collections)} collections, {len(data.catalog.queries)} queries, dim {data.item_emb.shape[1]}")
    for name, path in data.paths.items():
        print(f"  {name:<10} {path}")
    return 0


# ---------------------------------------------------------------------- rl
def _rl(rest: list[str]) -> int:
    from r4t.distributed import init_from_env
    from r4t.pipeline import Pipeline

    parser = _stage_parser("r4t rl", "Train the fan-out policy with GRPO / Soft-GRPO.")
    parser.add_argument("--steps", type=int, help="override rl.steps")
    args = parser.parse_args(rest)
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
def _synthesize(rest: list[str]) -> int:
    from r4t.distributed import init_from_env
    from r4t.pipeline import Pipeline

    parser = _stage_parser("r4t synthesize", "Write (query, set) shards with the RL policy.")
    parser.add_argument("--rank", type=int, help="this process's rank (shards j with j %% world_size == rank) for independent "
                                                 "processes; under torchrun / accelerate launch it comes from RANK")
    parser.add_argument("--world_size", type=int, help="number of independent processes (default: WORLD_SIZE, else 1)")
    args = parser.parse_args(rest)
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
def _retrieve(rest: list[str]) -> int:
    from r4t.data.prepare import DataConfig, prepare_data
    from r4t.retrievers import retrievers

    parser = _stage_parser("r4t retrieve", "Print the set a retriever returns for a query.")
    parser.add_argument("--query", required=True, action="append", help="query text (repeatable)")
    parser.add_argument("--ckpt", help="SetDiffusion checkpoint (shorthand for --retriever r4t_diffusion with this checkpoint)")
    parser.add_argument("--retriever", default=None, help='registry name or JSON spec, e.g. \'{"name": "mmr", "lambda_": 0.5}\'')
    parser.add_argument("--set_size", "-k", type=int, default=None, help="items per set (default: the config's model.set_size, else 10)")
    args = parser.parse_args(rest)
    cfg = _stage_config(args, validate=False)
    if args.retriever:
        spec = json_spec(args.retriever, "--retriever")
    elif args.ckpt:
        spec = {"name": "r4t_diffusion", "checkpoint": args.ckpt}
    else:
        raise ConfigError("give --ckpt (a diffusion checkpoint) or --retriever")
    set_size = config_set_size(cfg, args.set_size)
    if set_size < 1:
        raise ConfigError(f"--set_size must be >= 1, got {set_size}")
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
def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"batch sizes must be positive integers, got {text!r}")
    return values


def _benchmark(rest: list[str]) -> int:
    import shlex

    from r4t.bench.latency import LatencyProtocol
    from r4t.bench.runner import default_entries, parse_entry, run_benchmark
    from r4t.data.prepare import DataConfig, prepare_data

    parser = _stage_parser("r4t benchmark", "Benchmark set quality and fan-out latency; write registry/ records.")
    parser.add_argument("--retrievers", nargs="+", help="registry names or JSON specs with an optional \"label\" (default: every "
                        "built-in retriever whose policy/checkpoint exists in the run dir, plus the latency-only stand-ins)")
    parser.add_argument("--skip", nargs="+", default=[], metavar="NAME",
                        help="leave out default retrievers with these registry names (e.g. latency_only_fanout latency_only_diffusion)")
    parser.add_argument("--batch_sizes", "--batch-sizes", type=_int_list, default=[1, 8, 64, 1024], help="comma-separated (default 1,8,64,1024)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--registry", default="registry", help="where records go (default registry/)")
    parser.add_argument("--split", default="test")
    parser.add_argument("--max_queries", "--max-queries", type=int, help="cap the queries per kind (quick runs)")
    parser.add_argument("--set_size", "-k", type=int, default=None, help="items per set (default: the config's model.set_size, else 10)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per batch size (at most)")
    parser.add_argument("--min_repeats", "--min-repeats", type=int, default=3)
    parser.add_argument("--budget_s", "--budget-s", type=float, default=30.0, help="stop timing a batch size after this many seconds (>= min-repeats calls)")
    parser.add_argument("--max_call_s", "--max-call-s", type=float, default=60.0, help="skip batch sizes predicted to take longer per call")
    parser.add_argument("--no_quality", "--no-quality", action="store_true")
    parser.add_argument("--no_latency", "--no-latency", action="store_true")
    parser.add_argument("--role_attribute", "--role-attribute", default=None, help="item attribute giving roles for complementarity (default: facet; fashion: category)")
    parser.add_argument("--wscr_depth", "--wscr-depth", type=int, default=500, help="candidates per direction for Recall/Hit@(depth*k) on compositional queries (0: skip)")
    parser.add_argument("--leaderboard", action="store_true", help="re-render registry/LEADERBOARD.md afterwards")
    args = parser.parse_args(rest)
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
    if args.leaderboard:
        return _leaderboard(["--registry", args.registry])
    return 0


def _leaderboard(rest: list[str]) -> int:
    from r4t.bench.leaderboard import build_leaderboard
    from r4t.bench.records import check_registry

    parser = argparse.ArgumentParser(prog="r4t leaderboard", description="Render registry/LEADERBOARD.md from the records.")
    parser.add_argument("--registry", default="registry")
    parser.add_argument("--check", action="store_true", help="only validate every record against the schema (exit 1 on problems)")
    parser.add_argument("--html", action="store_true", help="also write leaderboard.html")
    args = parser.parse_args(rest)
    count, problems = check_registry(args.registry)
    for problem in problems:
        print(f"r4t leaderboard: {problem}", file=sys.stderr)
    if args.check:
        print(f"[r4t leaderboard] {count} records checked, {len(problems)} problems")
        return 1 if problems else 0
    if problems:
        raise ConfigError(f"{len(problems)} invalid records under {args.registry}; fix them or run `r4t leaderboard --check`")
    for path in build_leaderboard(args.registry, html_page=args.html):
        print(f"[r4t leaderboard] wrote {path}")
    return 0


# ---------------------------------------------------------------------- list
def _list(rest: list[str]) -> int:
    from r4t.components import all_registries

    regs = all_registries()
    parser = argparse.ArgumentParser(prog="r4t list", description="List registered components.")
    parser.add_argument("kind", nargs="?", choices=sorted(regs), help="one kind (default: all)")
    args = parser.parse_args(rest)
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
