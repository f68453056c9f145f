"""The losses of WGAN(-GP), VAE-GAN, ImprovedDCGAN and DNFM-GAN against their formulas.

Every expected value is worked out by hand (in the comments) or by an independent route
(numpy, torch.distributions), never by calling the function under test.
"""
import math

import numpy as np
import pytest
import torch
from torch import nn

from gan_lab import losses
from gan_lab.nn import HistoricalAverage, MinibatchDiscrimination, step_separately


class LinearCritic(nn.Module):
    """f(x) = w . x per sample (w has the shape of one sample); ``patch=True`` returns the map w * x."""

    def __init__(self, w: torch.Tensor, patch: bool = False):
        super().__init__()
        self.w = nn.Parameter(w.clone())
        self.patch = patch
        self.seen = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        out = x * self.w                                   # (B, C, H, W)
        return out if self.patch else out.flatten(1).sum(dim=1)


# -- Wasserstein losses -----------------------------------------------------------------------------

def test_wasserstein_losses_hand_values():
    d_real = torch.tensor([1.0, 3.0])      # mean 2
    d_fake = torch.tensor([-1.0, 0.5])     # mean -0.25
    total, real, fake = losses.wasserstein_critic_loss(d_real, d_fake)
    assert total.item() == pytest.approx(-0.25 - 2.0)
    assert real.item() == pytest.approx(-2.0) and fake.item() == pytest.approx(-0.25)
    assert losses.wasserstein_generator_loss(d_fake).item() == pytest.approx(0.25)


def test_wasserstein_critic_loss_averages_a_patch_map():
    # a PatchGAN critic's (B, 1, H, W) map: every score counts once in the mean
    d_real = torch.arange(8.0).view(2, 1, 2, 2)    # mean 3.5
    d_fake = torch.ones(2, 1, 2, 2)
    assert losses.wasserstein_critic_loss(d_real, d_fake).total.item() == pytest.approx(1.0 - 3.5)


@pytest.mark.parametrize("patch", [False, True])
def test_gradient_penalty_linear_critic_is_exact(patch):
    # grad of w.x is w everywhere, so every interpolate gives (||w|| - 1)^2; ||w|| = sqrt(9 + 16) = 5 -> 16
    w = torch.zeros(1, 2, 2)
    w[0, 0, 0], w[0, 1, 1] = 3.0, 4.0
    critic = LinearCritic(w, patch=patch)
    torch.manual_seed(0)
    x_real, x_fake = torch.randn(6, 1, 2, 2), torch.randn(6, 1, 2, 2)
    assert losses.gradient_penalty(critic, x_real, x_fake).item() == pytest.approx(16.0, abs=1e-5)


def test_gradient_penalty_zero_for_unit_norm_and_backprops_into_critic():
    w = torch.tensor([[[0.6, 0.0], [0.0, 0.8]]])          # ||w|| = 1 -> penalty 0
    critic = LinearCritic(w)
    gp = losses.gradient_penalty(critic, torch.randn(3, 1, 2, 2), torch.randn(3, 1, 2, 2))
    assert gp.item() == pytest.approx(0.0, abs=1e-10)
    # ||w|| = 2: penalty (2 - 1)^2 = 1, d/dw = 2 (||w|| - 1) w / ||w|| = w (needs create_graph=True)
    critic = LinearCritic(torch.tensor([[[1.2, 0.0], [0.0, 1.6]]]))
    gp = losses.gradient_penalty(critic, torch.randn(3, 1, 2, 2), torch.randn(3, 1, 2, 2))
    gp.backward()
    assert gp.item() == pytest.approx(1.0, abs=1e-5)
    assert torch.allclose(critic.w.grad, critic.w.detach(), atol=1e-5)


