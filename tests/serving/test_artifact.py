"""Exported retrievers: same sets as in process, nothing loaded that the manifest does not vouch for."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from r4t.errors import ConfigError, DataError
from r4t.retrievers import retrievers
from r4t.retrievers.base import Retriever
from r4t.serving.artifact import MANIFEST, export_retriever, load_retriever
from tests.reliability.helpers import save_small_checkpoint


def queries(data, n=6):
    return [q.text for q in data.catalog.queries[:n]]


def reseal(folder: Path) -> None:
    """Recompute the manifest's checksums: what a crafted (not a damaged) artifact looks like."""
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["files"] = {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
                         for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST}
    (folder / MANIFEST).write_text(json.dumps(manifest))


def edit_manifest(folder: Path, **changes) -> None:
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest.update(changes)
    (folder / MANIFEST).write_text(json.dumps(manifest))


@pytest.fixture(scope="module")
def diffusion_ckpt(tiny_data, tmp_path_factory):
    trained_on = {"catalog_fingerprint": tiny_data.catalog.fingerprint(), "embeddings": tiny_data.paths["embeddings"].name}
    return save_small_checkpoint(tmp_path_factory.mktemp("ckpt") / "last.ckpt", dim=64, extra={"r4t_data": trained_on})


@pytest.fixture(scope="module")
def exported_mmr(tiny_data, tmp_path_factory):
    return export_retriever(tiny_data, {"name": "mmr", "lambda_": 0.5}, tmp_path_factory.mktemp("a") / "mmr", k=5)


SPECS = ["dense_topk", {"name": "mmr", "lambda_": 0.3, "pool_size": 50}, {"name": "dpp", "alpha": 3.0},
         {"name": "query_jitter", "scale": 1.0, "seed": 3}]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s if isinstance(s, str) else s["name"])
def test_classic_retrievers_return_the_in_process_sets(tiny_data, tmp_path, spec):
    out = export_retriever(tiny_data, spec, tmp_path / "art")
    loaded = load_retriever(out)
    qs = queries(tiny_data)
    assert loaded.retrieve(qs, 10) == retrievers.build(spec, data=tiny_data).retrieve(qs, 10)
    assert "r4t" in loaded.manifest["versions"] and loaded.manifest["catalog"]["fingerprint"] == tiny_data.catalog.fingerprint()


def test_diffusion_artifact_holds_safetensors_and_returns_the_same_sets(tiny_data, tmp_path, diffusion_ckpt):
    spec = {"name": "r4t_diffusion", "checkpoint": str(diffusion_ckpt), "seed": 7}
    out = export_retriever(tiny_data, spec, tmp_path / "art")
    files = json.loads((out / MANIFEST).read_text())["files"]
    assert "denoiser/denoiser.safetensors" in files and not any(f.endswith((".ckpt", ".pt", ".bin")) for f in files)
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["retriever"]["sampler"] == {"name": "dpmpp_2m", "steps": 4, "temperature": 1.0}  # pinned at export
    diffusion_ckpt.rename(diffusion_ckpt.with_suffix(".moved"))  # the artifact needs nothing from the run
    try:
        loaded = load_retriever(out)
    finally:
        diffusion_ckpt.with_suffix(".moved").rename(diffusion_ckpt)
    qs = queries(tiny_data)
    assert loaded.retrieve(qs, 10) == retrievers.build(spec, data=tiny_data).retrieve(qs, 10)


def test_fanout_policy_is_copied_and_samples_the_same_fanouts(tiny_data, tmp_path, tiny_policy_dir):
    spec = {"name": "fanout_lm", "policy": str(tiny_policy_dir), "subqueries": 3, "seed": 1}
    out = export_retriever(tiny_data, spec, tmp_path / "art")
    assert (out / "policy" / "model.safetensors").exists()
    loaded = load_retriever(out)
    assert loaded.manifest["retriever_files"] == {"policy": "policy"}
    qs = queries(tiny_data, 4)
    assert loaded.retrieve(qs, 10) == retrievers.build(spec, data=tiny_data).retrieve(qs, 10)


def test_items_come_back_as_records_with_cosine_scores(tiny_data, exported_mmr):
    loaded = load_retriever(exported_mmr)
    [items] = loaded.retrieve_items(queries(tiny_data, 1))
    assert len(items) == 5 == len({i["id"] for i in items})  # the artifact's default k
    q = tiny_data.query_emb[0]
    for item in items:
        row = tiny_data.catalog.item_ids.index(item["id"])
        assert item["text"] == tiny_data.catalog.item_texts[row]
        assert item["score"] == pytest.approx(float(tiny_data.item_emb[row] @ q), abs=1e-5)


