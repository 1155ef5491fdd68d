"""Samplers: shapes, seeded determinism, and golden values under closed-form denoisers."""

import math

import pytest
import torch

from r4t.diffusion.samplers import karras_sigmas, samplers

NAMES = ["euler", "dpmpp_2m", "heun", "edm_sde"]


def point_mass(mu):
    return lambda x, sigma: mu.expand_as(x)


def gaussian(sd):
    # data ~ N(0, sd^2): the ideal denoiser is E[x0 | x] = x * sd^2 / (sd^2 + sigma^2)
    return lambda x, sigma: x * sd**2 / (sd**2 + sigma.reshape(-1, 1, 1) ** 2)


def test_karras_sigmas():
    s = karras_sigmas(4, 0.002, 80.0)
    assert s[0].item() == pytest.approx(80.0) and s[-2].item() == pytest.approx(0.002) and s[-1] == 0
    assert torch.all(s[:-1] > s[1:])


@pytest.mark.parametrize("name", NAMES)
def test_shapes_determinism_and_point_mass(name):
    s = samplers.build({"name": name, "steps": 12})
    mu = torch.tensor([[0.3, -0.2, 0.1]])
    a = s.sample(point_mass(mu), (4, 5, 3), torch.Generator().manual_seed(0))
    b = s.sample(point_mass(mu), (4, 5, 3), torch.Generator().manual_seed(0))
    assert a.shape == (4, 5, 3) and torch.equal(a, b)
    torch.testing.assert_close(a, mu.expand(4, 5, 3), atol=1e-5, rtol=0)  # every sampler lands on a point mass


def test_ode_samplers_converge_at_their_order_on_gaussian_data():
    sd, smax = 0.5, 80.0
    def error(name, steps):
        s = samplers.build({"name": name, "steps": steps})
        xT = torch.randn((500, 1, 1), generator=torch.Generator().manual_seed(0), dtype=torch.float64) * smax
        out = s.sample(gaussian(sd), (500, 1, 1), torch.Generator().manual_seed(0), dtype=torch.float64)
        exact = xT * sd / math.sqrt(sd**2 + smax**2)  # the probability-flow ODE's exact endpoint
        return ((out - exact).abs().max() / exact.abs().max()).item()
    assert 1.8 < error("euler", 32) / error("euler", 64) < 2.2  # first order
    assert 3.5 < error("heun", 32) / error("heun", 64) < 4.5  # second order
    assert error("heun", 64) < 0.01
    assert 3.5 < error("dpmpp_2m", 64) / error("dpmpp_2m", 128) < 4.7  # second order at one call per step
    assert error("dpmpp_2m", 64) < 0.01
    assert error("dpmpp_2m", 8) < error("euler", 8) / 1.5  # same calls, more accurate


def test_dpmpp_2m_costs_what_euler_costs_and_starts_as_euler():
    dpm, euler = samplers.build({"name": "dpmpp_2m", "steps": 2}), samplers.build({"name": "euler", "steps": 2})
    assert dpm.network_calls == 2 and samplers.build({"name": "dpmpp_2m", "steps": 7}).network_calls == 7
    # two steps = a first-order first step (no history) and the last step to sigma = 0: exactly Euler's
    a = dpm.sample(gaussian(0.5), (6, 2, 3), torch.Generator().manual_seed(3), dtype=torch.float64)
    b = euler.sample(gaussian(0.5), (6, 2, 3), torch.Generator().manual_seed(3), dtype=torch.float64)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_dpmpp_2m_history_never_leaks_between_runs():
    s = samplers.build({"name": "dpmpp_2m", "steps": 6})
    first = s.sample(gaussian(0.5), (4, 2, 3), torch.Generator().manual_seed(0))
    s.sample(gaussian(2.0), (9, 1, 3), torch.Generator().manual_seed(5))  # another run, shape and data in between
    assert torch.equal(s.sample(gaussian(0.5), (4, 2, 3), torch.Generator().manual_seed(0)), first)
    x = torch.randn(4, 2, 3, generator=torch.Generator().manual_seed(1))
    s.step(gaussian(0.5), x * float(s.sigmas[0]), 0, None)  # leaves a history for step 1 only
    fresh = samplers.build({"name": "dpmpp_2m", "steps": 6})
    torch.testing.assert_close(s.step(gaussian(0.5), x, 3, None), fresh.step(gaussian(0.5), x, 3, None))


def test_dpmpp_2m_serves_concurrent_runs_and_pickles():
    import copy
    import pickle
    import threading

    s = samplers.build({"name": "dpmpp_2m", "steps": 6})
    alone = s.sample(gaussian(0.5), (4, 2, 3), torch.Generator().manual_seed(0))
    inner: list[torch.Tensor] = []
    calls = []

    def interrupted(x, sigma):  # in the middle of this run (after step 0), another thread runs the same sampler
        calls.append(1)
        if len(calls) == 2:
            t = threading.Thread(target=lambda: inner.append(s.sample(gaussian(2.0), (9, 1, 3), torch.Generator().manual_seed(5))))
            t.start()
            t.join()
        return gaussian(0.5)(x, sigma)

    assert torch.equal(s.sample(interrupted, (4, 2, 3), torch.Generator().manual_seed(0)), alone)
    assert inner[0].shape == (9, 1, 3)
    for clone in (pickle.loads(pickle.dumps(s)), copy.deepcopy(s)):
        assert torch.equal(clone.sample(gaussian(0.5), (4, 2, 3), torch.Generator().manual_seed(0)), alone)


def test_stochastic_sampler_is_seeded_and_matches_data_variance():
    s = samplers.build({"name": "edm_sde", "steps": 64})
    a = s.sample(gaussian(0.5), (2000, 1, 1), torch.Generator().manual_seed(1))
    b = s.sample(gaussian(0.5), (2000, 1, 1), torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert a.std().item() == pytest.approx(0.5, rel=0.08)
    assert s.network_calls == 127


@pytest.mark.parametrize("name", ["euler", "dpmpp_2m", "heun"])
def test_temperature_widens_the_prior_and_nothing_else(name):
    # Gaussian data: the ODE is linear in x, so temperature t must scale the endpoint by exactly t
    base = samplers.build({"name": name, "steps": 6})
    hot = samplers.build({"name": name, "steps": 6, "temperature": 3.0})
    a = base.sample(gaussian(0.5), (8, 2, 3), torch.Generator().manual_seed(2), dtype=torch.float64)
    b = hot.sample(gaussian(0.5), (8, 2, 3), torch.Generator().manual_seed(2), dtype=torch.float64)
    torch.testing.assert_close(b, 3.0 * a, rtol=1e-9, atol=1e-12)
    mu = torch.tensor([[0.3, -0.2, 0.1]])  # and a point mass is still hit exactly: no added spread of its own
    torch.testing.assert_close(hot.sample(point_mass(mu), (4, 5, 3), torch.Generator().manual_seed(0)), mu.expand(4, 5, 3), atol=1e-5, rtol=0)


def test_bad_settings_fail_clearly():
    from r4t.errors import ConfigError

    with pytest.raises(ConfigError, match="steps must be >= 1"):
        samplers.build({"name": "euler", "steps": 0})
    with pytest.raises(ConfigError, match="sigma_min < sigma_max"):
        samplers.build({"name": "heun", "sigma_min": 1.0, "sigma_max": 0.5})
    for name in NAMES:
        with pytest.raises(ConfigError, match="temperature must be > 0"):
            samplers.build({"name": name, "temperature": 0.0})
