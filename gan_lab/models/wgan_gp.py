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

* Nets: the DCGAN generator (:class:`gan_lab.nn.ConvGenerator`) and a DCGAN-shaped critic
  (:class:`gan_lab.nn.ConvDiscriminator`), at 28/32/64/128 px. Gulrajani et al. use a ResNet for
  their best CIFAR-10 numbers; the DCGAN shape keeps the comparison with the other families fair.
* Layer norm = ``GroupNorm(1, C)``: normalises each sample over (C, H, W), per-channel affine.
* The clipped critic keeps batch norm (``critic_norm="batch"``), as in Arjovsky et al.'s DCGAN
  critic; clipping applies to every critic parameter, norm scales included (as in their code).
  RMSprop uses PyTorch's defaults otherwise (alpha 0.99, eps 1e-8).
* The gradient penalty is computed in float32 outside autocast (second derivatives in bf16 are noisy).
* Logged ``d_real``/``d_fake`` are mean raw critic scores; ``w_dist`` = d_real - d_fake is the
  critic's estimate of the Wasserstein distance (up to the Lipschitz constant), the number to watch.
  ``loss_d_real``/``loss_d_fake`` are the two terms of :func:`gan_lab.losses.wasserstein_critic_loss`.
* ``--model wgan-clip`` is this module's Config with :data:`CLIP`'s fields
  (:func:`gan_lab.models.make_config`).

References: Arjovsky, Chintala & Bottou, "Wasserstein Generative Adversarial Networks", ICML 2017;
Gulrajani et al., "Improved Training of Wasserstein GANs", NeurIPS 2017.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from gan_lab import losses
from gan_lab.models.base import ConvConfig, GANModel, conv_discriminator, conv_generator, frozen

Tensor = torch.Tensor
MODES = ("gp", "clip")

#: Arjovsky et al.'s WGAN: weight clipping c = 0.01, RMSprop(5e-5), 5 critic steps, BN critic
CLIP: dict = dict(mode="clip", lr_g=5e-5, lr_d=5e-5, critic_norm="batch")


@dataclass(frozen=True)
class Config(ConvConfig):
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    betas: tuple[float, float] = (0.0, 0.9)
    n_critic: int = 5
    mode: str = "gp"              # "gp": gradient penalty; "clip": weight clipping (wgan-clip)
    gp_weight: float = 10.0       # lambda of the gradient penalty
    clip_value: float = 0.01      # c of weight clipping
    critic_norm: str = "layer"    # "layer", "none" (gp) or "batch" (clip only)

    def __post_init__(self):
        super().__post_init__()
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

    PRESETS: ClassVar[dict[str, dict]] = {"tiny": dict(image_size=28, channels=1, latent_dim=16, ngf=8, ndf=8)}


def clip_weights_(module: torch.nn.Module, c: float) -> None:
    """Clip every parameter of ``module`` to [-c, c] in place (Arjovsky et al., Algorithm 1, line 7)."""
    with torch.no_grad():
        for p in module.parameters():
            p.clamp_(-c, c)


class Model(GANModel):
    family = "wgan-gp"

    def build(self):
        c = self.config
        self.family = "wgan-clip" if c.mode == "clip" else "wgan-gp"
        # benchmarks/precision_parity.py measured the gradient-penalty critic only (README): bf16 kept fp32's
        # quality, but the penalty's double backward runs in fp32 outside autocast, and the step was not
        # faster (0.92x on the CPU, 0.84x on an H100 at batch 64): auto keeps fp32, --precision bf16 is there
        self.bf16_parity = c.mode == "gp"
        self.bf16_faster = False
        self.G = conv_generator(c)
        self.D = conv_discriminator(c, norm=c.critic_norm)

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
            loss = loss_w.total + c.gp_weight * gp
        else:
            gp = torch.zeros((), device=x_real.device)
            loss = loss_w.total
        self.optimize("D", loss)
        if c.mode == "clip":
            clip_weights_(self.D, c.clip_value)
        return {
            "loss_d": loss.detach(),
            "loss_d_real": loss_w.real.detach(),
            "loss_d_fake": loss_w.fake.detach(),
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


__all__ = ["Config", "Model", "clip_weights_", "MODES", "CLIP"]
