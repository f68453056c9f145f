r"""ImprovedDCGAN: DCGAN plus the techniques of Salimans et al., "Improved Techniques for
Training GANs" (2016), the baseline of the DNFM-GAN thesis.

* **Feature matching** (§3.1): the generator minimises
  :math:`\lVert \mathbb{E}_x f(x) - \mathbb{E}_z f(G(z)) \rVert_2^2`, the squared distance between
  the *batch means* of an intermediate discriminator layer :math:`f`
  (:func:`gan_lab.losses.feature_matching` with ``std_weight=0``); not a per-sample MSE.
* **Minibatch discrimination** (§3.2): :class:`gan_lab.nn.MinibatchDiscrimination` between the
  last convolutional features and the output layer.
* **One-sided label smoothing** (§3.4): real target 0.9, fake target 0.
* **Historical averaging** (§3.3), optional: :math:`\lVert\theta - \frac1t\sum_i\theta[i]\rVert^2`
  added to both players' losses with weight ``hist_weight`` (0 = off, the default).

Choices the paper leaves open, and ours:

* Nets: the DCGAN generator (:class:`gan_lab.nn.ConvGenerator`) and a DCGAN discriminator with batch
  norm (:class:`gan_lab.nn.ConvDiscriminator`), at 28/32/64/128 px. (Salimans et al.'s CIFAR
  discriminator uses weight norm and dropout; their ImageNet model is DCGAN-based.)
* Feature layer: the last convolutional block (``feature_layer=-1``), the layer just before
  minibatch discrimination, as in the paper's CIFAR code. Any block index works.
* Feature matching uses the squared L2 norm as in the paper's equation (OpenAI's released code uses
  the mean absolute difference). Real features are computed without gradient. D is in train
  mode and, by default, sees the real and the fake batch in two passes, so batch norm uses each
  batch's own statistics, as in D's own update; ``joint_features=True`` passes them as one batch
  instead. Two passes is the default, chosen from measurements (``benchmarks/README.md``).
* Minibatch discrimination: 100 kernels of dimension 5 (OpenAI's code), T ~ N(0, 0.05);
  ``minibatch_kernels=0`` turns it off. With feature matching, D's minibatch features matter only
  through D's own training (the paper notes minibatch discrimination pairs best with the
  ordinary generator loss; ``g_loss="nonsaturating"`` gives that).
* Historical averaging keeps cumulative means (buffers, saved in checkpoints), updated after
  every optimiser step of that player.
* Adam(2e-4, (0.5, 0.999)), one D step per G step, as DCGAN.

References: Salimans et al., "Improved Techniques for Training GANs", NeurIPS 2016; C. Li,
"A Denoising Generative Adversarial Network Based on Enhanced Feature Mapping of Data Augmentation
for Image Synthesis", PhD thesis, Universiti Sains Malaysia, 2024 (``dnfm-gan-thesis.txt``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from gan_lab import losses
from gan_lab.models.base import ConvConfig, GANModel, conv_discriminator, conv_generator, d_stats, frozen
from gan_lab.nn import HistoricalAverage, paired_features

Tensor = torch.Tensor
G_LOSSES = ("feature_matching", "nonsaturating")


@dataclass(frozen=True)
class Config(ConvConfig):
    real_label: float = 0.9          # one-sided label smoothing
    g_loss: str = "feature_matching" # or "nonsaturating"
    feature_layer: int = -1          # D block whose output is matched (-1: the last)
    joint_features: bool = False     # real and fake features from one batch-norm pass (see docstring)
    minibatch_kernels: int = 100     # 0 turns minibatch discrimination off
    minibatch_dim: int = 5
    hist_weight: float = 0.0         # historical averaging weight (0: off)

    def __post_init__(self):
        super().__post_init__()
        if not 0.0 < self.real_label <= 1.0:
            raise ValueError(f"real_label must be in (0, 1], got {self.real_label}")
        if self.g_loss not in G_LOSSES:
            raise ValueError(f"g_loss must be one of {G_LOSSES}, got {self.g_loss!r}")
        if self.minibatch_kernels < 0 or self.minibatch_dim < 1:
            raise ValueError("minibatch_kernels must be >= 0 and minibatch_dim >= 1")
        if self.hist_weight < 0:
            raise ValueError(f"hist_weight must be >= 0, got {self.hist_weight}")
        self.check_feature_layer(self.feature_layer)

    PRESETS: ClassVar[dict[str, dict]] = {
        "tiny": dict(image_size=28, channels=1, latent_dim=16, ngf=8, ndf=8, minibatch_kernels=8, minibatch_dim=3)}


class Model(GANModel):
    family = "improved-dcgan"

    def build(self):
        c = self.config
        self.G = conv_generator(c)
        self.D = conv_discriminator(c, norm="batch", minibatch_kernels=c.minibatch_kernels,
                                    minibatch_dim=c.minibatch_dim)
        if c.hist_weight > 0:
            self.hist_G = HistoricalAverage(self.G)
            self.hist_D = HistoricalAverage(self.D)

    def with_history(self, name: str, loss: Tensor) -> tuple[Tensor, Tensor]:
        """``loss`` + hist_weight * net ``name``'s historical-averaging penalty, and the penalty (0 when off)."""
        if self.config.hist_weight == 0:
            return loss, torch.zeros((), device=loss.device)
        hist = getattr(self, f"hist_{name}").penalty(self.bare(name))
        return loss + self.config.hist_weight * hist, hist

    def update_history(self, name: str) -> None:
        """After net ``name``'s optimiser step: add its parameters to their running means."""
        if self.config.hist_weight > 0:
            getattr(self, f"hist_{name}").update(self.bare(name))

    def d_step(self, x_real: Tensor) -> dict:
        c = self.config
        with self.autocast():
            with torch.no_grad():
                x_fake = self.G(self.sample_latent(x_real.shape[0]))   # (B, C, H, W)
            d_real = self.D(x_real).float()                             # (B,) logits
            d_fake = self.D(x_fake).float()
            parts = losses.d_loss_minimax(d_real, d_fake, c.real_label)
            loss, hist = self.with_history("D", parts.total)
        self.optimize("D", loss)
        self.update_history("D")
        return {**d_stats(parts, d_real, d_fake), "loss_d": loss.detach(), "hist_d": hist.detach()}

    def g_step(self, x_real: Tensor) -> dict:
        c = self.config
        D = self.bare("D")
        with self.autocast(), frozen(D):
            x_fake = self.G(self.sample_latent(x_real.shape[0]))
            f_real, f_fake = paired_features(D, x_real, x_fake, c.feature_layer, joint=c.joint_features)
            fm = losses.feature_matching(f_real, f_fake).total
            if c.g_loss == "feature_matching":
                loss = fm
            else:
                loss = losses.g_loss_nonsaturating(D(x_fake).float())
            loss, hist = self.with_history("G", loss)
            self.optimize("G", loss)
        self.update_history("G")
        return {"loss_g": loss.detach(), "feature_matching": fm.detach(), "hist_g": hist.detach()}
