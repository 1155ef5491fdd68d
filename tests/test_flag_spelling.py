"""One spelling for every command-line flag: underscores, as LightningCLI spells its own
(``--ckpt_path``, ``--print_config``) and as the YAML keys are written. A dashed spelling may
follow as an alias, so commands written before the rename (e.g. in registry records) still run."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Old spellings kept for a flag that was renamed, not only respelled (one word per concept:
# `max_queries` elsewhere caps the queries a run reads, not the queries one request may list).
RENAMED = {"--max-queries": "--max_request_queries"}


def flag_calls() -> list[tuple[str, int, list[str]]]:
    """(file, line, option strings) of every ``add_argument`` call in the package and the benchmark scripts."""
    found = []
    for path in sorted([*ROOT.joinpath("src", "r4t").rglob("*.py"), *ROOT.joinpath("benchmarks").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument":
                names = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
                if any(n.startswith("--") for n in names):
                    found.append((str(path.relative_to(ROOT)), node.lineno, names))
    return found


def test_every_long_flag_is_spelled_with_underscores_and_dashes_are_only_aliases():
    calls = flag_calls()
    assert len(calls) > 60  # the walk sees the commands and the scripts
    wrong = [f"{file}:{line} {names}" for file, line, names in calls
             if "-" in next(n for n in names if n.startswith("--"))[2:]]
    assert not wrong, "flags spelled with dashes first:\n" + "\n".join(wrong)
    aliases = [(names[0], n) for _, _, names in calls for n in names[1:] if n.startswith("--") and "-" in n[2:]]
    odd = [(first, n) for first, n in aliases if n[2:].replace("-", "_") != first[2:] and RENAMED.get(n) != first]
    assert not odd, odd


def test_the_old_dashed_spellings_still_parse_to_the_same_values():
    from r4t.cli_parser import serve_parser

    new = serve_parser().parse_args(["art", "--max_batch_size", "8", "--batch_timeout", "0.01", "--max_request_queries", "4"])
    old = serve_parser().parse_args(["art", "--max-batch-size", "8", "--batch-timeout", "0.01", "--max-queries", "4"])
    assert vars(new) == vars(old) and new.max_request_queries == 4 and new.max_batch_size == 8
