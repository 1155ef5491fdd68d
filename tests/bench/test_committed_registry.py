"""The registry/ committed to the repository is valid and its LEADERBOARD.md is current."""

from pathlib import Path

import pytest

from r4t.bench.leaderboard import latest, render_markdown
from r4t.bench.records import check_registry, load_records

REGISTRY = Path(__file__).parents[2] / "registry"


def test_every_committed_record_is_valid():
    count, problems = check_registry(REGISTRY)
    assert problems == []


def test_leaderboard_matches_the_records():
    records = [r for _, r in load_records(REGISTRY)]
    if not records:
        pytest.skip("no records committed yet")
    by_catalog = latest(records)
    plots = {c: f"plots/{c}_quality_vs_latency.png" for c in by_catalog if (REGISTRY / "plots" / f"{c}_quality_vs_latency.png").exists()}
    assert (REGISTRY / "LEADERBOARD.md").read_text() == render_markdown(by_catalog, plots), "run `r4t leaderboard` and commit the result"
