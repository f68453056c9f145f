"""The two networks of one scale: a residual generator and a Markovian (patch) critic."""
from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from gan_lab.nn import init_dcgan_

Tensor = torch.Tensor


def _block(c_in: int, c_out: int, batch_norm: bool) -> nn.Sequential:
    """3x3 convolution (no padding) -> BatchNorm -> LeakyReLU(0.2)."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, padding=0, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(c_out))
    layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


class Generator(nn.Module):
    r"""Residual generator of one scale: :math:`G(z, y) = y + \psi(y + z)`.

    :math:`\psi` is five 3x3 convolutions (four conv-BN-LeakyReLU blocks and a conv + tanh). The
    input is zero-padded by 5 pixels first, so the output has the size of the input: the network
    is fully convolutional and generates images of any size. Weights start as DCGAN's
    (:func:`gan_lab.nn.init_dcgan_`), as in the official SinGAN code.
    """

    n_layers: ClassVar[int] = 5

    def __init__(self, filters: int, channels: int = 3, batch_norm: bool = True):
        super().__init__()
        self.pad = self.n_layers  # (kernel 3 - 1) / 2 = 1 pixel lost per layer
        blocks = [_block(channels, filters, batch_norm)]
        blocks += [_block(filters, filters, batch_norm) for _ in range(self.n_layers - 2)]
        self.body = nn.Sequential(*blocks)
        self.tail = nn.Sequential(nn.Conv2d(filters, channels, 3, padding=0), nn.Tanh())
        self.apply(init_dcgan_)

    def forward(self, z: Tensor, prev: Tensor) -> Tensor:
        # z: scaled noise sigma_n * z_n, prev: upsampled image of the scale below; both (B, 3, H, W)
        x = F.pad(prev + z, [self.pad] * 4)           # (B, 3, H + 10, W + 10)
        return prev + self.tail(self.body(x))         # (B, 3, H, W)


class Discriminator(nn.Module):
    """Markovian (PatchGAN) critic: five 3x3 convolutions, no padding, one score per 11x11 patch.

    Output (B, 1, H - 10, W - 10) of raw (Wasserstein) scores; no sigmoid.
    """

    def __init__(self, filters: int, channels: int = 3, batch_norm: bool = True):
        super().__init__()
        blocks = [_block(channels, filters, batch_norm)]
        blocks += [_block(filters, filters, batch_norm) for _ in range(3)]
        self.body = nn.Sequential(*blocks)
        self.tail = nn.Conv2d(filters, 1, 3, padding=0)
        self.apply(init_dcgan_)

    def forward(self, x: Tensor) -> Tensor:
        return self.tail(self.body(x))
