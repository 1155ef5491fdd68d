"""Shared tiny fixtures, built in code (no network, no downloads)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

TINY_CONFIG = Path(__file__).parent / "conf" / "tiny.yaml"


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """Tiny music catalog + hashing embeddings + index, prepared once per session."""
    from r4t.data.prepare import DataConfig, prepare_data

    run_dir = tmp_path_factory.mktemp("tiny_run")
    return prepare_data(DataConfig(catalog={"name": "music", "size": "tiny"}, embedder={"name": "hashing", "dim": 64}, run_dir=str(run_dir)), quiet=True)