def test_gradient_penalty_mixes_with_one_weight_per_sample():
    critic = LinearCritic(torch.ones(3, 4, 4))
    torch.manual_seed(1)
    x_real, x_fake = torch.randn(8, 3, 4, 4), torch.randn(8, 3, 4, 4)
    losses.gradient_penalty(critic, x_real, x_fake)
    x_hat = critic.seen[-1]
    eps = (x_hat - x_fake) / (x_real - x_fake)              # (B, C, H, W): the mixing weight per element
    per_sample = eps.flatten(1)
    # the same weight for every pixel and channel of a sample ...
    assert torch.allclose(per_sample, per_sample[:, :1].expand_as(per_sample), atol=1e-4)
    # ... in [0, 1], different between samples, and not the endpoint eps = 1 (the real sample)
    assert ((per_sample >= -1e-5) & (per_sample <= 1 + 1e-5)).all()
    assert per_sample[:, 0].unique().numel() == 8
    assert not torch.allclose(x_hat, x_real)


def test_gradient_penalty_nonlinear_critic_matches_hand_gradient():
    # f(x) = sum(x^2): grad 2 x_hat, penalty mean_b (2 ||x_hat_b|| - 1)^2, computed with numpy
    class Square(nn.Module):
        def __init__(self):
            super().__init__()
            self.seen = None

        def forward(self, x):
            self.seen = x.detach().numpy().copy()
            return (x ** 2).flatten(1).sum(dim=1)

    critic = Square()
    gp = losses.gradient_penalty(critic, torch.randn(5, 2, 3, 3), torch.randn(5, 2, 3, 3))
    norms = 2 * np.sqrt((critic.seen.reshape(5, -1) ** 2).sum(axis=1))
    assert gp.item() == pytest.approx(float(np.mean((norms - 1) ** 2)), rel=1e-5)


def test_gradient_penalty_rejects_mismatched_shapes():
    with pytest.raises(ValueError):
        losses.gradient_penalty(LinearCritic(torch.ones(1, 2, 2)), torch.zeros(2, 1, 2, 2), torch.zeros(3, 1, 2, 2))


# -- SinGAN's per-pixel penalty and reconstruction ----------------------------------------------------

def test_pixel_gradient_penalty_one_norm_per_pixel():
    # a 1x1 conv f(x) = sum_c w_c x_c: every pixel's gradient is w, ||w|| = sqrt(4 + 0 + 4) -> (sqrt 8 - 1)^2;
    # the whole-image norm would be sqrt(H W) times larger
    conv = nn.Conv2d(3, 1, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([2.0, 0.0, -2.0]).view(1, 3, 1, 1))
    x_real, x_fake = torch.randn(2, 3, 5, 4), torch.randn(2, 3, 5, 4)
    gp = losses.pixel_gradient_penalty(conv, x_real, x_fake, eps=torch.full((2, 1, 1, 1), 0.3))
    assert gp.item() == pytest.approx((math.sqrt(8.0) - 1) ** 2, rel=1e-5)


def test_pixel_gradient_penalty_against_numpy_for_a_nonlinear_critic():
    # f(x) = sum x^2: the gradient at pixel (i, j) is 2 x_hat[:, :, i, j]
    x_real, x_fake = torch.randn(2, 2, 3, 3), torch.randn(2, 2, 3, 3)
    eps = torch.tensor([0.2, 0.7]).view(2, 1, 1, 1)
    gp = losses.pixel_gradient_penalty(lambda x: x.pow(2), x_real, x_fake, eps=eps)
    e = eps.numpy()
    x_hat = e * x_real.numpy() + (1 - e) * x_fake.numpy()
    norms = np.sqrt(((2 * x_hat) ** 2).sum(axis=1))            # (B, H, W)
    assert gp.item() == pytest.approx(float(np.mean((norms - 1) ** 2)), rel=1e-5)


def test_reconstruction_loss_is_the_mean_squared_error():
    x_rec = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    x_real = torch.tensor([[1.0, 0.0], [0.0, 4.0]])
    assert losses.reconstruction_loss(x_rec, x_real).item() == pytest.approx((0 + 4 + 9 + 0) / 4)


# -- VAE-GAN and DNFM-GAN ---------------------------------------------------------------------------

