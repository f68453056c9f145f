r"""Wasserstein GANs: with gradient penalty (WGAN-GP, Gulrajani et al., 2017) and with weight
clipping (WGAN, Arjovsky et al., 2017), for the book's comparison.

The critic :math:`f` outputs an unbounded score (no sigmoid). It is trained to maximise
:math:`\mathbb{E}[f(x)] - \mathbb{E}[f(G(z))]` while being kept (roughly) 1-Lipschitz:

* ``mode="gp"`` (``--model wgan-gp``): :math:`+\lambda\,\mathbb{E}[(\lVert\nabla f(\hat x)\rVert_2 - 1)^2]`
  at random interpolates :math:`\hat x` (:func:`gan_lab.losses.gradient_penalty`), λ = 10,
  5 critic steps per generator step, Adam(lr 1e-4, betas (0, 0.9)), no batch norm in the critic
  (the penalty is per sample; batch norm would mix samples): layer norm instead, as the paper suggests.
* ``mode="clip"`` (``--model wgan-clip``): after each critic update every critic weight is clipped
  to [-c, c], c = 0.01, 5 critic steps, RMSprop(lr 5e-5) (Arjovsky et al., Algorithm 1).

Choices the papers leave open, and ours:

* Nets: the DCGAN generator of :mod:`gan_lab.models.dcgan` and a DCGAN-shaped critic
  (:class:`gan_lab.nn.ConvDiscriminator`), at 28/32/64/128 px. Gulrajani et al. use a ResNet for
  their best CIFAR-10 numbers; the DCGAN shape keeps the comparison with the other families fair.
* Layer norm = ``GroupNorm(1, C)``: normalises each sample over (C, H, W), per-channel affine.
* The clipped critic keeps batch norm (``critic_norm="batch"``), as in Arjovsky et al.'s DCGAN
  critic; clipping applies to every critic parameter, norm scales included (as in their code).
  RMSprop uses PyTorch's defaults otherwise (alpha 0.99, eps 1e-8).
* The gradient penalty is computed in float32 outside autocast (second derivatives in bf16 are noisy).
* Logged ``d_real``/``d_fake`` are mean raw critic scores; ``w_dist`` = d_real - d_fake is the
  critic's estimate of the Wasserstein distance (up to the Lipschitz constant), the number to watch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from gan_lab import losses
from gan_lab.models.base import BaseConfig, GANModel, frozen
from gan_lab.nn import ConvDiscriminator, build_generator, check_image_size

Tensor = torch.Tensor
MODES = ("gp", "clip")


@dataclass(frozen=True)
class Config(BaseConfig):
    image_size: int = 64
    channels: int = 3
    latent_dim: int = 100
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    betas: tuple[float, float] = (0.0, 0.9)
    n_critic: int = 5
    mode: str = "gp"              # "gp": gradient penalty; "clip": weight clipping (wgan-clip)
    gp_weight: float = 10.0       # lambda of the gradient penalty
    clip_value: float = 0.01      # c of weight clipping
    critic_norm: str = "layer"    # "layer", "none" (gp) or "batch" (clip only)
    ngf: int = 64
    ndf: int = 64
    extra_layers_g: int = 0
    extra_layers_d: int = 0

    def __post_init__(self):
        super().__post_init__()
        check_image_size(self.image_size)
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.critic_norm not in ("layer", "none", "batch"):
            raise ValueError(f"critic_norm must be 'layer', 'none' or 'batch', got {self.critic_norm!r}")
        if self.mode == "gp" and self.critic_norm == "batch":
            raise ValueError("the gradient penalty is per sample: use critic_norm 'layer' or 'none' with mode 'gp'")
        if self.gp_weight < 0:
            raise ValueError(f"gp_weight must be >= 0, got {self.gp_weight}")
        if self.clip_value <= 0:
            raise ValueError(f"clip_value must be positive, got {self.clip_value}")
        if self.ngf < 1 or self.ndf < 1 or self.extra_layers_g < 0 or self.extra_layers_d < 0:
            raise ValueError("ngf and ndf must be >= 1, extra layers >= 0")

    @classmethod
    def clip(cls, **overrides) -> "Config":
        """Arjovsky et al.'s WGAN: weight clipping c = 0.01, RMSprop(5e-5), 5 critic steps, BN critic."""
        values = dict(mode="clip", lr_g=5e-5, lr_d=5e-5, critic_norm="batch")
        values.update(overrides)
        return cls(**values)

    PRESETS: ClassVar[dict[str, dict]] = {"tiny": dict(image_size=28, channels=1, latent_dim=16, ngf=8, ndf=8)}


