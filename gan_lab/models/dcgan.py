"""DCGAN (Radford, Metz & Chintala, 2016): one class for 28, 32, 64 and 128 px.

Radford et al.'s architectural constraints, all kept here:

* no pooling: strided convolutions in D, fractionally-strided (transposed) ones in G;
* batch norm in both nets, except G's output layer and D's input layer;
* no fully connected hidden layers (G's first layer may be a linear projection, as in the paper);
* ReLU in G (tanh at the output), LeakyReLU(0.2) in D;
* weights from N(0, 0.02), Adam(lr 2e-4, beta1 0.5).

Shapes. G starts from a ``base`` x ``base`` map (4, or 7 for 28 px) and doubles the resolution
per block; D halves it per block until it is at most ``base`` and ends with a convolution over
the whole remaining map, which gives one logit per image. ``g_widths`` / ``d_widths`` fix the
channel count of each block; left empty they follow the classic pattern (``ngf * 8, 4, 2, 1``
for 64 px). ``extra_layers_g`` / ``extra_layers_d`` add stride-1 3x3 conv blocks at the
high-resolution end of each net (the layer-depth study of dcgan-thesis-mnist-afhq §4).

Presets: :meth:`Config.classic64` (ngf = ndf = 64, z = 100, 3,576,704 G parameters) and
:meth:`Config.fashion_mnist` (the Fashion-MNIST net of dcgan-fashion-mnist-faces Table 4.3.1 /
Fig. 4.3.1: a dense projection to 7x7x128, transposed convs to 14x14x256 and 28x28x128, a
stride-1 block of 64, a conv output; D with 64-128-256 strided convs and dropout; Adam(1e-3, 0.5),
batch 32). That thesis leaves the kernel sizes open: we use 4x4 for the stride-2 transposed convs,
3x3 elsewhere, and dropout 0.3 (the thesis names 0.3 and 0.4 without saying where each goes).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from gan_lab.models.base import BCEConfig, BCEGAN

SUPPORTED_SIZES = (28, 32, 64, 128)


@dataclass(frozen=True)
class Config(BCEConfig):
    image_size: int = 64
    channels: int = 3
    latent_dim: int = 100
    ngf: int = 64
    ndf: int = 64
    g_widths: tuple[int, ...] = ()      # empty: the classic DCGAN widths from ngf
    d_widths: tuple[int, ...] = ()      # empty: the classic DCGAN widths from ndf
    g_project: str = "conv"             # "conv": ConvTranspose from 1x1; "linear": dense to base x base
    g_output: str = "upsample"          # "upsample": last ConvTranspose gives the image; "conv": 3x3 conv at full size
    extra_layers_g: int = 0
    extra_layers_d: int = 0
    d_dropout: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        if self.image_size not in SUPPORTED_SIZES:
            raise ValueError(f"DCGAN builds {', '.join(map(str, SUPPORTED_SIZES))} px nets, "
                             f"not {self.image_size}; pick one of those --image-size values")
        if self.g_project not in ("conv", "linear"):
            raise ValueError(f"g_project must be 'conv' or 'linear', got {self.g_project!r}")
        if self.g_output not in ("upsample", "conv"):
            raise ValueError(f"g_output must be 'upsample' or 'conv', got {self.g_output!r}")
        if self.extra_layers_g < 0 or self.extra_layers_d < 0:
            raise ValueError("extra_layers_g and extra_layers_d must be >= 0")
        if not 0.0 <= self.d_dropout < 1.0:
            raise ValueError(f"d_dropout must be in [0, 1), got {self.d_dropout}")
        for name in ("g_widths", "d_widths"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        if self.g_widths and len(self.g_widths) < self.n_up + (1 if self.g_output == "conv" else 0):
            raise ValueError(f"g_widths needs at least {self.n_up + (self.g_output == 'conv')} entries "
                             f"for {self.image_size} px, got {len(self.g_widths)}")

    # -- derived shapes -------------------------------------------------------------------
    @property
    def base(self) -> int:
        return 7 if self.image_size % 7 == 0 else 4

    @property
    def n_up(self) -> int:
        """Resolution doublings from ``base`` to ``image_size``."""
        return int(round(math.log2(self.image_size / self.base)))

    def generator_widths(self) -> tuple[int, ...]:
        if self.g_widths:
            return self.g_widths
        n = self.n_up if self.g_output == "upsample" else self.n_up + 1
        return tuple(self.ngf * 2 ** max(self.n_up - 1 - i, 0) for i in range(n))

    def discriminator_widths(self) -> tuple[int, ...]:
        if self.d_widths:
            return self.d_widths
        return tuple(self.ndf * 2 ** i for i in range(self.n_up))

    # -- presets ---------------------------------------------------------------------------
    @classmethod
    def classic64(cls, **overrides) -> "Config":
        """The 64 px net of Radford et al. / the PyTorch DCGAN tutorial."""
        return cls(**{"image_size": 64, "channels": 3, "latent_dim": 100, "ngf": 64, "ndf": 64, **overrides})

    @classmethod
    def fashion_mnist(cls, **overrides) -> "Config":
        """dcgan-fashion-mnist-faces Table 4.3.1 / Fig. 4.3.1 (28 px, 1 channel)."""
        values = dict(image_size=28, channels=1, latent_dim=100, g_project="linear", g_output="conv",
                      g_widths=(128, 256, 128, 64), d_widths=(64, 128, 256), d_dropout=0.3,
                      lr_g=1e-3, lr_d=1e-3, betas=(0.5, 0.999))
        values.update(overrides)
        return cls(**values)

    PRESETS: ClassVar[dict[str, dict]] = {"tiny": dict(image_size=28, channels=1, latent_dim=16, ngf=8, ndf=8)}


def init_weights(module: nn.Module) -> None:
    """DCGAN initialisation: conv/linear weights ~ N(0, 0.02), BN scale ~ N(1, 0.02), biases 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm2d, nn.BatchNorm1d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Generator(nn.Module):
    """z (B, latent_dim) -> image (B, C, S, S) in [-1, 1]."""

    def __init__(self, config: Config):
        super().__init__()
        c = config
        widths = c.generator_widths()
        size = c.base
        if c.g_project == "conv":
            self.project = nn.ConvTranspose2d(c.latent_dim, widths[0], c.base, 1, 0, bias=False)
        else:
            self.project = nn.Sequential(nn.Linear(c.latent_dim, widths[0] * c.base * c.base, bias=False),
                                         nn.Unflatten(1, (widths[0], c.base, c.base)))
        blocks = [nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)]
        # hidden upsampling blocks stop at S/2 when the output layer itself upsamples
        top = c.image_size // 2 if c.g_output == "upsample" else c.image_size
        width = widths[0]
        for w in widths[1:]:
            if size < top:
                blocks.append(nn.ConvTranspose2d(width, w, 4, 2, 1, bias=False))
                size *= 2
            else:
                blocks.append(nn.Conv2d(width, w, 3, 1, 1, bias=False))
            blocks += [nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            width = w
        for _ in range(c.extra_layers_g):
            blocks += [nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        self.blocks = nn.Sequential(*blocks)
        if size < c.image_size:
            self.to_image = nn.ConvTranspose2d(width, c.channels, 4, 2, 1, bias=False)
            size *= 2
        else:
            self.to_image = nn.Conv2d(width, c.channels, 3, 1, 1, bias=False)
        if size != c.image_size:
            raise ValueError(f"generator widths {widths} reach {size} px, not {c.image_size}")
        self.apply(init_weights)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.project(z.flatten(1)[:, :, None, None] if isinstance(self.project, nn.ConvTranspose2d) else z)
        return torch.tanh(self.to_image(self.blocks(x)))  # (B, C, S, S)


class Discriminator(nn.Module):
    """image (B, C, S, S) -> logit (B,). ``features(x)`` gives the last hidden map."""

    def __init__(self, config: Config):
        super().__init__()
        c = config
        widths = c.discriminator_widths()
        layers, size, width = [], c.image_size, c.channels
        for i, w in enumerate(widths):
            kernel = 4 if size % 2 == 0 else 3    # 7 -> 4 needs a 3x3 kernel with padding 1
            layers.append(nn.Conv2d(width, w, kernel, 2, 1, bias=False))
            size = (size + 2 - kernel) // 2 + 1
            if i > 0:
                layers.append(nn.BatchNorm2d(w))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            if c.d_dropout > 0:
                layers.append(nn.Dropout(c.d_dropout))
            width = w
            if i == 0:
                for _ in range(c.extra_layers_d):
                    layers += [nn.Conv2d(w, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.LeakyReLU(0.2, inplace=True)]
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(width, 1, size, 1, 0, bias=False)  # one logit from the whole final map
        self.feature_shape = (width, size, size)
        self.apply(init_weights)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)  # (B, C', s, s)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x)).flatten()  # (B,)


class Model(BCEGAN):
    family = "dcgan"

    def __init__(self, config: Config):
        super().__init__(config)
        self.G = Generator(config)
        self.D = Discriminator(config)
        self.setup()