def test_kl_normal_hand_values():
    # mu = 1, sigma^2 = 1: KL = mu^2 / 2 = 0.5 per dimension
    assert losses.kl_normal(torch.ones(1, 1), torch.zeros(1, 1)).item() == pytest.approx(0.5)
    # mu = 0, sigma^2 = 2: KL = (sigma^2 - 1 - log sigma^2) / 2 = (1 - log 2) / 2
    value = losses.kl_normal(torch.zeros(1, 1), torch.full((1, 1), math.log(2.0))).item()
    assert value == pytest.approx((1 - math.log(2.0)) / 2)
    # summed over dimensions: two dimensions of the first case give 1.0; averaged over the batch
    assert losses.kl_normal(torch.ones(3, 2), torch.zeros(3, 2)).item() == pytest.approx(1.0)


def test_kl_normal_matches_torch_distributions():
    torch.manual_seed(2)
    mu, logvar = torch.randn(4, 6), torch.randn(4, 6)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    expected = torch.distributions.kl_divergence(q, p).sum(dim=1).mean()
    assert losses.kl_normal(mu, logvar).item() == pytest.approx(expected.item(), rel=1e-5)


def test_noise_penalty_hand_value():
    z = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    z_rec = torch.tensor([[3.0, 4.0], [1.0, 2.0]])
    # per-sample squared norms 25 and 1, batch mean 13
    assert losses.noise_penalty(z, z_rec).item() == pytest.approx(13.0)
    with pytest.raises(ValueError):
        losses.noise_penalty(z, z_rec[:, :1])


def test_feature_matching_against_numpy():
    rng = np.random.default_rng(0)
    f_real, f_fake = rng.normal(size=(16, 3, 2, 2)), rng.normal(1.0, 2.0, size=(16, 3, 2, 2))
    a, b = f_real.reshape(16, -1), f_fake.reshape(16, -1)
    mean_term = np.sum((a.mean(0) - b.mean(0)) ** 2)
    std_term = np.sum((a.std(0) - b.std(0)) ** 2)           # population std (ddof=0)
    tr, tf = torch.tensor(f_real), torch.tensor(f_fake)
    plain = losses.feature_matching(tr, tf)
    assert plain.total.item() == pytest.approx(mean_term, rel=1e-6)
    # the std distance is reported even when it is not in the total
    assert plain.mean.item() == pytest.approx(mean_term, rel=1e-6)
    assert plain.std.item() == pytest.approx(std_term, rel=1e-6)
    enhanced = losses.feature_matching(tr, tf, std_weight=0.7)
    assert enhanced.total.item() == pytest.approx(mean_term + 0.7 * std_term, rel=1e-6)
    assert enhanced.std.item() == pytest.approx(std_term, rel=1e-6)


def test_feature_matching_is_on_batch_means_not_per_sample():
    f_real = torch.tensor([[0.0], [2.0]])
    f_fake = torch.tensor([[2.0], [0.0]])          # same batch mean and std, every sample differs
    assert losses.feature_matching(f_real, f_fake, std_weight=1.0).total.item() == pytest.approx(0.0, abs=1e-6)
    # shifting every fake feature by 1 moves the mean by 1: loss 1 (per-sample MSE would say 5 / 1)
    assert losses.feature_matching(f_real, f_fake + 1).total.item() == pytest.approx(1.0)
    # std term: real std 1, fake std 3 -> (1 - 3)^2 = 4, mean term 0
    wide = torch.tensor([[-2.0], [4.0]])
    loss = losses.feature_matching(f_real, wide, std_weight=0.5)
    assert loss.total.item() == pytest.approx(0.5 * 4.0, rel=1e-6)
    assert (loss.mean.item(), loss.std.item()) == pytest.approx((0.0, 4.0), abs=1e-6)


def test_feature_matching_gradient_finite_for_constant_features():
    f_fake = torch.zeros(4, 3, requires_grad=True)
    losses.feature_matching(torch.randn(4, 3), f_fake, std_weight=1.0).total.backward()
    assert torch.isfinite(f_fake.grad).all()


def _bce_with_logits(s, target):
    """numpy: -(t log sigmoid(s) + (1 - t) log(1 - sigmoid(s))), batch mean."""
    s = np.asarray(s, dtype=np.float64)
    return float(np.mean(target * np.logaddexp(0, -s) + (1 - target) * np.logaddexp(0, s)))


