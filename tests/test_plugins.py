"""A third-party package with an `r4t.rewards` entry point, installed on a sys.path
folder as pip would (package + .dist-info with entry_points.txt), is discovered."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

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
