"""Vanilla GAN and DCGAN: shapes at every resolution, published parameter counts, one step."""
import pytest
import torch

from gan_lab.models import dcgan, get_family, vanilla
from gan_lab.utils import GanLabError, count_parameters


@pytest.mark.parametrize("size", dcgan.SUPPORTED_SIZES)
@pytest.mark.parametrize("channels", (1, 3))
def test_dcgan_shapes(size, channels):
    model = dcgan.Model(dcgan.Config(image_size=size, channels=channels, ngf=8, ndf=8, latent_dim=10))
    x = model.G(torch.randn(3, 10))
    assert x.shape == (3, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1
    assert model.D(x).shape == (3,)


@pytest.mark.parametrize("size", dcgan.SUPPORTED_SIZES)
def test_dcgan_extra_layers_add_depth(size):
    plain = dcgan.Model(dcgan.Config(image_size=size, ngf=8, ndf=8))
    deep = dcgan.Model(dcgan.Config(image_size=size, ngf=8, ndf=8, extra_layers_g=2, extra_layers_d=3))
    convs = lambda m: sum(isinstance(l, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) for l in m.modules())
    assert convs(deep.G) == convs(plain.G) + 2
    assert convs(deep.D) == convs(plain.D) + 3
    assert deep.G(torch.randn(2, 100)).shape == plain.G(torch.randn(2, 100)).shape


def test_classic64_parameter_count():
    # Radford et al.'s 64 px generator (ngf = 64, z = 100): the count in the PyTorch DCGAN tutorial
    model = dcgan.Model(dcgan.Config.classic64())
    assert count_parameters(model.G) == 3_576_704
    assert count_parameters(model.D) == 2_765_568


def test_fashion_mnist_preset_matches_thesis_shapes():
    # dcgan-fashion-mnist-faces Fig. 4.3.1: dense 6272 = 7*7*128 -> 14x14x256 -> 28x28x128 -> 28x28x64 -> 28x28x1
    model = dcgan.Model(dcgan.Config.fashion_mnist())
    assert model.G.project[0].out_features == 6272
    shapes, x = [], model.G.project(torch.randn(2, 100))
    for layer in model.G.blocks:
        x = layer(x)
        if isinstance(layer, torch.nn.BatchNorm2d):
            shapes.append(tuple(x.shape[1:]))
    assert shapes == [(128, 7, 7), (256, 14, 14), (128, 28, 28), (64, 28, 28)]
    # D: 14x14x64 -> 7x7x128 -> 4x4x256 -> flatten 4096 -> 1
    assert model.D.feature_shape == (256, 4, 4)
    assert model.config.lr_g == 1e-3 and model.config.betas == (0.5, 0.999)


def test_vanilla_matches_thesis_parameter_counts():
    # dcgan-thesis-mnist-afhq Fig. 4.1a / 4.2a: 1,489,936 trainable G parameters, 533,505 in D
    model = vanilla.Model(vanilla.Config())
    assert count_parameters(model.G) == 1_489_936
    assert count_parameters(model.D) == 533_505


@pytest.mark.parametrize("name", ["vanilla", "dcgan"])
def test_one_step_changes_parameters_and_stays_finite(name):
    torch.manual_seed(0)
    family = get_family(name)
    model = family.Model(family.Config.tiny())
    x_real = torch.rand(8, 1, 28, 28) * 2 - 1
    g0 = [p.detach().clone() for p in model.G.parameters()]
    d0 = [p.detach().clone() for p in model.D.parameters()]
    logs_d = model.d_step(x_real)
    assert all(torch.equal(a, b) for a, b in zip(g0, model.G.parameters())), "d_step must not move G"
    assert any(not torch.equal(a, b) for a, b in zip(d0, model.D.parameters()))
    d1 = [p.detach().clone() for p in model.D.parameters()]
    logs_g = model.g_step(x_real)
    assert all(torch.equal(a, b) for a, b in zip(d1, model.D.parameters())), "g_step must not move D"
    assert any(not torch.equal(a, b) for a, b in zip(g0, model.G.parameters()))
    for value in {**logs_d, **logs_g}.values():
        assert torch.isfinite(torch.as_tensor(value))
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())


def test_g_step_leaves_d_trainable():
    model = dcgan.Model(dcgan.Config.tiny())
    model.g_step(torch.zeros(4, 1, 28, 28))
    assert all(p.requires_grad for p in model.D.parameters())


def test_saturating_option_changes_generator_loss():
    torch.manual_seed(0)
    x = torch.rand(8, 1, 28, 28) * 2 - 1
    sat = vanilla.Model(vanilla.Config.tiny(g_loss="saturating"))
    assert sat.g_step(x)["loss_g"] < 0   # log(1 - D) is negative


def test_ema_tracks_generator():
    model = dcgan.Model(dcgan.Config.tiny(ema_decay=0.5))
    before = [p.clone() for p in model.G_ema.parameters()]
    model.g_step(torch.zeros(4, 1, 28, 28))
    model.update_ema()
    for b, e, g in zip(before, model.G_ema.parameters(), model.G.parameters()):
        torch.testing.assert_close(e, 0.5 * b + 0.5 * g)


@pytest.mark.parametrize("bad", [dict(image_size=48), dict(channels=2), dict(n_critic=0), dict(g_loss="hinge"),
                                 dict(extra_layers_g=-1), dict(ema_decay=1.0), dict(lr_g=0.0)])
def test_bad_config_values(bad):
    with pytest.raises(ValueError):
        dcgan.Config(**bad)


def test_unknown_family():
    with pytest.raises(GanLabError, match="unknown model"):
        get_family("stylegan9")


def test_config_round_trip_through_dict():
    config = dcgan.Config.fashion_mnist()
    assert dcgan.Config.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown"):
        dcgan.Config.from_dict({**config.to_dict(), "nope": 1})