def copy_artifact(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("damage, message", [
    (lambda f: (f / "items.jsonl").write_text((f / "items.jsonl").read_text().replace("track", "trick", 1)), "checksum"),
    (lambda f: (f / "evil.pkl").write_bytes(b"\x80\x04N."), "not listed"),
    (lambda f: (f / "index" / "index.faiss").unlink(), "missing"),
    (lambda f: (f / MANIFEST).write_text("{not json"), "not readable JSON"),
    (lambda f: (f / MANIFEST).unlink(), "not an r4t artifact"),
    (lambda f: edit_manifest(f, format_version=99), "format_version"),
])
def test_damaged_artifacts_fail_in_one_line(exported_mmr, tmp_path, damage, message):
    folder = copy_artifact(exported_mmr, tmp_path / "copy")
    damage(folder)
    with pytest.raises(DataError, match=message) as info:
        load_retriever(folder)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("spec, message", [
    ({"class_path": "logging.basicConfig", "init_args": {"filename": "/tmp/x"}}, "refusing retrievers class_path"),
    ({"name": "mmr", "lambda_": {"class_path": "os.system", "init_args": {}}}, "nested class_path"),
])
def test_a_crafted_manifest_cannot_name_code(exported_mmr, tmp_path, spec, message):
    folder = copy_artifact(exported_mmr, tmp_path / "copy")
    edit_manifest(folder, retriever=spec)
    with pytest.raises(ConfigError, match=message):
        load_retriever(folder)


def test_weights_that_do_not_fit_the_denoiser_are_refused(tiny_data, tmp_path, diffusion_ckpt):
    out = export_retriever(tiny_data, {"name": "r4t_diffusion", "checkpoint": str(diffusion_ckpt)}, tmp_path / "art")
    cfg = json.loads((out / "denoiser" / "denoiser.json").read_text())
    cfg["backbone"] = {**cfg["backbone"], "width": 32}
    (out / "denoiser" / "denoiser.json").write_text(json.dumps(cfg))
    reseal(out)
    with pytest.raises(DataError, match="weights do not match"):
        load_retriever(out)


def test_an_embedder_that_does_not_reproduce_the_item_vectors_is_refused(exported_mmr, tmp_path):
    folder = copy_artifact(exported_mmr, tmp_path / "copy")
    manifest = json.loads((folder / MANIFEST).read_text())
    edit_manifest(folder, embedder={**manifest["embedder"], "seed": 1})  # same dimension, other vectors
    with pytest.raises(DataError, match="does not reproduce the exported item vectors"):
        load_retriever(folder)


def test_export_refuses_pickle_only_policies_and_existing_folders(tiny_data, tmp_path, tiny_policy_dir, exported_mmr):
    import shutil

    import torch
    from safetensors.torch import load_file

    pickled = tmp_path / "pickled_policy"  # the same policy saved the old way: weights in pytorch_model.bin
    shutil.copytree(tiny_policy_dir, pickled)
    torch.save(load_file(pickled / "model.safetensors"), pickled / "pytorch_model.bin")
    (pickled / "model.safetensors").unlink()
    with pytest.raises(ConfigError, match="no safetensors weights"):
        export_retriever(tiny_data, {"name": "fanout_lm", "policy": str(pickled)}, tmp_path / "art")
    assert not (tmp_path / "art").exists() and not list(tmp_path.glob(".art.tmp-*"))  # nothing half-written left
    with pytest.raises(ConfigError, match="already exists"):
        export_retriever(tiny_data, "dense_topk", exported_mmr)
    not_an_artifact = tmp_path / "data"
    not_an_artifact.mkdir()
    with pytest.raises(ConfigError, match="not an r4t artifact"):
        export_retriever(tiny_data, "dense_topk", not_an_artifact, overwrite=True)


class _FileReader(Retriever):
    """A plugin retriever that reads its item order from a file."""

    def __init__(self, data, order_file: str) -> None:
        super().__init__(data)
        self.order = np.array(json.loads(Path(order_file).read_text()))

    def _retrieve(self, query_emb, k):
        return [self.order[:k].tolist() for _ in query_emb]


class _ExportingFileReader(_FileReader):
    def export_files(self, folder):
        (folder / "order.json").write_text(json.dumps(self.order.tolist()))
        return {"order_file": "order.json"}


def test_plugins_export_their_files_through_export_files(tiny_data, tmp_path, monkeypatch):
    order = tmp_path / "order.json"
    order.write_text(json.dumps(list(range(30, 0, -1))))
    monkeypatch.setitem(retrievers._factories, "file_reader", _FileReader)
    monkeypatch.setitem(retrievers._factories, "exporting_file_reader", _ExportingFileReader)
    with pytest.raises(ConfigError, match="'order_file' names a file"):
        export_retriever(tiny_data, {"name": "file_reader", "order_file": str(order)}, tmp_path / "a")
    out = export_retriever(tiny_data, {"name": "exporting_file_reader", "order_file": str(order)}, tmp_path / "b")
    order.unlink()
    ids = tiny_data.catalog.item_ids
    assert load_retriever(out).retrieve(queries(tiny_data, 1), 3) == [[ids[30], ids[29], ids[28]]]


def test_cli_export_names_what_is_missing(tmp_path, monkeypatch, capsys):
    from r4t.cli import main
    from tests.conftest import TINY_CONFIG

    monkeypatch.chdir(tmp_path)
    assert main(["export", "-c", str(TINY_CONFIG), "--retriever", "r4t_diffusion", "-o", "art"]) == 2
    assert "no checkpoint under runs/tiny/diffusion; run `r4t fit" in capsys.readouterr().err
    assert main(["export", "-c", str(TINY_CONFIG), "--retriever", "fanout_lm", "-o", "art"]) == 2
    assert "no policy at" in capsys.readouterr().err  # never the warm-start policy in the RL-tuned one's place
    assert main(["export", "-c", str(TINY_CONFIG), "--retriever", "dense_topkk", "-o", "art"]) == 2
    assert "Did you mean 'dense_topk'" in capsys.readouterr().err
    assert main(["export", "-c", str(TINY_CONFIG), "--retriever", '{"name": "mmr", "lambda_": 0.2}', "-o", "art", "-k", "5"]) == 0
    assert load_retriever(tmp_path / "art").manifest["retriever"] == {"name": "mmr", "lambda_": 0.2}
