"""The one parser of every `r4t` stage command (jsonargparse, as LightningCLI is).

`fit`, `validate`, `test` and `predict` are parsed by LightningCLI itself (they must be: Lightning's
DDP launcher re-runs exactly that command line). Every other command is a subcommand of the parser
built here, so its flags, types, ranges, `--help` and errors come from one place: a flag given a
value outside its range (`--steps -5`, `--set_size 0`) stops the command before any stage runs,
in one line naming the flag, exit code 2.

Flags are spelled with underscores, as LightningCLI and the YAML keys spell them; a dashed
spelling is kept as an alias where one existed before (tests/test_flag_spelling.py).
"""

from __future__ import annotations

import re
from argparse import ArgumentTypeError
from typing import Callable, Optional, Sequence, Union

from jsonargparse import ArgumentError, ArgumentParser, Namespace
from jsonargparse.typing import NonNegativeInt, PositiveFloat, PositiveInt

from r4t.errors import ConfigError

# The commands parsed here, in the order `r4t --help` lists them.
STAGE_COMMANDS = ("init", "catalog", "data", "rl", "synthesize", "retrieve", "export", "serve", "benchmark", "leaderboard", "list")


def batch_sizes(value: Union[str, Sequence[int]]) -> list[int]:
    """``1,8,64`` -> ``[1, 8, 64]``. Idempotent (jsonargparse may apply a type to its own result)."""
    if isinstance(value, str):
        try:
            values = [int(v) for v in value.split(",") if v.strip()]
        except ValueError:
            raise ArgumentTypeError(f"expected comma-separated integers, got {value!r}") from None
    else:
        values = [int(v) for v in value]
    if not values or min(values) < 1:
        raise ArgumentTypeError(f"batch sizes must be positive integers, got {value!r}")
    return values


def _parser(prog: str, description: str) -> ArgumentParser:
    return ArgumentParser(prog=prog, description=description, exit_on_error=False, print_config=None)  # our own --print_config


def _stage(prog: str, description: str) -> ArgumentParser:
    """A command that reads a config: ``-c``, ``--run_dir`` and ``--print_config`` (the checked stage
    sections it will run with, defaults filled in)."""
    parser = _parser(prog, description)
    parser.add_argument("-c", "--config", type=str, required=True, help="YAML config (same file as r4t fit)")
    parser.add_argument("--run_dir", type=Optional[str], default=None, help="override the config's run_dir")
    parser.add_argument("--print_config", action="store_true", help="print the stage sections this command reads "
                        "(checked, defaults filled in) and exit")
    return parser


def _set_size(parser: ArgumentParser, help_default: str = "the config's model.set_size, else 10") -> None:
    parser.add_argument("--set_size", "-k", type=Optional[PositiveInt], default=None, help=f"items per set (default: {help_default})")


def _init() -> ArgumentParser:
    parser = _parser("r4t init", "Write a config for your own catalog, with defaults sized to it.")
    parser.add_argument("--items", type=str, required=True, help="items file: JSONL, JSON, CSV, TSV or Parquet with id, text, attribute columns")
    parser.add_argument("--collections", type=str, required=True, help="collections file: JSONL or JSON records {id, title, items: [item ids]}")
    parser.add_argument("--queries", type=Optional[str], default=None, help="optional queries file {id, text, split?, reference?}; default: the collection titles")
    parser.add_argument("--name", type=Optional[str], default=None, help="catalog name (default: the items file's name)")
    parser.add_argument("--domain", type=str, default="items", help="a word for what the items are (tracks, products, articles)")
    parser.add_argument("-o", "--output", type=str, required=True, help="config file to write (must not exist)")
    return parser


def _catalog() -> ArgumentParser:
    return _parser("r4t catalog", "Check a config's catalog without building anything else.")


def _catalog_actions(parser: ArgumentParser) -> None:
    """`r4t catalog validate` (jsonargparse adds a nested level only once its parent is attached)."""
    actions = parser.add_subcommands(dest="action", required=True)
    actions.add_subcommand("validate", _stage("r4t catalog validate", "Load the catalog, print a summary, exit 2 with one line per problem."),
                           help="load the catalog, print a summary, exit 2 with one line per problem")


def _data() -> ArgumentParser:
    return _stage("r4t data", "Build (or reuse) catalog, embeddings and indexes.")


def _rl() -> ArgumentParser:
    parser = _stage("r4t rl", "Train the fan-out policy with GRPO / Soft-GRPO.")
    parser.add_argument("--steps", type=Optional[NonNegativeInt], default=None, help="override rl.steps (0: the warm-started policy)")
    return parser


def _synthesize() -> ArgumentParser:
    parser = _stage("r4t synthesize", "Write (query, set) shards with the RL policy.")
    parser.add_argument("--rank", type=Optional[NonNegativeInt], default=None, help="this process's rank (shards j with j % world_size == rank) "
                        "for independent processes; under torchrun / accelerate launch it comes from RANK")
    parser.add_argument("--world_size", type=Optional[PositiveInt], default=None, help="number of independent processes (default: WORLD_SIZE, else 1)")
    return parser


