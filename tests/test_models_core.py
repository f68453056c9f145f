"""Vanilla GAN and DCGAN: shapes at every resolution, published parameter counts, one step;
the family kit: build() and its checks, presets, make_config, a new family through the loop."""
import csv
import textwrap
from dataclasses import dataclass
from types import ModuleType
from typing import ClassVar

import pytest
import torch

from gan_lab import models
from gan_lab.data import ImageData
from gan_lab.models import dcgan, get_family, make_config, presets, vanilla, wgan_gp
from gan_lab.models.base import ConvConfig, GANModel, conv_discriminator, conv_generator, frozen
from gan_lab.nn import SUPPORTED_SIZES
from gan_lab.train import TrainConfig, train
from gan_lab.utils import GanLabError, count_parameters


@pytest.mark.parametrize("size", SUPPORTED_SIZES)
@pytest.mark.parametrize("channels", (1, 3))
def test_dcgan_shapes(size, channels):
    model = dcgan.Model(dcgan.Config(image_size=size, channels=channels, ngf=8, ndf=8, latent_dim=10))
    x = model.G(torch.randn(3, 10))
    assert x.shape == (3, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1
    assert model.D(x).shape == (3,)


@pytest.mark.parametrize("size", SUPPORTED_SIZES)
def test_dcgan_extra_layers_add_depth(size):
    plain = dcgan.Model(dcgan.Config(image_size=size, ngf=8, ndf=8))
    deep = dcgan.Model(dcgan.Config(image_size=size, ngf=8, ndf=8, extra_layers_g=2, extra_layers_d=3))
    convs = lambda m: sum(isinstance(l, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)) for l in m.modules())
    assert convs(deep.G) == convs(plain.G) + 2
    assert convs(deep.D) == convs(plain.D) + 3
    assert deep.G(torch.randn(2, 100)).shape == plain.G(torch.randn(2, 100)).shape


def test_classic64_parameter_count():
    # Radford et al.'s 64 px generator (ngf = 64, z = 100): the count in the PyTorch DCGAN tutorial
    model = dcgan.Model(dcgan.Config.preset("classic64"))
    assert count_parameters(model.G) == 3_576_704
    assert count_parameters(model.D) == 2_765_568


def test_fashion_mnist_preset_matches_thesis_shapes():
    # dcgan-fashion-mnist-faces Fig. 4.3.1: dense 6272 = 7*7*128 -> 14x14x256 -> 28x28x128 -> 28x28x64 -> 28x28x1
    model = dcgan.Model(dcgan.Config.preset("fashion_mnist"))
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
    config = dcgan.Config.preset("fashion_mnist")
    assert dcgan.Config.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown"):
        dcgan.Config.from_dict({**config.to_dict(), "nope": 1})


# -- the family kit -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class HingeConfig(ConvConfig):
    PRESETS: ClassVar[dict[str, dict]] = {"tiny": dict(image_size=28, channels=1, latent_dim=16, ngf=8, ndf=8)}


class HingeModel(GANModel):
    """A hinge-loss GAN (Lim & Ye, 2017), written the way models/__init__.py's "Adding a family"
    says: its Config, its nets in build(), its two steps; nothing else."""

    family = "hinge"

    def build(self):
        self.G = conv_generator(self.config)
        self.D = conv_discriminator(self.config, norm="layer")

    def d_step(self, x_real):
        with torch.no_grad():
            x_fake = self.G(self.sample_latent(x_real.shape[0]))            # (B, C, H, W)
        # E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]
        loss = torch.relu(1 - self.D(x_real)).mean() + torch.relu(1 + self.D(x_fake)).mean()
        self.optimize("D", loss)
        return {"loss_d": loss.detach()}

    def g_step(self, x_real):
        with frozen(self.D):
            loss = -self.D(self.G(self.sample_latent(x_real.shape[0]))).mean()
            self.optimize("G", loss)
        return {"loss_g": loss.detach()}


def test_a_new_family_trains_through_the_loop(tmp_path, monkeypatch):
    hinge = ModuleType("hinge")
    hinge.Config, hinge.Model = HingeConfig, HingeModel
    monkeypatch.setitem(models.FAMILIES, "hinge", hinge)          # the one line a new family adds
    model = get_family("hinge").Model(make_config("hinge", "tiny"))
    assert set(model.optimizers) == {"G", "D"}
    g = torch.Generator().manual_seed(0)
    data = ImageData(torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8, generator=g))
    history = train(model, data, TrainConfig.fast(out=str(tmp_path / "hinge"), steps=4, batch_size=8))
    assert [row["step"] for row in history] == [1, 2, 3, 4]
    assert all(torch.isfinite(torch.as_tensor(float(row["loss_d"]))) for row in history)
    with open(tmp_path / "hinge" / "history.csv") as fh:
        assert len(list(csv.DictReader(fh))) == 4


