"""Toy densities, divergences and the optimal discriminator, checked against independent routes."""
import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats
from scipy.spatial.distance import jensenshannon

from gan_lab import toy


def test_optimal_discriminator_by_hand():
    d = toy.optimal_discriminator([3.0, 1.0, 0.0, 0.0], [1.0, 1.0, 2.0, 0.0])
    np.testing.assert_allclose(d, [0.75, 0.5, 0.0, 0.5])


def test_mixture_pdf_matches_scipy_and_integrates_to_one():
    p = toy.GaussianMixture(means=[-1.0, 2.0], stds=[0.5, 1.0], weights=[1, 3])
    x = np.linspace(-4, 6, 11)
    expected = 0.25 * stats.norm.pdf(x, -1, 0.5) + 0.75 * stats.norm.pdf(x, 2, 1.0)
    np.testing.assert_allclose(p.pdf(x), expected, rtol=1e-12)
    total, _ = integrate.quad(lambda t: float(p.pdf(t)), -20, 20)
    assert total == pytest.approx(1.0, abs=1e-8)


def test_mixture_2d_pdf_and_samples():
    p = toy.GaussianMixture(means=[[0.0, 0.0], [3.0, 1.0]], stds=[1.0, 0.5], weights=[0.5, 0.5])
    point = np.array([0.5, -0.5])
    expected = 0.5 * stats.multivariate_normal.pdf(point, [0, 0], np.eye(2)) + \
        0.5 * stats.multivariate_normal.pdf(point, [3, 1], 0.25 * np.eye(2))
    assert p.pdf(point) == pytest.approx(expected, rel=1e-12)
    x = p.sample(40_000, torch.Generator().manual_seed(0))
    assert x.shape == (40_000, 2) and x.dtype == torch.float32
    np.testing.assert_allclose(x.mean(0).numpy(), [1.5, 0.5], atol=0.03)


def test_bad_mixture_arguments():
    with pytest.raises(ValueError):
        toy.GaussianMixture(means=[0.0], stds=[-1.0])
    with pytest.raises(ValueError):
        toy.GaussianMixture(means=[0.0, 1.0], stds=[1.0, 1.0], weights=[1.0])
    with pytest.raises(ValueError):
        toy.Uniform1D(1.0, 0.0)


def test_jsd_matches_scipy_on_a_grid():
    x, dx = toy.grid_1d(-8, 10, 4001)
    p = toy.GaussianMixture(means=[0.0], stds=[1.0]).pdf(x)
    q = toy.GaussianMixture(means=[1.5, 4.0], stds=[0.7, 1.2]).pdf(x)
    ours = toy.js_divergence(p, q, dx)
    # scipy returns the JS *distance* (square root), natural log by default
    assert ours == pytest.approx(jensenshannon(p, q) ** 2, rel=1e-6)
    assert 0 < ours < math.log(2)


def test_jsd_limits():
    x, dx = toy.grid_1d(-5, 5, 1000)
    p = toy.Uniform1D(-2, -1).pdf(x)
    q = toy.Uniform1D(1, 2).pdf(x)
    assert toy.js_divergence(p, p, dx) == pytest.approx(0.0, abs=1e-12)
    assert toy.js_divergence(p, q, dx) == pytest.approx(math.log(2), rel=1e-9)
    assert toy.kl_divergence(p, q, dx) == math.inf


def test_value_at_optimum_is_minus_log4_plus_2jsd():
    x, dx = toy.grid_1d(-16, 18, 6001)
    p = toy.GaussianMixture(means=[0.0, 3.0], stds=[1.0, 0.5]).pdf(x)
    q = toy.GaussianMixture(means=[1.0], stds=[2.0]).pdf(x)
    v = toy.value_at_optimum(p, q, dx)
    assert v == pytest.approx(-math.log(4) + 2 * jensenshannon(p, q) ** 2, abs=1e-6)
    # identical densities: D* = 1/2 everywhere and V = -log 4
    assert toy.value_at_optimum(p, p, dx) == pytest.approx(-math.log(4), abs=1e-6)


def test_shifted_uniform_closed_form_and_w1():
    x, dx = toy.grid_1d(-1, 4, 20_000)
    p = toy.Uniform1D(0, 1).pdf(x)
    for theta in (0.25, 0.5, 1.0, 2.0):
        q = toy.Uniform1D(theta, theta + 1).pdf(x)
        assert toy.js_divergence(p, q, dx) == pytest.approx(toy.shifted_uniform_jsd(theta), abs=2e-3)
        assert toy.wasserstein1_1d(p, q, dx) == pytest.approx(theta, abs=2e-3)
    assert toy.shifted_uniform_jsd(3.0) == pytest.approx(math.log(2))


def test_w1_against_scipy_on_samples():
    x, dx = toy.grid_1d(-10, 12, 8000)
    a = toy.GaussianMixture(means=[0.0], stds=[1.0])
    b = toy.GaussianMixture(means=[2.0, 5.0], stds=[0.5, 1.0])
    g = torch.Generator().manual_seed(1)
    sa, sb = a.sample(100_000, g).numpy()[:, 0], b.sample(100_000, g).numpy()[:, 0]
    assert toy.wasserstein1_1d(a.pdf(x), b.pdf(x), dx) == pytest.approx(
        stats.wasserstein_distance(sa, sb), abs=0.03)