def test_vaegan_d_loss_hand_values():
    # logits 0 -> every cross-entropy is log 2; D(x) = sigma(2), x~ at sigma(-1), G(z_p) at sigma(1)
    d_real, d_rec, d_prior = torch.tensor([0.0, 2.0]), torch.tensor([0.0, -1.0]), torch.tensor([1.0])
    total, real, rec, prior = losses.vaegan_d_loss(d_real, d_rec, d_prior)
    # -log D(x) = (log 2 + log(1 + e^-2)) / 2
    assert real.item() == pytest.approx((math.log(2) + math.log1p(math.exp(-2))) / 2, rel=1e-6)
    # -log(1 - D(x~)) = (log 2 + log(1 + e^-1)) / 2
    assert rec.item() == pytest.approx((math.log(2) + math.log1p(math.exp(-1))) / 2, rel=1e-6)
    # -log(1 - D(G(z_p))) = log(1 + e)
    assert prior.item() == pytest.approx(math.log1p(math.e), rel=1e-6)
    assert total.item() == pytest.approx(
        _bce_with_logits([0, 2], 1) + _bce_with_logits([0, -1], 0) + _bce_with_logits([1], 0), rel=1e-6)


def test_vaegan_decoder_loss_is_nonsaturating_on_both_fakes():
    d_rec, d_prior = torch.tensor([-1.0, 3.0]), torch.tensor([0.5])
    total, rec, prior = losses.vaegan_g_loss(d_rec, d_prior)
    assert rec.item() == pytest.approx(_bce_with_logits([-1, 3], 1), rel=1e-6)
    assert prior.item() == pytest.approx(_bce_with_logits([0.5], 1), rel=1e-6)
    assert total.item() == pytest.approx(_bce_with_logits([-1, 3], 1) + _bce_with_logits([0.5], 1), rel=1e-6)
    # the decoder lowers its loss by making D call x~ real: d/ds of -log sigma(s) is sigma(s) - 1 < 0
    s = torch.tensor([0.0], requires_grad=True)
    losses.vaegan_g_loss(s, torch.tensor([0.0])).total.backward()
    assert s.grad.item() == pytest.approx(-0.5)


def test_llike_loss_hand_value():
    # sample 1: features differ by (3, 4) -> 0.5 * 25; sample 2: by (1, 0) -> 0.5; batch mean 6.5
    f_real = torch.zeros(2, 1, 1, 2)
    f_rec = torch.tensor([[3.0, 4.0], [1.0, 0.0]]).view(2, 1, 1, 2)
    assert losses.llike_loss(f_real, f_rec).item() == pytest.approx(6.5)
    with pytest.raises(ValueError):
        losses.llike_loss(f_real, torch.zeros(2, 3))


def test_llike_loss_is_a_gaussian_negative_log_likelihood():
    # -log N(f_real; f_rec, I) summed over features = 0.5 ||f_real - f_rec||^2 + F/2 log(2 pi)
    torch.manual_seed(5)
    f_real, f_rec = torch.randn(3, 4), torch.randn(3, 4)
    nll = -torch.distributions.Normal(f_rec, torch.ones_like(f_rec)).log_prob(f_real).sum(dim=1).mean()
    const = 4 / 2 * math.log(2 * math.pi)
    assert losses.llike_loss(f_real, f_rec).item() == pytest.approx(nll.item() - const, rel=1e-5)


def test_dnfm_d_loss_halves_the_fake_terms():
    d_real, d_fake, d_noisy = torch.tensor([0.0, 2.0]), torch.tensor([0.0, -1.0]), torch.tensor([3.0])
    total, real, fake, noisy = losses.dnfm_d_loss(d_real, d_fake, d_noisy)
    assert real.item() == pytest.approx(_bce_with_logits([0, 2], 1), rel=1e-6)
    assert fake.item() == pytest.approx(_bce_with_logits([0, -1], 0), rel=1e-6)
    assert noisy.item() == pytest.approx(math.log1p(math.exp(3)), rel=1e-6)
    expected = _bce_with_logits([0, 2], 1) + 0.5 * (_bce_with_logits([0, -1], 0) + math.log1p(math.exp(3)))
    assert total.item() == pytest.approx(expected, rel=1e-6)
    # label smoothing touches only the real term: -(0.9 log sigma(s) + 0.1 log(1 - sigma(s)))
    smooth = losses.dnfm_d_loss(d_real, d_fake, d_noisy, real_label=0.9)
    assert smooth.real.item() == pytest.approx(_bce_with_logits([0, 2], 0.9), rel=1e-6)
    assert smooth.fake.item() == pytest.approx(fake.item())


