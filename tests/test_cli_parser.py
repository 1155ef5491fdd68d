"""The one parser of the stage commands (r4t.cli_parser): bad flag values stop a command before
anything runs, in one line naming the flag, exit code 2; every command has --help; the stage
commands print the checked sections they will run with."""

from __future__ import annotations

import pytest
import yaml

from r4t.cli import main
from r4t.cli_parser import STAGE_COMMANDS, one_line, parse
from tests.conftest import TINY_CONFIG


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


CONFIG = ["-c", str(TINY_CONFIG)]


@pytest.mark.parametrize("argv, message", [
    (["rl", *CONFIG, "--steps", "-5"], "--steps: must be >= 0, got -5"),
    (["rl", *CONFIG, "--steps", "ten"], "--steps: expected an integer, got 'ten'"),
    (["retrieve", *CONFIG, "--query", "jazz", "--set_size", "0"], "--set_size: must be > 0, got 0"),
    (["retrieve", *CONFIG, "--query", "jazz", "-k", "0"], "--set_size: must be > 0, got 0"),
    (["export", *CONFIG, "--retriever", "dense_topk", "-o", "art", "-k", "-1"], "--set_size: must be > 0, got -1"),
    (["benchmark", *CONFIG, "--batch_sizes", "0"], "--batch_sizes: batch sizes must be positive integers, got '0'"),
    (["benchmark", *CONFIG, "--batch-sizes", "1,x"], "--batch_sizes: expected comma-separated integers, got '1,x'"),
    (["benchmark", *CONFIG, "--budget_s", "-1"], "--budget_s: must be > 0, got -1"),
    (["benchmark", *CONFIG, "--max_queries", "0"], "--max_queries: must be > 0, got 0"),
    (["benchmark", *CONFIG, "--device", "tpu"], "--device: invalid choice: 'tpu'"),
    (["synthesize", *CONFIG, "--rank", "-1"], "--rank: must be >= 0, got -1"),
    (["synthesize", *CONFIG, "--world_size", "0"], "--world_size: must be > 0, got 0"),
    (["serve", "art", "--port", "-1"], "--port: must be >= 0, got -1"),
    (["serve", "art", "--workers", "0"], "--workers: must be > 0, got 0"),
    (["data"], "the following arguments are required: --config"),
    (["catalog", "validate"], "the following arguments are required: --config"),
    (["data", *CONFIG, "--bogus", "1"], "unrecognized arguments: --bogus 1"),
    (["list", "bogus"], "invalid choice: 'bogus'"),
])
def test_bad_flags_fail_in_one_line_before_anything_runs(tmp_path, capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert err.startswith(f"r4t {argv[0]}: error: ")
    assert not any(tmp_path.iterdir())  # nothing written: not even the run dir


def test_good_flags_parse_to_typed_values():
    command, args = parse(["benchmark", *CONFIG, "--batch_sizes", "1,8", "--max-queries", "3", "--skip", "dpp", "mmr",
                           "--retrievers", "dense_topk", '{"name": "mmr", "lambda_": 0.5}', "-k", "5", "--no-latency"])
    assert command == "benchmark"
    assert args.batch_sizes == [1, 8] and args.max_queries == 3 and args.set_size == 5 and args.no_latency is True
    assert args.skip == ["dpp", "mmr"] and args.retrievers == ["dense_topk", '{"name": "mmr", "lambda_": 0.5}']
    _, defaults = parse(["benchmark", *CONFIG])
    assert defaults.batch_sizes == [1, 8, 64, 1024] and defaults.skip == [] and defaults.retrievers is None and defaults.split == "test"
    _, retrieve = parse(["retrieve", *CONFIG, "--query", "a", "--query", "b c"])
    assert retrieve.query == ["a", "b c"] and retrieve.set_size is None
    _, catalog = parse(["catalog", "validate", *CONFIG])
    assert catalog.validate.config == str(TINY_CONFIG)


@pytest.mark.parametrize("command", STAGE_COMMANDS)
def test_every_command_has_help(capsys, command):
    argv = [command, "validate", "--help"] if command == "catalog" else [command, "--help"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.lower().startswith("usage: r4t") and f" {command}" in out.splitlines()[0] and "--help" in out


def test_print_config_shows_the_checked_sections_with_defaults(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(TINY_CONFIG.read_text())
    assert main(["rl", "-c", str(config), "--print_config"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert set(shown) >= {"run_dir", "catalog", "embedder", "index", "policy", "rl"} and "synth" not in shown
    assert shown["rl"]["steps"] == 2 and shown["rl"]["loss"] == "soft_grpo"
    assert shown["rl"]["unparsable"] == "minimum"  # not in the file: the default that will run
    assert not (tmp_path / "runs").exists()
    bad = tmp_path / "bad.yaml"
    cfg = yaml.safe_load(TINY_CONFIG.read_text())
    cfg["synth"]["samples_per_query"] = 0
    bad.write_text(yaml.safe_dump(cfg))
    assert main(["synthesize", "-c", str(bad), "--print_config"]) == 2  # printing checks too
    assert "synth.samples_per_query" in capsys.readouterr().err


@pytest.mark.parametrize("message, expected", [
    ('Parser key "steps":\n  Not of type NonNegativeInt: -5 does not conform to restriction v>=0', "--steps: must be >= 0, got -5"),
    ('Parser key "rl.budget_s":\n  Not of type PositiveFloat: could not convert string to float: \'x\'', "--budget_s: expected a number, got 'x'"),
    ('Parser key "rank":\n  Does not validate against any of the Union subtypes\n  Subtypes: [NonNegativeInt, NoneType]\n  Errors:\n'
     '    - Not of type NonNegativeInt: does not conform to restriction v>=0\n    - Expected a NoneType\n  Given value type: str\n  Given value: -1',
     "--rank: must be >= 0, got -1"),
    ("argument --batch_sizes/--batch-sizes: batch sizes must be positive integers, got '0'", "--batch_sizes: batch sizes must be positive integers, got '0'"),
    ("rl.config: the following arguments are required", "--config: the following arguments are required"),
])
def test_one_line_names_the_flag(message, expected):
    assert one_line(message, "rl") == expected