def test_monte_carlo_jsd_agrees_with_grid_in_2d():
    grid, cell = toy.grid_2d(-6, 8, 401)
    p = toy.GaussianMixture(means=[[0.0, 0.0]], stds=[1.0])
    q = toy.GaussianMixture(means=[[2.0, 1.0], [-1.0, 3.0]], stds=[1.0, 0.7])
    on_grid = toy.js_divergence(p.pdf(grid), q.pdf(grid), cell)
    mc = toy.js_divergence_monte_carlo(p, q, 100_000, torch.Generator().manual_seed(0))
    assert on_grid == pytest.approx(mc, abs=5e-3)


def test_kde_recovers_a_gaussian():
    x, _ = toy.grid_1d(-4, 4, 200)
    samples = torch.randn(20_000, generator=torch.Generator().manual_seed(0)).numpy()
    np.testing.assert_allclose(toy.gaussian_kde_1d(samples, x), stats.norm.pdf(x), atol=0.02)


def test_mlp_shapes():
    G = toy.make_generator(latent_dim=2, dim=1)
    D = toy.make_discriminator(dim=1)
    x = G(torch.randn(5, 2))
    assert x.shape == (5, 1) and D(x).shape == (5,)
    grid, _ = toy.grid_2d(-1, 1, 7)
    assert toy.d_on_grid(toy.make_discriminator(dim=2), grid, dim=2).shape == (7, 7)


def test_fit_discriminator_approaches_optimum():
    torch.manual_seed(0)
    p = toy.GaussianMixture(means=[0.0], stds=[1.0])
    q = toy.GaussianMixture(means=[1.5], stds=[1.0])
    D = toy.make_discriminator(hidden=16)
    g = torch.Generator().manual_seed(0)
    toy.fit_discriminator(D, p, q, steps=400, batch_size=256, lr=3e-3, generator=g)
    x, dx = toy.grid_1d(-1.5, 3.0, 200)
    d_star = toy.optimal_discriminator(p.pdf(x), q.pdf(x))
    assert np.max(np.abs(toy.d_on_grid(D, x) - d_star)) < 0.08
    grid, dxf = toy.grid_1d(-10, 12, 4000)
    v_star = toy.value_at_optimum(p.pdf(grid), q.pdf(grid), dxf)
    v = toy.value_estimate(D, p, q, 50_000, g)
    assert v <= v_star + 0.01 and v == pytest.approx(v_star, abs=0.02)


def test_vertical_segments_are_parallel_lines():
    x = toy.VerticalSegment(2.5).sample(1000, torch.Generator().manual_seed(0))
    assert x.shape == (1000, 2)
    assert torch.all(x[:, 0] == 2.5)
    assert 0.0 <= x[:, 1].min() and x[:, 1].max() <= 1.0 and abs(x[:, 1].mean().item() - 0.5) < 0.05


def test_fit_critic_with_penalty_estimates_w1_of_parallel_lines():
    # W1 between the segments at x = 0 and x = 1 is 1. The soft penalty lets the critic's slope
    # between them settle at 1 + theta / (2 lambda) (minimise theta * s + lambda (s - 1)^2): 1.05 here
    torch.manual_seed(0)
    f = toy.make_discriminator(dim=2, hidden=32)
    g = torch.Generator().manual_seed(0)
    est = toy.fit_critic(f, toy.VerticalSegment(0.0), toy.VerticalSegment(1.0), steps=300, batch_size=256,
                         lr=1e-3, constraint="gp", generator=g)
    assert np.mean(est[-50:]) == pytest.approx(1.05, abs=0.1)
    # the trained critic points the generator home: d(-E f(G))/d(shift) is about +1
    shift = torch.tensor(1.0, requires_grad=True)
    x_fake = toy.VerticalSegment(0.0).sample(5000, g) + torch.stack([shift, torch.tensor(0.0)])
    (grad,) = torch.autograd.grad(-f(x_fake).mean(), shift)
    assert grad.item() == pytest.approx(1.05, abs=0.15)


def test_fit_critic_with_clipping_keeps_weights_in_the_box():
    torch.manual_seed(0)
    f = toy.make_discriminator(dim=2, hidden=16)
    est = toy.fit_critic(f, toy.VerticalSegment(0.0), toy.VerticalSegment(2.0), steps=100, batch_size=128,
                         lr=5e-4, constraint="clip", clip_value=0.01, generator=torch.Generator().manual_seed(0))
    assert all(p.abs().max().item() <= 0.01 for p in f.parameters())
    assert 0 < np.mean(est[-20:]) < 0.01          # the right sign, on a tiny scale K * W1
    with pytest.raises(ValueError, match="constraint"):
        toy.fit_critic(f, toy.VerticalSegment(0.0), toy.VerticalSegment(1.0), constraint="spectral")
