"""Your own catalog from plain files: every format reads the same, every change is counted, and the
pipeline runs end to end on it (validate, fit, benchmark) with the tiny settings."""

import csv
import json
import random
import time
from pathlib import Path

import pytest
import yaml

from r4t.cli import main
from r4t.data.files import load_files, split_by_text
from r4t.errors import DataError
from r4t.fanout.prompts import bare_prompt
from r4t.fanout.warmstart import item_phrase, nearest_collections, warmstart_pairs

EXAMPLE = Path(__file__).parents[2] / "examples" / "my_catalog"
TINY = yaml.safe_load((Path(__file__).parents[1] / "conf" / "tiny-r4t.yaml").read_text())


def write_items(folder: Path, fmt: str, rows: list[dict]) -> Path:
    path = folder / f"items.{fmt}"
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif fmt == "csv":
        with open(path, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def example_rows() -> list[dict]:
    with open(EXAMPLE / "items.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def test_jsonl_csv_and_parquet_give_the_same_catalog(tmp_path):
    pytest.importorskip("pyarrow")
    cats = [load_files(str(write_items(tmp_path, fmt, example_rows())), str(EXAMPLE / "collections.jsonl"))[0]
            for fmt in ("jsonl", "csv", "parquet")]
    assert len({c.fingerprint() for c in cats}) == 1  # so fit and benchmark (keyed by the fingerprint) run the same on each
    for fmt in ("jsonl", "csv", "parquet"):
        config = tmp_path / f"{fmt}.yaml"
        config.write_text(yaml.safe_dump({"run_dir": "runs/x", "embedder": {"name": "hashing", "dim": 32}, "catalog": {
            "name": "files", "items": str(tmp_path / f"items.{fmt}"), "collections": str(EXAMPLE / "collections.jsonl")}}))
        assert main(["catalog", "validate", "-c", str(config)]) == 0
    cat = cats[0]
    assert cat.item_ids[:2] == ["sku-101", "sku-102"] and set(cat.attributes) == {"category", "colour"}
    by_id = dict(zip(cat.item_ids, range(len(cat))))
    coffee = [c for c in cat.collections if c.title == "slow morning coffee"]
    assert [cat.item_ids[i] for i in coffee[0].items] == ["sku-301", "sku-302", "sku-303", "sku-305"]  # ids, not row numbers
    assert len({c.split for c in coffee}) == 1  # equal titles never straddle splits
    assert {q.text for q in cat.queries} == {c.title for c in cat.collections}
    assert all(len(cat.queries_for(split=s)) >= 1 for s in ("train", "val", "test"))
    camping = next(c for c in cat.collections if c.title == "camping cookware")
    assert len(camping.items) == 3 and by_id["sku-101"] in camping.items  # the unknown sku-999 was dropped ...
    _, report = load_files(str(EXAMPLE / "items.csv"), str(EXAMPLE / "collections.jsonl"))
    assert "collections: 1 references to unknown item ids dropped" in report.notes  # ... and counted


def test_split_by_title_is_stable_and_close_to_8_1_1():
    titles = [f"playlist {n}" for n in range(3000)]
    split = split_by_text(titles)
    again = split_by_text(random.Random(0).sample(titles, len(titles)) + [t.upper() for t in titles[:50]])
    assert split == again  # order and case do not move a title
    shares = {s: sum(v == s for v in split.values()) / len(split) for s in ("train", "val", "test")}
    assert abs(shares["train"] - 0.8) < 0.03 and abs(shares["val"] - 0.1) < 0.02 and abs(shares["test"] - 0.1) < 0.02
    small = split_by_text(["a", "b", "c"])
    assert sorted(small.values()) == ["test", "train", "val"]  # a small catalog still gets a val and a test query


def test_every_bad_record_is_a_problem_naming_its_row(tmp_path):
    rows = [{"id": "a", "text": "red mug"}, {"id": "a", "text": "blue mug"}, {"id": "b", "text": "  "}, {"text": "no id"},
            {"id": 7, "text": "numeric id is read as text"}]
    items = write_items(tmp_path, "jsonl", rows)
    cat, report = load_files(str(items))
    assert report.problems == ["items.jsonl row 2: duplicate item id 'a' (first at row 1)", "items.jsonl row 3: item 'b' has an empty 'text'",
                               "items.jsonl row 4: missing 'id'"]
    assert cat.item_ids == ["a", "7"]
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump({"run_dir": "runs/x", "catalog": {"name": "files", "items": str(items)},
                                      "embedder": {"name": "hashing", "dim": 32}}))
    with pytest.raises(DataError, match=r"duplicate item id 'a' .* \(and 2 more; `r4t catalog validate"):
        from r4t.data.sources import catalogs

        catalogs.build({"name": "files", "items": str(items)})


def test_catalog_validate_prints_one_line_per_problem_and_exits_2(tmp_path, capsys):
    items = write_items(tmp_path, "csv", [{"id": "x1", "text": "a"}, {"id": "x1", "text": "b"}, {"id": "x2", "text": ""}])
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"run_dir": "runs/x", "catalog": {"name": "files", "items": str(items)},
                                      "embedder": {"name": "hashing", "dim": 32}}))
    assert main(["catalog", "validate", "-c", str(config)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[:2] == ["r4t catalog validate: problem: items.csv row 2: duplicate item id 'x1' (first at row 1)",
                       "r4t catalog validate: problem: items.csv row 3: item 'x2' has an empty 'text'"]
    assert not (tmp_path / "runs").exists()  # nothing built


def test_warm_start_pairs_for_every_training_query_worded_from_the_items(tmp_path):
    from r4t.catalog.embedders import embedders

    cat, _ = load_files(str(EXAMPLE / "items.csv"), str(EXAMPLE / "collections.jsonl"), phrase_template="{colour} {category}")
    assert item_phrase(cat, 0, random.Random(0)) == "black cookware"
    emb = embedders.build({"name": "hashing", "dim": 64})
    train = cat.queries_for(split="train")
    nearest = nearest_collections(cat, emb.encode([q.text for q in cat.queries]), emb.encode(cat.collection_texts()), train, per_query=2)
    for q in train:
        assert cat.collections[nearest[q.qid][0]].title == q.text  # its own collection first
        assert all(cat.collections[n].split == "train" for n in nearest[q.qid])
    pairs = warmstart_pairs(cat, train, subqueries=4, nearest=nearest)
    assert {p for p, _ in pairs} == {bare_prompt(q.text) for q in train}  # every training query has pairs
    assert not warmstart_pairs(cat, train, subqueries=4)  # without themes or nearest collections there is nothing to pair


def test_init_sizes_the_config_to_the_catalog(tmp_path, capsys):
    out = tmp_path / "mine.yaml"
    assert main(["init", "--items", str(EXAMPLE / "items.csv"), "--collections", str(EXAMPLE / "collections.jsonl"),
                 "--name", "kitchen", "-o", str(out)]) == 0
    cfg = yaml.safe_load(out.read_text())
    assert cfg["model"]["set_size"] == cfg["policy"]["subqueries"] == cfg["synth"]["set_size"] == cfg["data"]["init_args"]["set_size"] == 4
    assert cfg["catalog"]["name"] == "files" and cfg["index"]["factory"] == "Flat" and cfg["run_dir"] == "runs/kitchen"
    assert main(["init", "--items", str(EXAMPLE / "items.csv"), "--collections", str(EXAMPLE / "collections.jsonl"), "-o", str(out)]) == 2


@pytest.mark.slow
def test_own_catalog_validate_fit_benchmark_end_to_end(tmp_path, capsys):
    pytest.importorskip("pyarrow")
    items = write_items(tmp_path, "parquet", example_rows())
    cfg = {**TINY, "run_dir": "runs/mine", "catalog": {"name": "files", "items": str(items),
                                                       "collections": str(EXAMPLE / "collections.jsonl"), "domain": "kitchenware"}}
    cfg["policy"] = {**cfg["policy"], "subqueries": 4}
    cfg["model"] = {**cfg["model"], "set_size": 4}
    cfg["data"] = {**cfg["data"], "init_args": {"set_size": 4, "batch_size": 8}}
    cfg["synth"] = {**cfg["synth"], "set_size": 4, "queries_per_shard": 2}  # 8 training queries: 4 shards, one for validation
    config = tmp_path / "mine.yaml"
    config.write_text(yaml.safe_dump(cfg))
    t0 = time.perf_counter()
    assert main(["catalog", "validate", "-c", str(config)]) == 0
    assert main(["fit", "-c", str(config), "--trainer.enable_checkpointing=true"]) == 0
    assert main(["benchmark", "-c", str(config), "--no-latency", "--wscr-depth", "0", "--registry", "reg",  # k: model.set_size
                 "--skip", "latency_only_fanout", "latency_only_diffusion"]) == 0
    elapsed = time.perf_counter() - t0
    assert main(["leaderboard", "--registry", "reg"]) == 0
    assert "Judge: **unavailable** for this catalog" in (tmp_path / "reg" / "LEADERBOARD.md").read_text()
    records = [json.loads(p.read_text()) for p in (tmp_path / "reg").rglob("*.json")]
    assert len(records) >= 5, [r.get("label") for r in records]
    text = json.dumps(records)
    assert "vendi_diversity" in text and "judge_mean" not in text  # embedding metrics reported, the judge unavailable
    assert elapsed < 60, f"own-catalog pipeline took {elapsed:.0f}s"
