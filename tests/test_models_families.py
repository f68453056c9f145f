"""WGAN-GP / WGAN-clip, VAE-GAN, ImprovedDCGAN and DNFM-GAN: shapes, one step, configs, state round trip."""
import argparse
import copy
import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from gan_lab import cli
from gan_lab.checkpoint import load_checkpoint, save_checkpoint
from gan_lab.models import dnfm, get_family, improved, make_config, wgan_gp
from gan_lab.nn import SUPPORTED_SIZES, ConvDiscriminator, MinibatchDiscrimination, paired_features

FAMILIES = ("wgan-gp", "wgan-clip", "vaegan", "improved-dcgan", "dnfm")


def make(name, **overrides):
    return get_family(name).Model(make_config(name, "tiny", **overrides))


def snapshot(module):
    return [p.detach().clone() for p in module.parameters()]


def moved(before, module):
    return any(not torch.equal(a, b) for a, b in zip(before, module.parameters()))


@pytest.mark.parametrize("size", SUPPORTED_SIZES)
@pytest.mark.parametrize("name", FAMILIES)
def test_shapes_at_every_size(name, size):
    channels = 3 if size in (32, 128) else 1
    model = make(name, image_size=size, channels=channels)
    z = torch.randn(3, model.config.latent_dim)
    x = model.G(z)
    assert x.shape == (3, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1
    assert model.D(x).shape == (3,)
    if name == "vaegan":
        mu, logvar = model.encode(x)
        assert mu.shape == logvar.shape == (3, model.config.latent_dim)
        assert model.reconstruct(x).shape == x.shape
    if name == "dnfm":
        assert model.E(x).shape == (3, model.config.latent_dim)


@pytest.mark.parametrize("name", FAMILIES)
def test_one_step_changes_parameters_and_stays_finite(name):
    torch.manual_seed(0)
    model = make(name)
    x_real = torch.rand(8, 1, 28, 28) * 2 - 1
    extra = getattr(model, "E", None)
    g0, d0 = snapshot(model.G), snapshot(model.D)
    e0 = snapshot(extra) if extra is not None else None
    logs_d = model.d_step(x_real)
    assert not moved(g0, model.G), "d_step must not move G"
    assert moved(d0, model.D)
    if extra is not None:
        assert not moved(e0, extra), "d_step must not move E"
    d1 = snapshot(model.D)
    logs_g = model.g_step(x_real)
    assert not moved(d1, model.D), "g_step must not move D"
    assert moved(g0, model.G)
    if extra is not None:
        assert moved(e0, extra), "g_step must train E"
    for key, value in {**logs_d, **logs_g}.items():
        assert torch.isfinite(torch.as_tensor(value)), key
        assert torch.as_tensor(value).dim() == 0, key
    assert {"loss_d", "loss_g", "d_real", "d_fake"} <= set(logs_d) | set(logs_g)
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())
    assert all(p.requires_grad for p in model.D.parameters()), "g_step must leave D trainable"


@pytest.mark.parametrize("name", FAMILIES)
def test_logged_keys_are_the_same_every_step(name):
    # history.csv takes its columns from the first row
    model = make(name)
    x_real = torch.rand(4, 1, 28, 28) * 2 - 1
    keys = [tuple({**model.d_step(x_real), **model.g_step(x_real)}) for _ in range(2)]
    assert keys[0] == keys[1]


@pytest.mark.parametrize("name", FAMILIES)
def test_state_dict_round_trip(name, tmp_path):
    torch.manual_seed(1)
    model = make(name)
    x_real = torch.rand(4, 1, 28, 28) * 2 - 1
    model.d_step(x_real)
    model.g_step(x_real)
    twin = make(name)
    twin.load_state_dict(model.state_dict())
    for (k, a), (_, b) in zip(model.state_dict().items(), twin.state_dict().items()):
        assert torch.equal(a, b), k
    z = torch.randn(5, model.config.latent_dim)
    assert torch.equal(model.generate(z), twin.generate(z))

    path = save_checkpoint(tmp_path / "last.pt", model, step=1)
    loaded, payload = load_checkpoint(path)
    assert payload["family"] == name and loaded.family == name
    assert type(loaded.config) is type(model.config) and loaded.config == model.config
    assert set(loaded.optimizers) == set(model.optimizers)
    assert torch.equal(loaded.generate(z), model.generate(z))


# -- WGAN-GP and WGAN with weight clipping ------------------------------------------------------------