def test_the_adding_a_family_example_runs():
    # the package docstring's example, as written there
    doc = models.__doc__
    block = doc[doc.index("::\n") + 3:doc.index("Put it in")]
    namespace = {}
    exec(textwrap.dedent(block), namespace)
    model = namespace["Model"](namespace["Config"].tiny())
    x_real = torch.rand(4, 1, 28, 28) * 2 - 1
    d0 = [p.detach().clone() for p in model.D.parameters()]
    row = {**model.d_step(x_real), **model.g_step(x_real)}
    assert set(row) == {"loss_d", "loss_g"}
    assert any(not torch.equal(a, b) for a, b in zip(d0, model.D.parameters()))


def test_a_family_without_build_cannot_be_made():
    class Forgot(GANModel):
        def __init__(self, config):
            super().__init__(config)
            self.G, self.D = torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)

    with pytest.raises(NotImplementedError, match="build"):
        Forgot(HingeConfig.tiny())


def test_build_must_set_g_and_d():
    class NoD(GANModel):
        def build(self):
            self.G = torch.nn.Linear(2, 2)

    with pytest.raises(GanLabError, match="self.D"):
        NoD(HingeConfig.tiny())


def test_a_net_without_an_optimiser_is_refused():
    class ExtraNet(GANModel):
        def build(self):
            self.G, self.D, self.E = torch.nn.Linear(2, 2), torch.nn.Linear(2, 1), torch.nn.Linear(2, 2)

    with pytest.raises(GanLabError, match="E.weight has no optimiser"):
        ExtraNet(HingeConfig.tiny())


def test_construction_sets_up_optimisers_and_ema():
    model = dcgan.Model(dcgan.Config.tiny(ema_decay=0.9))
    assert set(model.optimizers) == {"G", "D"} and model.G_ema is not None
    assert dcgan.Model(dcgan.Config.tiny()).G_ema is None


def test_presets_are_listed_and_applied():
    assert presets("dcgan") == ["classic64", "fashion_mnist", "tiny"]
    assert all("tiny" in presets(name) for name in models.FAMILIES)
    c = make_config("dcgan", "fashion_mnist", lr_d=5e-4)
    assert (c.image_size, c.channels, c.g_project, c.lr_g, c.lr_d) == (28, 1, "linear", 1e-3, 5e-4)
    assert make_config("dcgan") == dcgan.Config()
    assert make_config("vanilla", "tiny") == vanilla.Config.tiny()


def test_width_sets_every_convolutional_width_over_the_preset_and_under_overrides():
    c = make_config("vaegan", "tiny", width=24)
    assert (c.ngf, c.ndf, c.nef) == (24, 24, 24)
    assert make_config("dcgan", "tiny", width=24, ndf=12).ndf == 12            # an explicit field wins
    assert make_config("vanilla", width=24) == make_config("vanilla")          # the MLP GAN has no widths


def test_unknown_preset_lists_the_family_presets():
    with pytest.raises(GanLabError, match="dcgan has no preset 'huge'; choose one of: classic64, fashion_mnist, tiny"):
        make_config("dcgan", "huge")
    with pytest.raises(GanLabError, match="no preset 'huge'; this family has: tiny"):
        vanilla.Config.preset("huge")
    with pytest.raises(GanLabError, match="unknown model"):
        make_config("stylegan9")


def test_make_config_for_wgan_clip():
    c = make_config("wgan-clip")
    assert (c.mode, c.lr_g, c.lr_d, c.critic_norm, c.clip_value, c.n_critic) == ("clip", 5e-5, 5e-5, "batch", 0.01, 5)
    tiny = make_config("wgan-clip", "tiny", clip_value=0.02)
    assert (tiny.mode, tiny.image_size, tiny.ngf, tiny.clip_value) == ("clip", 28, 8, 0.02)
    assert make_config("wgan-gp", "tiny") == wgan_gp.Config.tiny()
    assert make_config("wgan-clip", lr_d=1e-4).lr_d == 1e-4          # overrides win over the name's fields


def test_conv_config_checks_are_shared():
    for family in ("dcgan", "wgan-gp", "vaegan", "improved-dcgan", "dnfm"):
        config_cls = get_family(family).Config
        assert issubclass(config_cls, ConvConfig)
        with pytest.raises(ValueError, match="48"):
            config_cls.tiny(image_size=48)
        with pytest.raises(ValueError, match="ngf"):
            config_cls.tiny(ngf=0)
    with pytest.raises(ValueError, match="feature_layer must be in \\[-2, 1\\]"):
        get_family("vaegan").Config.tiny(feature_layer=2)