def _retrieve() -> ArgumentParser:
    parser = _stage("r4t retrieve", "Print the set a retriever returns for a query.")
    parser.add_argument("--query", type=str, required=True, action="append", help="query text (repeatable)")
    parser.add_argument("--ckpt", type=Optional[str], default=None, help="SetDiffusion checkpoint (shorthand for --retriever r4t_diffusion with this checkpoint)")
    parser.add_argument("--retriever", type=Optional[str], default=None, help='registry name or JSON spec, e.g. \'{"name": "mmr", "lambda_": 0.5}\'')
    _set_size(parser)
    return parser


def _export() -> ArgumentParser:
    parser = _stage("r4t export", "Write a self-contained retriever artifact that `r4t serve` and r4t.load_retriever read.")
    parser.add_argument("--retriever", type=str, required=True, help="registry name (r4t_diffusion, raw_diffusion and fanout_lm take the run "
                        "dir's checkpoint / RL policy) or JSON spec")
    parser.add_argument("-o", "--output", type=str, required=True, help="artifact folder to write (must not exist)")
    _set_size(parser, "the config's model.set_size, else 10; the set size the artifact serves")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing artifact folder")
    return parser


def serve_parser() -> ArgumentParser:
    """`r4t serve`'s flags; the server process (r4t.serving.server) parses its command line with it too."""
    parser = _parser("r4t serve", 'Serve an exported retriever: POST /predict {"query": ..., "k": ...}.')
    parser.add_argument("artifact", type=str, help="folder written by `r4t export`")
    parser.add_argument("--host", type=str, default="127.0.0.1", help="interface to listen on (default loopback only; 0.0.0.0 for all)")
    parser.add_argument("--port", type=NonNegativeInt, default=8000, help="TCP port (0: any free port)")
    parser.add_argument("--max_batch_size", "--max-batch-size", type=PositiveInt, default=16, help="requests merged into one retrieve() call")
    parser.add_argument("--batch_timeout", "--batch-timeout", type=float, default=0.005, help="seconds to wait for a batch to fill")
    parser.add_argument("--workers", type=PositiveInt, default=1, help="model worker processes (each loads the artifact)")
    parser.add_argument("--max_request_queries", "--max-queries", type=PositiveInt, default=64, help="queries one request may list")
    parser.add_argument("--device", type=str, default="cpu", help="cpu or cuda")
    parser.add_argument("--timeout", type=PositiveFloat, default=30.0, help="seconds a request may wait before a 504")
    return parser


