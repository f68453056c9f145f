"""gan_lab.exercises: right answers pass, stubs and planted wrong answers fail with the right message.

The right answers here are written from the formulas (not by calling the package), as a student
would write them; each wrong answer is one known way to get the formula wrong, and the test asserts
that the check names that mistake.
"""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gan_lab import exercises as ex


# -- right answers, from the formulas -------------------------------------------------------------

def d_loss(d_real, d_fake):
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


def g_nonsat(d_fake):
    return F.softplus(-d_fake).mean()


def g_sat(d_fake):
    return -F.softplus(d_fake).mean()


def d_star(p_data, p_g):
    total = p_data + p_g
    return np.divide(p_data, total, out=np.full_like(total, 0.5), where=total > 0)


def jsd(p, q, cell):
    m = (p + q) / 2

    def kl(a):
        mask = a > 0
        return np.sum(a[mask] * np.log(a[mask] / m[mask])) * cell

    return 0.5 * kl(p) + 0.5 * kl(q)


def accuracy(d_real, d_fake):
    return ((d_real > 0).sum() + (d_fake <= 0).sum()).double() / (d_real.numel() + d_fake.numel())


def _gp(critic, x_real, x_fake, eps_shape=None, create_graph=True, per_pixel=False, reduce="mean"):
    eps_shape = eps_shape or (x_real.shape[0], 1, 1, 1)
    eps = torch.rand(eps_shape, dtype=x_real.dtype)
    x_hat = (eps * x_real + (1 - eps) * x_fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=create_graph)
    norms = grad.pow(2).sum(dim=1).sqrt() if per_pixel else grad.flatten(1).norm(dim=1)
    terms = (norms - 1) ** 2
    return terms.mean() if reduce == "mean" else terms.sum()


def gradient_penalty(critic, x_real, x_fake):
    return _gp(critic, x_real, x_fake)


def pixel_gradient_penalty(critic, x_real, x_fake):
    return _gp(critic, x_real, x_fake, per_pixel=True)


def noise_amplitude(x_rec_up, x_real, factor):
    return factor * torch.sqrt(((x_rec_up - x_real) ** 2).mean()).item()


def kl_normal(mu, logvar):
    return (-0.5 * (1 + logvar - mu ** 2 - logvar.exp())).sum(dim=1).mean()


def feature_matching(f_real, f_fake):
    return (f_real.flatten(1).mean(0) - f_fake.flatten(1).mean(0)).pow(2).sum()


def minibatch_o(f, T, kernels, kernel_dim):
    m = (f @ T).view(-1, kernels, kernel_dim)
    c = torch.exp(-(m[:, None] - m[None]).abs().sum(-1))
    return c.sum(1) - 1


RIGHT = [
    (ex.check_d_loss_minimax, d_loss), (ex.check_g_loss_nonsaturating, g_nonsat),
    (ex.check_g_loss_saturating, g_sat), (ex.check_optimal_discriminator, d_star),
    (ex.check_js_divergence, jsd), (ex.check_d_accuracy, accuracy),
    (ex.check_gradient_penalty, gradient_penalty), (ex.check_pixel_gradient_penalty, pixel_gradient_penalty),
    (ex.check_noise_amplitude, noise_amplitude), (ex.check_kl_normal, kl_normal),
    (ex.check_feature_matching, feature_matching), (ex.check_minibatch_discrimination, minibatch_o),
]


@pytest.mark.parametrize("check, fn", RIGHT, ids=[c.__name__ for c, _ in RIGHT])
def test_right_answers_pass_with_one_line(check, fn, capsys):
    check(fn)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith(check.__name__) and "passed" in out[0]


def test_every_check_is_tested():
    assert {c.__name__ for c, _ in RIGHT} == set(ex.__all__)


def _stub(*args):
    raise NotImplementedError()


@pytest.mark.parametrize("check", [c for c, _ in RIGHT], ids=[c.__name__ for c, _ in RIGHT])
def test_a_stub_fails_and_says_so(check):
    with pytest.raises(AssertionError, match="NotImplementedError"):
        check(_stub)


# -- planted wrong answers ------------------------------------------------------------------------

