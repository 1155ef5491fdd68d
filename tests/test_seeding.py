"""Library code seeds its own draws and leaves the caller's random stream and grad mode alone."""

import torch

from r4t.seeding import seeded, seeded_or_not


def test_seeded_blocks_are_reproducible_and_restore_the_stream():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    with seeded(7):
        a = torch.rand(2)
    with seeded(7):
        b = torch.rand(2)
    assert torch.equal(a, b)
    assert torch.equal(torch.rand(3), expected)  # as if the blocks never ran
    torch.manual_seed(5)
    with seeded_or_not(None):  # no seed: the caller's stream is used and advanced
        c = torch.rand(1)
    torch.manual_seed(5)
    assert torch.equal(c, torch.rand(1))


def test_policy_sampling_and_synthesis_leave_the_callers_rng_and_grad_mode(tiny_data, tiny_policy_dir, tmp_path):
    from r4t.fanout.policy import load_policy
    from r4t.rewards import build_reward
    from r4t.synth.transducer import SynthConfig, synthesize

    policy = load_policy(str(tiny_policy_dir), domain="music", subqueries=3)
    q = [tiny_data.catalog.queries_for(kind="open")[0].text]
    torch.manual_seed(0)
    expected = torch.rand(4)
    torch.manual_seed(0)
    first = policy.sample(q, 2, seed=11)
    cfg = SynthConfig(samples_per_query=2, queries_per_shard=8, set_size=10, max_queries=8)
    synthesize(tiny_data, policy, build_reward(None), cfg, tmp_path / "shards", policy_id="tiny", progress=False)
    assert torch.equal(torch.rand(4), expected) and torch.is_grad_enabled()
    assert policy.sample(q, 2, seed=11) == first