def _benchmark() -> ArgumentParser:
    parser = _stage("r4t benchmark", "Benchmark set quality and fan-out latency; write registry/ records.")
    parser.add_argument("--retrievers", type=Optional[str], nargs="+", default=None, help="registry names or JSON specs with an "
                        "optional \"label\" (default: every built-in retriever whose policy/checkpoint exists in the run dir, plus the "
                        "latency-only stand-ins)")
    parser.add_argument("--skip", type=str, nargs="+", default=[], metavar="NAME",
                        help="leave out default retrievers with these registry names (e.g. latency_only_fanout latency_only_diffusion)")
    parser.add_argument("--batch_sizes", "--batch-sizes", type=batch_sizes, default=[1, 8, 64, 1024], help="comma-separated (default 1,8,64,1024)")
    parser.add_argument("--device", type=str, choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--registry", type=str, default="registry", help="where records go")
    parser.add_argument("--split", type=str, default="test", help="query split the quality rows read (tune on val; test only for records)")
    parser.add_argument("--max_queries", "--max-queries", type=Optional[PositiveInt], default=None, help="cap the queries per kind (quick runs)")
    _set_size(parser)
    parser.add_argument("--warmup", type=NonNegativeInt, default=1, help="untimed calls per batch size")
    parser.add_argument("--repeats", type=PositiveInt, default=10, help="timed calls per batch size (at most)")
    parser.add_argument("--min_repeats", "--min-repeats", type=PositiveInt, default=3, help="timed calls per batch size (at least)")
    parser.add_argument("--budget_s", "--budget-s", type=PositiveFloat, default=30.0, help="stop timing a batch size after this many seconds "
                        "(>= min_repeats calls)")
    parser.add_argument("--max_call_s", "--max-call-s", type=PositiveFloat, default=60.0, help="skip batch sizes predicted to take longer per call")
    parser.add_argument("--no_quality", "--no-quality", action="store_true", help="latency only")
    parser.add_argument("--no_latency", "--no-latency", action="store_true", help="set quality only")
    parser.add_argument("--role_attribute", "--role-attribute", type=Optional[str], default=None, help="item attribute giving roles for "
                        "complementarity (default: facet; fashion: category)")
    parser.add_argument("--wscr_depth", "--wscr-depth", type=NonNegativeInt, default=500, help="candidates per direction for "
                        "Recall/Hit@(depth*k) on compositional queries (0: skip)")
    parser.add_argument("--leaderboard", action="store_true", help="re-render registry/LEADERBOARD.md afterwards")
    return parser


def _leaderboard() -> ArgumentParser:
    parser = _parser("r4t leaderboard", "Render registry/LEADERBOARD.md from the records.")
    parser.add_argument("--registry", type=str, default="registry", help="the records' folder")
    parser.add_argument("--check", action="store_true", help="only validate every record against the schema (exit 1 on problems)")
    parser.add_argument("--html", action="store_true", help="also write leaderboard.html")
    return parser


def _list() -> ArgumentParser:
    from r4t.components import all_registries

    parser = _parser("r4t list", "List registered components.")
    parser.add_argument("kind", type=Optional[str], nargs="?", choices=sorted(all_registries()), help="one kind (default: all)")
    return parser


BUILDERS: dict[str, tuple[Callable[[], ArgumentParser], str]] = {
    "init": (_init, "write a config for your own catalog"),
    "catalog": (_catalog, "check a config's catalog"),
    "data": (_data, "build the catalog, embeddings and faiss indexes (cached)"),
    "rl": (_rl, "stage (i): warm-start and RL-train the fan-out policy (cached, resumable)"),
    "synthesize": (_synthesize, "stage (ii): write (query, set) webdataset shards (cached, resumable)"),
    "retrieve": (_retrieve, "print the set a retriever returns for a query"),
    "export": (_export, "write a self-contained retriever artifact"),
    "serve": (serve_parser, "serve an exported retriever over HTTP (LitServe)"),
    "benchmark": (_benchmark, "set quality and fan-out latency -> registry/ records"),
    "leaderboard": (_leaderboard, "render registry/LEADERBOARD.md from the records"),
    "list": (_list, "list registered components"),
}
assert tuple(BUILDERS) == STAGE_COMMANDS
NESTED: dict[str, Callable[[ArgumentParser], None]] = {"catalog": _catalog_actions}


def build_parser(commands: Sequence[str] = STAGE_COMMANDS) -> ArgumentParser:
    """The `r4t` parser with ``commands`` as subcommands (all by default; one, to answer one command
    without building the others)."""
    parser = _parser("r4t", "Set-valued retrieval: r4t COMMAND --help shows the options of one command.")
    sub = parser.add_subcommands(dest="command", required=True)
    for name in commands:
        build, help_text = BUILDERS[name]
        command = build()
        sub.add_subcommand(name, command, help=help_text)
        if name in NESTED:
            NESTED[name](command)
    return parser


def parse(argv: Sequence[str]) -> tuple[str, Namespace]:
    """``(command, its options)`` for ``r4t ARGV``; a ConfigError with one line naming the flag for
    bad input. ``--help`` exits (SystemExit 0) as argparse does."""
    argv = list(argv)
    command = argv[0] if argv else ""
    if command not in BUILDERS:
        raise ConfigError(f"unknown command {command!r}; commands: fit, validate, test, predict, {', '.join(STAGE_COMMANDS)}")
    try:
        ns = build_parser([command]).parse_args(argv)
    except ArgumentError as exc:
        raise ConfigError(one_line(str(exc), command)) from None
    return command, ns[command]


def one_line(message: str, command: str) -> str:
    """jsonargparse's error (a key path, then an indented explanation) as one line naming the flag:
    ``--steps: must be >= 0, got -5``."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    first = lines[0] if lines else message
    key = re.match(r'Parser key "(?:[\w.]*\.)?(\w+)"', first)
    if not key:
        head = re.sub(rf"\b{re.escape(command)}\.(?:validate\.)?(\w+)", lambda m: "--" + m.group(1), first)
        return re.sub(r"^argument (--\w+)(?:/[-\w]+)*:", r"\1:", head)  # argparse's 'argument --a/--b: ...'

    reasons = [line.lstrip("- ") for line in lines[1:] if not line.startswith(("Given value", "Subtypes", "Errors"))]
    typed = [r for r in reasons if r.startswith("Not of type")]  # of an Optional[...]: the reason of the type that was meant
    given = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("Given value:")), None)
    reason, value = _plain_reason(typed[0] if typed else " ".join(reasons) or "invalid value")
    value = value if value is not None else given
    return f"--{key.group(1)}: {reason}" + (f", got {value}" if value is not None else "")


_RESTRICTIONS = {"v>0": "must be > 0", "v>=0": "must be >= 0", "v<0": "must be < 0", "v<=0": "must be <= 0"}


def _plain_reason(reason: str) -> tuple[str, Optional[str]]:
    """(what is wrong, the value given if the reason names it), e.g. 'Not of type PositiveInt: -5 does
    not conform to restriction v>0' -> ('must be > 0', '-5')."""
    found = re.search(r"^Not of type \w+: (?:(.+) )?does not conform to restriction (\S+)", reason)
    if found:  # worded as the config sections' own range errors are (r4t.sections)
        return _RESTRICTIONS.get(found.group(2), f"must satisfy {found.group(2)}"), found.group(1)
    literal = re.search(r"(?:invalid literal for int\(\) with base 10|could not convert string to float): (.+)$", reason)
    if literal:
        return ("expected an integer" if "int()" in reason else "expected a number"), literal.group(1)
    return reason.rstrip("."), None