def test_historical_average_penalty_hand_value():
    params = [torch.tensor([1.0, 2.0]), torch.tensor([[3.0]])]
    means = [torch.tensor([0.0, 0.0]), torch.tensor([[1.0]])]
    assert losses.historical_average_penalty(params, means).item() == pytest.approx(1 + 4 + 4)


# -- layers used by the losses ----------------------------------------------------------------------

def test_minibatch_discrimination_against_loops():
    torch.manual_seed(3)
    layer = MinibatchDiscrimination(4, kernels=3, kernel_dim=2)
    f = torch.randn(5, 4)
    out = layer(f).detach().numpy()
    M = (f.numpy() @ layer.T.detach().numpy()).reshape(5, 3, 2)
    expected = np.zeros((5, 3))
    for i in range(5):
        for j in range(5):
            if i != j:
                expected[i] += np.exp(-np.abs(M[i] - M[j]).sum(axis=1))
    assert out.shape == (5, 7)
    np.testing.assert_allclose(out[:, :4], f.numpy(), rtol=1e-6)
    np.testing.assert_allclose(out[:, 4:], expected, rtol=1e-5, atol=1e-6)


def test_minibatch_features_detect_a_collapsed_batch():
    torch.manual_seed(4)
    layer = MinibatchDiscrimination(8, kernels=4, kernel_dim=3)
    nn.init.normal_(layer.T, 0.0, 1.0)
    collapsed = layer(torch.randn(1, 8).expand(6, 8))[:, 8:]
    diverse = layer(torch.randn(6, 8))[:, 8:]
    assert torch.allclose(collapsed, torch.full_like(collapsed, 5.0))    # 5 identical neighbours, c = 1
    assert diverse.mean() < collapsed.mean()


def test_historical_average_keeps_the_cumulative_mean():
    net = nn.Linear(2, 1)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[0.0, 2.0]]))
        net.bias.fill_(1.0)
    hist = HistoricalAverage(net)
    for value in (1.0, 4.0):
        with torch.no_grad():
            net.weight.fill_(value)
            net.bias.fill_(value)
        hist.update(net)
    # weights seen: [0, 2], [1, 1], [4, 4] -> mean [5/3, 7/3]; biases 1, 1, 4 -> mean 2
    assert torch.allclose(hist.means()[0], torch.tensor([[5 / 3, 7 / 3]]))
    assert torch.allclose(hist.means()[1], torch.tensor([2.0]))
    # now weight [4, 4], bias 4: (4 - 5/3)^2 + (4 - 7/3)^2 + (4 - 2)^2
    expected = (7 / 3) ** 2 + (5 / 3) ** 2 + 4.0
    assert hist.penalty(net).item() == pytest.approx(expected, rel=1e-6)


def test_step_separately_gives_each_optimiser_only_its_own_loss():
    # y = a * b; loss_A = y (for a), loss_B = 3 y (for b). SGD lr 1: a <- a - b, b <- b - 3 a
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Parameter(torch.tensor(2.0))
            self.b = nn.Parameter(torch.tensor(5.0))

    model = Two()
    model.optimizers = {"A": torch.optim.SGD([model.a], lr=1.0), "B": torch.optim.SGD([model.b], lr=1.0)}
    y = model.a * model.b
    step_separately(model, {"A": y, "B": 3 * y})
    assert model.a.item() == pytest.approx(2.0 - 5.0)
    assert model.b.item() == pytest.approx(5.0 - 3 * 2.0)
