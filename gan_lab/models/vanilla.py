"""The vanilla GAN: multilayer perceptrons for G and D (Goodfellow et al., 2014).

Layer sizes follow dcgan-thesis-mnist-afhq Fig. 4.1a / 4.2a (the dense baseline that the thesis
compares with a convolutional GAN on MNIST):

* G: z(100) -> 256 -> 512 -> 1024 -> C*S*S, LeakyReLU(0.2) then batch norm after each hidden
  layer (the figure's order), tanh at the output;
* D: C*S*S -> 512 -> 256 -> 1, LeakyReLU(0.2) and dropout after each hidden layer.

Choices the thesis leaves open: the dropout rate (0.3 here), the output activation (tanh, so
images live in [-1, 1] like every other family), and the optimiser, for which we keep the DCGAN
setting Adam(2e-4, (0.5, 0.999)). Any image size and channel count works: the nets see
flattened pixels.

References: Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014; K. Deng, "Generating
images using a Deep Convolutional GANs", MSc thesis, University College Cork, 2024
(seed file ``dcgan-thesis-mnist-afhq.txt``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from gan_lab.models.base import BCEConfig, BCEGAN


@dataclass(frozen=True)
class Config(BCEConfig):
    image_size: int = 28
    channels: int = 1
    latent_dim: int = 100
    g_hidden: tuple[int, ...] = (256, 512, 1024)
    d_hidden: tuple[int, ...] = (512, 256)
    d_dropout: float = 0.3

    def __post_init__(self):
        super().__post_init__()
        for name in ("g_hidden", "d_hidden"):
            value = tuple(getattr(self, name))
            if not value or any(h <= 0 for h in value):
                raise ValueError(f"{name} must be a non-empty tuple of positive widths, got {value}")
            object.__setattr__(self, name, value)
        if not 0.0 <= self.d_dropout < 1.0:
            raise ValueError(f"d_dropout must be in [0, 1), got {self.d_dropout}")

    PRESETS: ClassVar[dict[str, dict]] = {"tiny": dict(latent_dim=16, g_hidden=(32, 64), d_hidden=(64, 32))}


class Generator(nn.Module):
    """z (B, latent_dim) -> image (B, C, S, S) in [-1, 1]."""

    def __init__(self, config: Config):
        super().__init__()
        c = config
        layers, width = [], c.latent_dim
        for h in c.g_hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(0.2, inplace=True), nn.BatchNorm1d(h)]
            width = h
        layers += [nn.Linear(width, c.channels * c.image_size ** 2), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.shape = (c.channels, c.image_size, c.image_size)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.shape)  # (B, C, S, S)


class Discriminator(nn.Module):
    """image (B, C, S, S) -> logit (B,)."""

    def __init__(self, config: Config):
        super().__init__()
        c = config
        layers, width = [nn.Flatten()], c.channels * c.image_size ** 2
        for h in c.d_hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(0.2, inplace=True), nn.Dropout(c.d_dropout)]
            width = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, 1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)  # (B, d_hidden[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).flatten()  # (B,)


class Model(BCEGAN):
    family = "vanilla"

    def build(self):
        self.G = Generator(self.config)
        self.D = Discriminator(self.config)
