"""A third-party package with an `r4t.rewards` entry point, installed on a sys.path
folder as pip would (package + .dist-info with entry_points.txt), is discovered."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PLUGIN = '''
import torch
from r4t.rewards import Reward, RewardOutput

class TempoSmoothness(Reward):
    """Rewards sets whose items sit close together (a plugin example)."""
    name = "tempo_smoothness"

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale

    def __call__(self, batch):
        v = torch.full((len(batch.item_emb),), self.scale)
        return RewardOutput(v, {self.name: v})
'''


def install_plugin(site: Path) -> None:
    (site / "r4t_plugin_example").mkdir(parents=True)
    (site / "r4t_plugin_example" / "__init__.py").write_text(PLUGIN)
    info = site / "r4t_plugin_example-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: r4t-plugin-example\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[r4t.rewards]\ntempo_smoothness = r4t_plugin_example:TempoSmoothness\n")


def run_r4t(args, site: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "r4t.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_entry_point_reward_is_listed_and_usable_from_yaml(tmp_path):
    site = tmp_path / "site"
    install_plugin(site)
    listed = run_r4t(["list", "rewards"], site, tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "tempo_smoothness" in listed.stdout and "a plugin example" in listed.stdout

    config = tmp_path / "plugin.yaml"
    config.write_text(textwrap.dedent("""
        run_dir: runs/plugin
        catalog: {name: music, size: tiny}
        embedder: {name: hashing, dim: 32}
        reward:
          components: {alignment: 0.5, tempo_smoothness: {weight: 0.5, scale: 2.0}}
    """))
    ok = run_r4t(["data", "-c", str(config)], site, tmp_path)
    assert ok.returncode == 0, ok.stderr

    # Without the plugin on the path, the same YAML fails and lists the known rewards.
    bad = run_r4t(["data", "-c", str(config)], tmp_path / "empty", tmp_path)
    assert bad.returncode == 2
    assert "reward.components.tempo_smoothness: unknown rewards 'tempo_smoothness'" in bad.stderr
    assert "alignment" in bad.stderr


def test_colliding_plugin_names_are_skipped_with_a_warning_naming_both(tmp_path):
    site = tmp_path / "site"
    install_plugin(site)  # r4t-plugin-example registers tempo_smoothness
    other = site / "r4t_plugin_other-0.2.0.dist-info"
    other.mkdir()
    (other / "METADATA").write_text("Metadata-Version: 2.1\nName: r4t-plugin-other\nVersion: 0.2.0\n")
    (other / "entry_points.txt").write_text("[r4t.rewards]\nalignment = r4t_plugin_example:TempoSmoothness\n"
                                            "tempo_smoothness = r4t_plugin_example:TempoSmoothness\n")
    listed = run_r4t(["list", "rewards"], site, tmp_path)
    assert listed.returncode == 0, listed.stderr
    err = " ".join(listed.stderr.split())
    assert ("rewards plugin 'alignment' from r4t-plugin-other (r4t_plugin_example:TempoSmoothness) is skipped: "
            "the name is already registered by r4t's built-in r4t.rewards.") in err
    # which of the two plugins wins depends on the entry-point order; the warning names both
    assert "rewards plugin 'tempo_smoothness' from r4t-plugin-" in err and "is skipped: the name is already registered by r4t-plugin-" in err
    assert "tempo_smoothness" in listed.stdout


def test_a_plugin_that_exits_on_import_is_reported_not_fatal(tmp_path):
    site = tmp_path / "site"
    (site / "r4t_plugin_exits").mkdir(parents=True)
    (site / "r4t_plugin_exits" / "__init__.py").write_text("import sys\nsys.exit(3)\n")
    info = site / "r4t_plugin_exits-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: r4t-plugin-exits\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[r4t.rewards]\nquitter = r4t_plugin_exits:Quitter\n")
    listed = run_r4t(["list", "rewards"], site, tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "quitter" in listed.stdout and "[failed to load] r4t_plugin_exits:Quitter: SystemExit: 3" in listed.stdout
    assert "alignment" in listed.stdout


def test_a_retriever_breaking_the_set_contract_fails_in_one_line(tiny_data):
    from r4t.errors import DataError
    from r4t.retrievers.base import Retriever

    class Duplicates(Retriever):
        def _retrieve(self, query_emb, k):
            return [[0] * k for _ in query_emb]

    with pytest.raises(DataError, match="retriever Duplicates broke the contract: returned 1 distinct of 10 items for k=10"):
        Duplicates(tiny_data).retrieve(["jazz"], 10)