def test_wgan_gp_paper_defaults():
    c = wgan_gp.Config()
    assert (c.mode, c.gp_weight, c.n_critic, c.lr_g, c.lr_d, c.betas) == ("gp", 10.0, 5, 1e-4, 1e-4, (0.0, 0.9))
    model = wgan_gp.Model(wgan_gp.Config.tiny())
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)) for m in model.D.modules())
    assert any(isinstance(m, nn.GroupNorm) for m in model.D.modules())
    assert not any(isinstance(m, nn.Sigmoid) for m in model.D.modules())
    assert isinstance(model.optimizers["D"], torch.optim.Adam)
    assert model.optimizers["D"].defaults["betas"] == (0.0, 0.9)
    with pytest.raises(ValueError):
        wgan_gp.Config(critic_norm="batch")          # batch norm breaks the per-sample penalty


def test_wgan_clip_defaults_and_clipping():
    assert get_family("wgan-clip") is wgan_gp
    c = make_config("wgan-clip")
    assert (c.mode, c.clip_value, c.n_critic, c.lr_d) == ("clip", 0.01, 5, 5e-5)
    model = wgan_gp.Model(make_config("wgan-clip", "tiny"))
    assert model.family == "wgan-clip"
    assert isinstance(model.optimizers["D"], torch.optim.RMSprop)
    with torch.no_grad():
        for p in model.D.parameters():
            p.mul_(100.0)
    model.d_step(torch.rand(4, 1, 28, 28) * 2 - 1)
    assert all(p.abs().max() <= 0.01 + 1e-8 for p in model.D.parameters())
    assert make_config("wgan-gp", "tiny").mode == "gp"


def test_cli_picks_the_wgan_mode_from_the_model_name():
    args = argparse.Namespace(data="fashion-mnist", overrides=["clip_value=0.02"], image_size=None, channels=None,
                              preset=None, fast=True)
    config = cli.model_config("wgan-clip", args)
    assert config.mode == "clip" and config.clip_value == 0.02 and config.image_size == 28
    assert cli.model_config("wgan-gp", argparse.Namespace(**{**vars(args), "overrides": []})).mode == "gp"


def test_critic_loss_is_wasserstein_plus_penalty():
    # recompute every term with a copy of the critic taken before its update: scores by a fresh
    # forward pass, the penalty from the gradient at the interpolates the step used
    torch.manual_seed(2)
    model = wgan_gp.Model(wgan_gp.Config.tiny())
    critic = copy.deepcopy(model.D)
    inputs = []
    model.D.register_forward_hook(lambda m, i, o: inputs.append(i[0].detach().clone()))
    x_real = torch.rand(4, 1, 28, 28) * 2 - 1
    logs = model.d_step(x_real)
    assert len(inputs) == 3 and torch.equal(inputs[0], x_real)       # real, fake, interpolates
    scores_real = critic(inputs[0]).detach().numpy()
    scores_fake = critic(inputs[1]).detach().numpy()
    x_hat = inputs[2].requires_grad_()
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat)
    norms = np.sqrt((grad.numpy().reshape(4, -1).astype(np.float64) ** 2).sum(axis=1))
    gp = np.mean((norms - 1) ** 2)
    assert float(logs["gp"]) == pytest.approx(gp, rel=1e-4)
    assert float(logs["loss_d_real"]) == pytest.approx(-scores_real.mean(), rel=1e-5, abs=1e-6)
    assert float(logs["loss_d_fake"]) == pytest.approx(scores_fake.mean(), rel=1e-5, abs=1e-6)
    expected = scores_fake.mean() - scores_real.mean() + 10.0 * gp
    assert float(logs["loss_d"]) == pytest.approx(expected, rel=1e-4, abs=1e-6)


# -- ImprovedDCGAN -------------------------------------------------------------------------------------

def test_improved_defaults_follow_salimans():
    c = improved.Config()
    assert (c.real_label, c.g_loss, c.minibatch_kernels, c.hist_weight) == (0.9, "feature_matching", 100, 0.0)
    model = improved.Model(improved.Config.tiny())
    assert any(isinstance(m, MinibatchDiscrimination) for m in model.D.modules())
    off = improved.Model(improved.Config.tiny(minibatch_kernels=0))
    assert not any(isinstance(m, MinibatchDiscrimination) for m in off.D.modules())


def test_improved_historical_averaging_adds_a_penalty_and_is_saved():
    model = improved.Model(improved.Config.tiny(hist_weight=0.5))
    x_real = torch.rand(4, 1, 28, 28) * 2 - 1
    model.d_step(x_real)
    model.g_step(x_real)
    logs = {**model.d_step(x_real), **model.g_step(x_real)}
    assert float(logs["hist_d"]) > 0 and float(logs["hist_g"]) > 0
    assert any(k.startswith("hist_G.") for k in model.state_dict())
    assert int(model.hist_G.count) == 3


