"""Model families, found by name. Each is one module with ``Config`` and ``Model``.

:data:`FAMILIES` maps a command-line name to its module; :func:`make_config` builds a family's
config from a preset and overrides; :func:`presets` lists a family's presets.

Adding a family
---------------
A family is its ``Config`` (a frozen dataclass with a ``"tiny"`` preset), its nets (created in
``build``) and its two step functions; :class:`~gan_lab.models.base.GANModel` makes the
optimisers (Adam for G and D; override ``configure_optimizers`` for more nets) and the EMA copy,
and the one loop (:func:`gan_lab.train.train`) does the rest. A least-squares GAN
(Mao et al., 2017) on the DCGAN nets::

    from dataclasses import dataclass
    from typing import ClassVar

    import torch
    from gan_lab.models.base import ConvConfig, GANModel, conv_discriminator, conv_generator, frozen

    @dataclass(frozen=True)
    class Config(ConvConfig):
        PRESETS: ClassVar[dict[str, dict]] = {"tiny": dict(image_size=28, channels=1, latent_dim=16, ngf=8, ndf=8)}

    class Model(GANModel):
        family = "lsgan"

        def build(self):
            self.G = conv_generator(self.config)
            self.D = conv_discriminator(self.config, norm="batch")

        def d_step(self, x_real):
            x_fake = self.G(self.sample_latent(x_real.shape[0])).detach()    # (B, C, H, W)
            loss = 0.5 * ((self.D(x_real) - 1).pow(2).mean() + self.D(x_fake).pow(2).mean())
            self.optimize("D", loss)
            return {"loss_d": loss.detach()}

        def g_step(self, x_real):
            with frozen(self.D):
                loss = 0.5 * (self.D(self.G(self.sample_latent(x_real.shape[0]))) - 1).pow(2).mean()
                self.optimize("G", loss)
            return {"loss_g": loss.detach()}

Put it in ``gan_lab/models/lsgan.py``, its losses in :mod:`gan_lab.losses` (with their equations),
import it here and add ``"lsgan": lsgan`` to :data:`FAMILIES`; the command line, checkpoints and
the book then know it. ``tests/test_models_core.py`` runs this example and trains a family
written this way through the loop.
"""
from __future__ import annotations

from dataclasses import fields as dataclass_fields
from types import ModuleType

from gan_lab.models import dcgan, dnfm, improved, singan, vaegan, vanilla, wgan_gp
from gan_lab.models.base import BaseConfig
from gan_lab.utils import GanLabError

#: command-line name -> family module
FAMILIES: dict[str, ModuleType] = {
    "vanilla": vanilla,
    "dcgan": dcgan,
    "wgan-gp": wgan_gp,
    "wgan-clip": wgan_gp,
    "vaegan": vaegan,
    "improved-dcgan": improved,
    "dnfm": dnfm,
    "singan": singan,
}

#: fields that a name sets on its module's Config before any preset ("wgan-clip" is WGAN-GP's
#: Config with weight clipping)
FAMILY_DEFAULTS: dict[str, dict] = {"wgan-clip": wgan_gp.CLIP}


def get_family(name: str) -> ModuleType:
    """The module of family ``name`` (a key of :data:`FAMILIES`)."""
    if name not in FAMILIES:
        raise GanLabError(f"unknown model {name!r}; choose one of: {', '.join(FAMILIES)}")
    return FAMILIES[name]


def available() -> list[str]:
    """The families' command-line names."""
    return list(FAMILIES)


def presets(family_name: str) -> list[str]:
    """The preset names of family ``family_name``, sorted."""
    return sorted(get_family(family_name).Config.PRESETS)


def make_config(family_name: str, preset: str | None = None, *, width: int | None = None, **overrides) -> BaseConfig:
    """The Config of family ``family_name``: its defaults, the name's own fields
    (:data:`FAMILY_DEFAULTS`), preset ``preset`` (a key of ``Config.PRESETS``), ``width``, then ``overrides``.

    ``width`` sets the base number of channels of every convolutional net the family has (``ngf``,
    ``ndf``, and ``nef`` where there is an encoder); a family without them (the MLP GAN) ignores it.
    Raises GanLabError for an unknown family or preset (listing the known ones); a bad field
    value raises the Config's ValueError.
    """
    config_cls = get_family(family_name).Config
    if preset is not None and preset not in config_cls.PRESETS:
        raise GanLabError(f"{family_name} has no preset {preset!r}; choose one of: {', '.join(presets(family_name))}")
    widths = {}
    if width is not None:
        names = {f.name for f in dataclass_fields(config_cls)}
        widths = {k: width for k in ("ngf", "ndf", "nef") if k in names}
    values = {**FAMILY_DEFAULTS.get(family_name, {}), **(config_cls.PRESETS[preset] if preset else {}), **widths,
              **overrides}
    return config_cls(**values)
