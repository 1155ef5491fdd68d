"""Hypothesis-generated malformed records for every real-data loader: each either loads or
fails with a DataError naming the file -- never another exception, never a partial catalog."""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from r4t.catalog.catalog import Catalog
from r4t.data.sources import catalogs
from r4t.errors import DataError
from tests.data.test_loaders import han_outfit, mpd_slice

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))

scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.floats(allow_nan=True), st.text(max_size=4))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)


def _mutate(record, data) -> object:
    """Replace, delete or retype one field somewhere inside ``record``."""
    if isinstance(record, dict) and record:
        key = data.draw(st.sampled_from(sorted(record)))
        action = data.draw(st.sampled_from(["delete", "replace", "recurse"]))
        out = dict(record)
        if action == "delete":
            del out[key]
        elif action == "replace":
            out[key] = data.draw(json_values)
        else:
            out[key] = _mutate(record[key], data)
        return out
    if isinstance(record, list) and record:
        i = data.draw(st.integers(0, len(record) - 1))
        out = list(record)
        out[i] = _mutate(record[i], data) if data.draw(st.booleans()) else data.draw(json_values)
        return out
    return data.draw(json_values)


@contextlib.contextmanager
def _scratch() -> Iterator[Path]:
    """A fresh folder per hypothesis example (function-scoped fixtures are shared across examples)."""
    root = Path(tempfile.mkdtemp())
    try:
        yield root
    finally:
        shutil.rmtree(root)


def _load_or_data_error(spec, filename: str) -> None:
    try:
        cat = catalogs.build(spec)
    except DataError as exc:
        assert filename in str(exc) or "no " in str(exc), f"error does not name the file: {exc}"
        return
    assert isinstance(cat, Catalog) and len(cat) > 0
    cat.validate()


@SETTINGS
@given(data=st.data())
def test_fuzz_polyvore(data):
    with _scratch() as root:
        train = [han_outfit("101", ["denim skirt", "white tee"]), han_outfit("102", ["wool coat", "boots"])]
        (root / "train_no_dup.json").write_text(json.dumps(_mutate(train, data)))
        for split in ("valid", "test"):
            (root / f"{split}_no_dup.json").write_text(json.dumps([han_outfit(f"{split}1", ["silk blouse", "heels"])]))
        _load_or_data_error({"name": "polyvore", "path": str(root)}, "train_no_dup.json")


@SETTINGS
@given(data=st.data())
def test_fuzz_mpd(data):
    with _scratch() as root:
        (root / "mpd.slice.0-999.json").write_text(json.dumps(_mutate(mpd_slice([0, 1]), data)))
        _load_or_data_error({"name": "mpd", "path": str(root)}, "mpd.slice.0-999.json")


@SETTINGS
@given(data=st.data())
def test_fuzz_polyvore_outfits_metadata(data):
    with _scratch() as root:
        (root / "nondisjoint").mkdir()
        meta = {str(i): {"url_name": f"item {i}", "title": f"Item {i}", "description": "cotton", "semantic_category": c}
                for i, c in enumerate(["tops", "bottoms", "shoes"])}
        (root / "polyvore_item_metadata.json").write_text(json.dumps(_mutate(meta, data)))
        (root / "polyvore_outfit_titles.json").write_text(json.dumps({"o1": {"url_name": "weekend", "title": "Weekend"}}))
        for split in ("train", "valid", "test"):
            outfit = {"set_id": f"o-{split}", "items": [{"item_id": "0", "index": 1}, {"item_id": "1", "index": 2}]}
            (root / "nondisjoint" / f"{split}.json").write_text(json.dumps([outfit]))
        _load_or_data_error({"name": "polyvore_outfits", "path": str(root)}, "polyvore_item_metadata.json")


@SETTINGS
@given(raw=st.binary(max_size=64))
def test_fuzz_truncated_and_garbage_files(raw):
    with _scratch() as root:
        full = json.dumps(mpd_slice([0])).encode()
        (root / "mpd.slice.0-999.json").write_bytes(full[: len(raw)] + raw)
        _load_or_data_error({"name": "mpd", "path": str(root)}, "mpd.slice.0-999.json")