def test_improved_feature_layer_is_checked():
    with pytest.raises(ValueError, match="feature_layer"):
        improved.Config.tiny(feature_layer=5)
    model = improved.Model(improved.Config.tiny(feature_layer=0))
    assert torch.isfinite(torch.as_tensor(model.g_step(torch.rand(4, 1, 28, 28))["loss_g"]))


# -- DNFM-GAN ------------------------------------------------------------------------------------------

def test_dnfm_switches():
    x_real = torch.rand(4, 1, 28, 28) * 2 - 1
    plain = dnfm.Model(dnfm.Config.tiny(denoise=False, augment_d=False, std_weight=0.0))
    assert not hasattr(plain, "E") and set(plain.optimizers) == {"G", "D"}
    calls = []
    plain.D.register_forward_hook(lambda m, i, o: calls.append(o))
    logs = {**plain.d_step(x_real), **plain.g_step(x_real)}
    assert len(calls) == 2 and "loss_d_noisy" not in logs           # D sees x and G(z) only
    assert float(logs["noise_penalty"]) == 0.0
    full = dnfm.Model(dnfm.Config.tiny())
    assert set(full.optimizers) == {"G", "D", "E"}
    logs = {**full.d_step(x_real), **full.g_step(x_real)}
    assert float(logs["noise_penalty"]) > 0


def test_dnfm_discriminator_sees_both_fakes_as_fake():
    torch.manual_seed(3)
    model = dnfm.Model(dnfm.Config.tiny())
    x_real = torch.rand(4, 1, 28, 28) * 2 - 1
    calls = []
    model.D.register_forward_hook(lambda m, i, o: calls.append(o.detach().clone()))
    logs = model.d_step(x_real)
    assert len(calls) == 3                                   # real, G(z), G(z + sigma eps)
    d_real, d_fake, d_noisy = (c.double().numpy() for c in calls)
    # -log sigmoid(s) = log(1 + e^-s), -log(1 - sigmoid(s)) = log(1 + e^s)
    real = np.logaddexp(0, -d_real).mean()
    fake, noisy = np.logaddexp(0, d_fake).mean(), np.logaddexp(0, d_noisy).mean()
    assert float(logs["loss_d"]) == pytest.approx(real + (fake + noisy) / 2, rel=1e-5)
    assert (float(logs["loss_d_real"]), float(logs["loss_d_fake"]), float(logs["loss_d_noisy"])) == pytest.approx(
        (real, fake, noisy), rel=1e-5)


def test_dnfm_noisy_code_has_sigma():
    model = dnfm.Model(dnfm.Config.tiny(noise_std=0.3))
    z = torch.zeros(20000, 4)
    assert model.noisy(z).std().item() == pytest.approx(0.3, rel=0.03)


@pytest.mark.parametrize("name", ["vaegan", "dnfm", "improved-dcgan", "wgan-gp"])
def test_bad_config_values_raise(name):
    family = get_family(name)
    with pytest.raises(ValueError):
        family.Config.tiny(image_size=48)
    fields = {f.name for f in dataclasses.fields(family.Config)}
    for field, bad in (("gamma", -1.0), ("noise_std", -0.1), ("real_label", 1.5), ("gp_weight", -1.0)):
        if field in fields:
            with pytest.raises(ValueError):
                family.Config.tiny(**{field: bad})


def test_paired_features_share_one_batch_norm_pass():
    """Feature matching compares real and fake features under the same batch statistics."""
    torch.manual_seed(0)
    D = ConvDiscriminator(28, 1, (8, 16), norm="batch").train()
    x_real = torch.rand(6, 1, 28, 28) * 2 - 1
    x_fake = (torch.rand(6, 1, 28, 28) * 0.2).requires_grad_()
    f_real, f_fake = paired_features(D, x_real, x_fake, joint=True)
    joint = D.features(torch.cat([x_real, x_fake]))
    assert torch.allclose(f_real, joint[:6]) and torch.allclose(f_fake, joint[6:])
    assert not f_real.requires_grad
    f_fake.sum().backward()
    assert x_fake.grad is not None and x_fake.grad.abs().sum() > 0
    # two separate passes give the fake batch its own statistics: a different comparison
    s_real, s_fake = paired_features(D, x_real, x_fake, joint=False)
    assert torch.allclose(s_real, D.features(x_real)) and torch.allclose(s_fake, D.features(x_fake))
    assert not torch.allclose(s_fake, f_fake)