def _gp_per_pixel_eps(critic, x_real, x_fake):
    return _gp(critic, x_real, x_fake, eps_shape=x_real.shape)


def _gp_per_batch_eps(critic, x_real, x_fake):
    return _gp(critic, x_real, x_fake, eps_shape=(1, 1, 1, 1))


def _gp_no_create_graph(critic, x_real, x_fake):
    return _gp(critic, x_real, x_fake, create_graph=False)


def _gp_per_pixel_norm(critic, x_real, x_fake):
    return _gp(critic, x_real, x_fake, per_pixel=True)


def _gp_sum(critic, x_real, x_fake):
    return _gp(critic, x_real, x_fake, reduce="sum")


def _gp_at_real(critic, x_real, x_fake):
    x = x_real.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def _gp_squared_norm(critic, x_real, x_fake):
    eps = torch.rand(x_real.shape[0], 1, 1, 1, dtype=x_real.dtype)
    x_hat = (eps * x_real + (1 - eps) * x_fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).pow(2).sum(1) - 1) ** 2).mean()


def _gp_vector(critic, x_real, x_fake):
    eps = torch.rand(x_real.shape[0], 1, 1, 1, dtype=x_real.dtype)
    x_hat = (eps * x_real + (1 - eps) * x_fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1) ** 2