def config_for(name: str, preset: str | None = None, fast: bool = False, **overrides) -> Config:
    """The Config of CLI family ``name`` ("wgan-gp" or "wgan-clip"); ``fast`` gives the tiny preset."""
    if name not in ("wgan-gp", "wgan-clip"):
        raise ValueError(f"wgan_gp builds 'wgan-gp' and 'wgan-clip', not {name!r}")
    if preset not in (None, "tiny", "clip"):
        raise ValueError(f"{name} has no preset {preset!r} (choose tiny or clip)")
    values = dict(Config.PRESETS["tiny"]) if fast or preset == "tiny" else {}
    values.update(overrides)
    return Config.clip(**values) if name == "wgan-clip" else Config(**values)


def clip_weights_(module: torch.nn.Module, c: float) -> None:
    """Clip every parameter of ``module`` to [-c, c] in place (Arjovsky et al., Algorithm 1, line 7)."""
    with torch.no_grad():
        for p in module.parameters():
            p.clamp_(-c, c)


class Model(GANModel):
    family = "wgan-gp"

    def __init__(self, config: Config):
        super().__init__(config)
        self.family = "wgan-clip" if config.mode == "clip" else "wgan-gp"
        self.G = build_generator(config)
        self.D = ConvDiscriminator(config.image_size, config.channels, config.ndf, norm=config.critic_norm,
                                   extra_layers=config.extra_layers_d)
        self.setup()

    def configure_optimizers(self):
        c = self.config
        if c.mode == "clip":
            return {"G": torch.optim.RMSprop(self.G.parameters(), lr=c.lr_g),
                    "D": torch.optim.RMSprop(self.D.parameters(), lr=c.lr_d)}
        return super().configure_optimizers()

    def d_step(self, x_real: Tensor) -> dict:
        c = self.config
        with self.autocast():
            with torch.no_grad():
                x_fake = self.G(self.sample_latent(x_real.shape[0]))   # (B, C, H, W)
            d_real = self.D(x_real).float()                             # (B,) critic scores
            d_fake = self.D(x_fake).float()
            loss_w = losses.wasserstein_critic_loss(d_real, d_fake)
        if c.mode == "gp":
            gp = losses.gradient_penalty(self.D, x_real.float(), x_fake.float())
            loss = loss_w + c.gp_weight * gp
        else:
            gp = torch.zeros((), device=x_real.device)
            loss = loss_w
        self.optimize("D", loss)
        if c.mode == "clip":
            clip_weights_(self.D, c.clip_value)
        return {
            "loss_d": loss.detach(),
            "gp": gp.detach(),
            "d_real": d_real.detach().mean(),
            "d_fake": d_fake.detach().mean(),
            "w_dist": (d_real.detach().mean() - d_fake.detach().mean()),
        }

    def g_step(self, x_real: Tensor) -> dict:
        D = self.bare("D")
        with self.autocast(), frozen(D):
            d_fake = D(self.G(self.sample_latent(x_real.shape[0]))).float()
            loss = losses.wasserstein_generator_loss(d_fake)
            self.optimize("G", loss)
        return {"loss_g": loss.detach()}


__all__ = ["Config", "Model", "config_for", "clip_weights_", "MODES"]
