"""The shipped configs load and validate (every registry spec, every stage section), and each
`*-filtered.yaml` differs from its base config exactly where its comments say."""

from __future__ import annotations

from pathlib import Path

import pytest

from r4t.config import load_config, validate_components

CONFIGS = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_config_loads_and_validates(path):
    validate_components(load_config(path))


@pytest.mark.parametrize("catalog", ["music", "fashion"])
def test_filtered_config_is_its_base_with_the_filter_instead_of_rl(catalog):
    root = Path(__file__).parents[1] / "configs"
    base, filtered = load_config(root / f"{catalog}.yaml"), load_config(root / f"{catalog}-filtered.yaml")
    assert filtered["reward"] == {"components": {"alignment": 1.0}}
    assert filtered["rl"] == {**base["rl"], "steps": 0}
    assert filtered["policy"] == {**base["policy"], "warmstart": {**base["policy"]["warmstart"], "phrase_keep": 1.0}}
    assert filtered["synth"] == {**base["synth"], "filter": "top_fraction", "filter_value": 0.25, "anchor": 0.5, "target": "served"}
    assert filtered["trainer"] == {**base["trainer"], "max_epochs": 15}  # a quarter of the samples overfits sooner
    same = set(base) - {"reward", "rl", "policy", "synth", "trainer"}
    assert {k: filtered[k] for k in same} == {k: base[k] for k in same} and set(filtered) == set(base)