PLANTED = [
    # (check, wrong function, what the message must say)
    (ex.check_gradient_penalty, _gp_per_pixel_eps, "one mixing weight per pixel"),
    (ex.check_gradient_penalty, _gp_per_batch_eps, "shared by the whole batch"),
    (ex.check_gradient_penalty, _gp_no_create_graph, "create_graph=True"),
    (ex.check_gradient_penalty, _gp_per_pixel_norm, "norm is taken per pixel"),
    (ex.check_gradient_penalty, _gp_sum, "summed over the batch"),
    (ex.check_gradient_penalty, _gp_at_real, "taken at x_real"),
    (ex.check_gradient_penalty, _gp_squared_norm, "squared norm"),
    (ex.check_gradient_penalty, _gp_vector, "shape (8,)"),
    (ex.check_pixel_gradient_penalty, gradient_penalty, "over the whole image"),
    (ex.check_pixel_gradient_penalty, lambda c, a, b: _gp(c, a, b, per_pixel=True, reduce="sum"), "summed"),
    (ex.check_pixel_gradient_penalty, lambda c, a, b: _gp(c, a, b, per_pixel=True, create_graph=False),
     "create_graph=True"),
    (ex.check_feature_matching, lambda a, b: (a.flatten(1) - b.flatten(1)).pow(2).sum(1).mean(),
     "per-sample distance"),
    (ex.check_feature_matching, lambda a, b: (a.flatten(1).mean(0) - b.flatten(1).mean(0)).pow(2).mean(),
     "averaged instead of summed over the feature"),
    (ex.check_feature_matching, lambda a, b: (a.flatten(1).mean(0) - b.flatten(1).mean(0)).norm(), "not squared"),
    (ex.check_feature_matching, lambda a, b: (a.flatten(1).mean(0) - b.flatten(1).mean(0).detach()).pow(2).sum(),
     "no .detach() of f_fake"),
    (ex.check_kl_normal, lambda mu, lv: -kl_normal(mu, lv), "sign is wrong"),
    (ex.check_kl_normal, lambda mu, lv: (-0.5 * (1 + lv - mu ** 2 - lv.exp())).mean(),
     "latent dimensions are averaged"),
    (ex.check_kl_normal, lambda mu, lv: (-0.5 * (1 + lv - mu ** 2 - lv.exp())).sum(), "batch is summed"),
    (ex.check_kl_normal, lambda mu, lv: (-0.5 * (1 + lv - mu ** 2 - lv.exp())).sum(1), "expected a scalar"),
    (ex.check_kl_normal, lambda mu, lv: 2 * kl_normal(mu, lv), "factor 1/2 is missing"),
    (ex.check_kl_normal, lambda mu, lv: (-0.5 * (1 + lv - mu ** 2 - lv.exp() ** 2)).sum(1).mean(), "squared"),
    (ex.check_kl_normal, lambda mu, lv: kl_normal(mu, lv).item(), "back-propagated"),
    (ex.check_optimal_discriminator, lambda p_data, p_g: d_star(p_g, p_data), "p_data and p_g are swapped"),
    (ex.check_optimal_discriminator, lambda p_data, p_g: p_data / p_g, "p_data / p_g"),
    (ex.check_optimal_discriminator, lambda p_data, p_g: p_data / (p_data + p_g), "return 1/2"),
    (ex.check_optimal_discriminator, lambda p_data, p_g: (p_data > p_g).astype(float), "hard 0/1"),
    (ex.check_js_divergence, lambda p, q, c: jsd(p, q, c) / math.log(2), "bits"),
    (ex.check_js_divergence, lambda p, q, c: 2 * jsd(p, q, c), "factor 1/2"),
    (ex.check_js_divergence, lambda p, q, c: jsd(p, q, 1.0), "grid cell"),
    (ex.check_d_loss_minimax, lambda r, f: d_loss(f, r), "targets are swapped"),
    (ex.check_d_loss_minimax, lambda r, f: -d_loss(r, f), "sign is wrong"),
    (ex.check_d_loss_minimax, lambda r, f: F.softplus(-r).sum() + F.softplus(f).sum(), "summed over the batch"),
    (ex.check_d_loss_minimax, lambda r, f: -(torch.sigmoid(r).log().mean() + (1 - torch.sigmoid(f)).log().mean()),
     "underflows"),
    (ex.check_g_loss_nonsaturating, g_sat, "saturating loss"),
    (ex.check_g_loss_saturating, g_nonsat, "non-saturating loss"),
    (ex.check_g_loss_saturating, lambda f: F.softplus(f).mean(), "sign is wrong"),
    (ex.check_d_accuracy, lambda r, f: ((r > 0).double().mean() + (f <= 0).double().mean()) / 2,
     "different sizes"),
    (ex.check_d_accuracy, lambda r, f: ((r > 0).sum() + (f < 0).sum()).double() / (r.numel() + f.numel()),
     "exactly 0"),
    (ex.check_noise_amplitude, lambda a, b, k: k * ((a - b) ** 2).mean().item(), "square root is missing"),
    (ex.check_noise_amplitude, lambda a, b, k: ((a - b) ** 2).mean().sqrt().item(), "factor is missing"),
    (ex.check_noise_amplitude, lambda a, b, k: k * ((a - b) ** 2).sum().sqrt().item(), "summed"),
    (ex.check_minibatch_discrimination, lambda f, T, k, d: minibatch_o(f, T, k, d) + 1, "leave out j = i"),
    (ex.check_minibatch_discrimination,
     lambda f, T, k, d: torch.exp(-((f @ T).view(-1, k, d)[:, None] - (f @ T).view(-1, k, d)[None]).pow(2).sum(-1)
                                  .sqrt()).sum(1) - 1, "L2 distance"),
    (ex.check_minibatch_discrimination, lambda f, T, k, d: torch.cat([f, minibatch_o(f, T, k, d)], 1), "only o"),
]


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")    # the planted 0/0
@pytest.mark.parametrize("check, fn, message", PLANTED,
                         ids=[f"{c.__name__}-{m}" for c, _, m in PLANTED])
def test_planted_errors_are_named(check, fn, message):
    with pytest.raises(AssertionError) as info:
        check(fn)
    assert message in str(info.value), str(info.value)


def test_a_bug_in_the_students_code_is_a_failed_check_with_its_cause():
    def broken(mu, logvar):
        return mu @ logvar          # (B, J) @ (B, J): a shape error

    with pytest.raises(AssertionError, match="RuntimeError"):
        ex.check_kl_normal(broken)


def test_a_float32_tensor_made_inside_the_function_gets_a_hint():
    def features(f, T, kernels, kernel_dim):
        m = (f @ T.float()).view(-1, kernels, kernel_dim)      # float32 weights, float64 features
        return torch.exp(-(m[:, None] - m[None]).abs().sum(-1)).sum(1) - 1

    with pytest.raises(AssertionError, match="dtype=x.dtype"):
        ex.check_minibatch_discrimination(features)
