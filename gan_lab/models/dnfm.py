r"""DNFM-GAN: a denoising GAN with enhanced feature mapping and an augmented discriminator
input (the dnfm-gan thesis, abstract and §1.3-1.7; its chapter 3 with the exact nets and
hyperparameters is not in our source text, so everything below beyond those sections is ours).

Three parts, each with its own switch:

1. **Denoising structure** (``denoise``): the generator also receives a noisy code
   :math:`\tilde z = z + \sigma\epsilon`; an extra encoder :math:`E` maps :math:`G(\tilde z)` back
   to latent space and must recover the *clean* code. G and E both minimise
   :math:`\lambda_1 \lVert E(G(\tilde z)) - z\rVert_2^2` (:func:`gan_lab.losses.noise_penalty`).
2. **Augmented discriminator input** (``augment_d``): D sees real x, :math:`G(z)` and
   :math:`G(\tilde z)`; both fakes are labelled fake.
3. **Enhanced feature mapping** (``std_weight`` = :math:`\lambda_2`): the generator's adversarial
   loss matches the batch mean and the batch standard deviation of an intermediate D layer,
   :math:`\lVert \bar f(x) - \bar f(G(z))\rVert^2 + \lambda_2 \lVert s(f(x)) - s(f(G(z)))\rVert^2`
   (:func:`gan_lab.losses.feature_matching`). ``std_weight=0`` is Salimans et al.'s feature matching.

With all three off the model is ImprovedDCGAN's feature-matching generator against a plain DCGAN
discriminator (no minibatch discrimination); the thesis's ablation switches them on one by one.

Choices the source leaves open, and ours:

* Nets: DCGAN generator (:class:`gan_lab.nn.ConvGenerator`), DCGAN discriminator with batch norm
  (:class:`gan_lab.nn.ConvDiscriminator`), and E shaped like D (batch norm, LeakyReLU) ending in a
  linear map to ``latent_dim`` (no output activation: z is Gaussian). 28/32/64/128 px.
* Discriminator loss with ``augment_d`` (:func:`gan_lab.losses.dnfm_d_loss`):
  :math:`L_D = \mathrm{BCE}(D(x), 1) + \tfrac12[\mathrm{BCE}(D(G(z)), 0) + \mathrm{BCE}(D(G(\tilde z)), 0)]`.
  Halving the fake terms keeps the real/fake balance of the plain loss, so switching the
  augmentation off changes only what the fake half sees.
  Each of the three batches goes through D separately (batch norm statistics per batch, as DCGAN).
* Label smoothing: off (``real_label=1.0``); the thesis does not mention it for DNFM.
* The generator's feature-matching batch is :math:`G(z)` only; :math:`G(\tilde z)` enters G's loss
  through the noise penalty (and through D, which learns to reject it).
* Noise penalty: squared L2 norm per sample, batch mean; the gradient reaches G (through
  :math:`G(\tilde z)`) and E; one backward pass of :math:`L_{FM} + \lambda_1 L_{NP}` updates both
  (E has no other loss). E has its own Adam with G's learning rate and betas.
* Standard deviation: population (divide by B), :math:`\sqrt{\mathrm{var}+10^{-8}}`.
* Feature layer: the last convolutional block of D (``feature_layer=-1``). Real and fake
  features come from two passes of D (``joint_features=False``, as in :mod:`gan_lab.models.improved`).
* Optimisers: Adam(2e-4, (0.5, 0.999)) for G, D and E; one D step per G step (DCGAN settings).
* Defaults λ1 = 0.05, λ2 = 1.0, σ = 0.1. σ and λ2 come from early short runs at one or two
  seeds, which cannot separate them from seed noise. The book's DNFM-GAN chapter
  (``book/dnfm.ipynb``) tests the parts and λ1 at these settings: every row at σ = 0.1, each part
  against the model without it (all off, the std term alone, augmented D + std term, all on) and
  λ1 = 0.05 against 0.5 and against no denoising, three seeds each, with a difference counted only
  beyond the seed spread. Its tables, not this docstring, are the measurements
  (``benchmarks/README.md`` copies them). λ1 scales a sum of ``latent_dim`` squared errors, so
  λ1·L_NP starts near λ1·latent_dim. The thesis studies several λ1 values (its Table 4.1, whose
  numbers are not in our source).

References: C. Li, "A Denoising Generative Adversarial Network Based on Enhanced Feature Mapping
of Data Augmentation for Image Synthesis", PhD thesis, Universiti Sains Malaysia, 2024
(``dnfm-gan-thesis.txt``); Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from gan_lab import losses
from gan_lab.models.base import ConvConfig, GANModel, conv_discriminator, conv_generator, d_stats, frozen
from gan_lab.nn import ConvEncoder, classic_widths, paired_features

Tensor = torch.Tensor


@dataclass(frozen=True)
class Config(ConvConfig):
    nef: int = 64                    # encoder width (first block)
    real_label: float = 1.0
    denoise: bool = True             # part 1: encoder + noise penalty
    augment_d: bool = True           # part 2: D also sees G(z + sigma * eps)
    std_weight: float = 1.0          # part 3: lambda_2 (0 = Salimans et al.'s feature matching)
    noise_weight: float = 0.05       # lambda_1
    noise_std: float = 0.1           # sigma
    feature_layer: int = -1
    joint_features: bool = False     # real and fake features from one batch-norm pass (see docstring)

    def __post_init__(self):
        super().__post_init__()
        if not 0.0 < self.real_label <= 1.0:
            raise ValueError(f"real_label must be in (0, 1], got {self.real_label}")
        if self.std_weight < 0 or self.noise_weight < 0:
            raise ValueError("std_weight (lambda_2) and noise_weight (lambda_1) must be >= 0")
        if self.noise_std < 0:
            raise ValueError(f"noise_std (sigma) must be >= 0, got {self.noise_std}")
        if self.nef < 1:
            raise ValueError(f"nef must be >= 1, got {self.nef}")
        self.check_feature_layer(self.feature_layer)

    @property
    def uses_noisy_code(self) -> bool:
        return self.denoise or self.augment_d

    PRESETS: ClassVar[dict[str, dict]] = {"tiny": dict(image_size=28, channels=1, latent_dim=16, ngf=8, ndf=8, nef=8)}


class Model(GANModel):
    family = "dnfm"
    bf16_parity = True     # benchmarks/precision_parity.py: bf16 inside fp32's seed spread (README)

    def build(self):
        c = self.config
        self.G = conv_generator(c)
        self.D = conv_discriminator(c, norm="batch")
        if c.denoise:
            self.E = ConvEncoder(c.image_size, c.channels, classic_widths(c.image_size, c.nef), c.latent_dim,
                                 norm="batch")

    def configure_optimizers(self):
        opts = super().configure_optimizers()
        c = self.config
        if c.denoise:
            opts["E"] = torch.optim.Adam(self.E.parameters(), lr=c.lr_g, betas=c.betas)
        return opts

    def noisy(self, z: Tensor) -> Tensor:
        r""":math:`\tilde z = z + \sigma\epsilon`, :math:`\epsilon \sim N(0, I)`."""
        return z + self.config.noise_std * torch.randn_like(z)

    def d_step(self, x_real: Tensor) -> dict:
        c = self.config
        with self.autocast():
            z = self.sample_latent(x_real.shape[0])
            with torch.no_grad():
                x_fake = self.G(z)                                   # (B, C, H, W)
                x_noisy = self.G(self.noisy(z)) if c.augment_d else None
            d_real = self.D(x_real).float()                          # (B,) logits
            d_fake = self.D(x_fake).float()
            if c.augment_d:
                d_noisy = self.D(x_noisy).float()
                loss = losses.dnfm_d_loss(d_real, d_fake, d_noisy, c.real_label)
            else:
                d_noisy = d_fake
                loss = losses.d_loss_minimax(d_real, d_fake, c.real_label)
        self.optimize("D", loss.total)
        return d_stats(loss, d_real, d_fake, d_noisy=d_noisy)

    def g_step(self, x_real: Tensor) -> dict:
        c = self.config
        D = self.bare("D")
        with self.autocast(), frozen(D):
            z = self.sample_latent(x_real.shape[0])
            x_fake = self.G(z)
            f_real, f_fake = paired_features(D, x_real, x_fake, c.feature_layer, joint=c.joint_features)
            fm = losses.feature_matching(f_real, f_fake, std_weight=c.std_weight)
            loss = fm.total
            if c.denoise:
                z_rec = self.E(self.G(self.noisy(z))).float()            # E(G(z + sigma eps))
                np_ = losses.noise_penalty(z, z_rec)
                loss = loss + c.noise_weight * np_
            else:
                np_ = torch.zeros((), device=x_real.device)
            if c.denoise:
                # one backward pass fills G's gradient (FM + lambda_1 NP) and E's (lambda_1 NP)
                for name in ("G", "E"):
                    self.optimizers[name].zero_grad(set_to_none=True)
                loss.backward()
                for name in ("G", "E"):
                    self.optimizers[name].step()
            else:
                self.optimize("G", loss)
        return {"loss_g": loss.detach(), "feature_matching": fm.total.detach(), "fm_mean": fm.mean.detach(),
                "fm_std": fm.std.detach(), "noise_penalty": np_.detach()}
