r"""SinGAN: a generative model learned from one natural image (Shaham, Dekel & Michaeli, 2019).

One image is turned into a pyramid :math:`x_0, \dots, x_{N-1}` (coarsest first). Each scale
:math:`n` has its own small generator :math:`G_n` and patch discriminator :math:`D_n`, trained
coarse to fine: when scale :math:`n` trains, scales :math:`0 \dots n-1` are frozen.

* Generators are *residual*: they receive the upsampled output of the scale below plus noise
  and add detail,

  .. math::
      \tilde x_0 = G_0(z_0) = \psi_0(\sigma_0 z_0), \qquad
      \tilde x_n = G_n(z_n, \tilde x_{n-1}{\uparrow}) =
      \tilde x_{n-1}{\uparrow} + \psi_n\big(\tilde x_{n-1}{\uparrow} + \sigma_n z_n\big).

* Discriminators are Markovian (PatchGAN): five 3x3 convolutions without padding give a map of
  scores, one per 11x11 patch; the critic value is the mean of that map.
* The loss of scale :math:`n` is WGAN-GP plus a reconstruction term
  :math:`\min_{G_n}\max_{D_n} L_{adv} + \alpha L_{rec}`. The reconstruction feeds a *fixed*
  noise map :math:`z^{rec}` at the coarsest scale and zero noise above it, so one particular
  draw of the pyramid must reproduce the image.
* The noise amplitude :math:`\sigma_n` is :math:`0.1 \times` the RMSE between the upsampled
  reconstruction of the scale below and the real image of scale :math:`n` (1 at the coarsest
  scale): scales that still have a lot to add get more noise.
* Each scale starts from the weights of the scale below when the shapes match.

The per-scale training wraps the same ``d_step`` / ``g_step`` functions as every other family
(:class:`ScaleModel`, a :class:`~gan_lab.models.base.GANModel`); :func:`train_singan` is the
per-scale loop. The whole pyramid is saved in one checkpoint file (:func:`save_singan`).

Tasks (all injection-based, section 4 of the paper): random samples, also at another size
(:meth:`SinGAN.sample`), paint-to-image (:meth:`SinGAN.paint`), harmonisation
(:meth:`SinGAN.harmonize`) and editing (:meth:`SinGAN.edit`).

SinGAN is not in the :data:`gan_lab.models.FAMILIES` registry: it trains on one image, not on a
data set, and has its own command group ``gan-lab singan train|sample|paint|harmonize|edit``.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gan_lab.losses import pixel_gradient_penalty, reconstruction_loss
from gan_lab.models.base import BaseConfig, GANModel
from gan_lab.utils import GanLabError, Stopwatch, pick_device, seed_everything

Tensor = torch.Tensor

FAMILY = "singan"
FORMAT_VERSION = 1
#: the receptive field of the 5-layer 3x3 discriminator is 11x11; it needs a few more pixels
#: than that to output a map of patch scores.
MIN_SIDE = 16


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Config(BaseConfig):
    """SinGAN hyper-parameters; the defaults are the paper's (GPU-sized).

    ``image_size`` is the *longest side of the finest scale* (the paper's "max size", 250):
    a larger image is shrunk to it, a smaller one is kept. ``latent_dim`` is the number of
    noise channels (3, as the image). ``n_critic`` is the number of D steps and ``g_steps`` the
    number of G steps per iteration (3 and 3 in the paper).
    """

    image_size: int = 250           # max size: longest side of the finest scale
    channels: int = 3
    latent_dim: int = 3             # noise channels
    lr_g: float = 5e-4
    lr_d: float = 5e-4
    betas: tuple[float, float] = (0.5, 0.999)
    n_critic: int = 3               # D steps per iteration
    g_steps: int = 3                # G steps per iteration
    min_size: int = 25              # shortest side of the coarsest scale
    scale_factor: float = 0.75      # initial guess r; the pyramid adjusts it to hit min_size exactly
    num_scales: int = 0             # 0: as many as min_size needs; N: exactly N scales with factor r
    steps_per_scale: int = 2000     # iterations per scale
    lr_decay_at: float = 0.8        # learning rates x0.1 after this share of a scale's iterations
    rec_weight: float = 10.0        # alpha, weight of the reconstruction loss
    gp_weight: float = 0.1          # lambda of the (per-pixel) gradient penalty
    noise_amp_factor: float = 0.1   # sigma_n = factor * RMSE(reconstruction, real)
    filters: int = 32               # conv filters at the coarsest scale
    double_every: int = 4           # double the filters every k scales (0: fixed, as the dissertation)
    max_filters: int = 128
    batch_norm: bool = True
    init_from_previous: bool = True  # start scale n from the weights of scale n-1 when shapes match

    def __post_init__(self):
        super().__post_init__()
        if self.channels != 3:
            raise ValueError("SinGAN works on RGB images: channels must be 3 (greyscale input is converted)")
        if self.min_size < MIN_SIDE:
            raise ValueError(f"min_size must be at least {MIN_SIDE} (the discriminator sees 11x11 patches), "
                             f"got {self.min_size}")
        if self.image_size < self.min_size:
            raise ValueError(f"image_size (max size) {self.image_size} is smaller than min_size {self.min_size}")
        if not 0.3 <= self.scale_factor < 1.0:
            raise ValueError(f"scale_factor must be in [0.3, 1), got {self.scale_factor}")
        if self.num_scales < 0:
            raise ValueError(f"num_scales must be 0 (automatic) or positive, got {self.num_scales}")
        if self.steps_per_scale < 1 or self.g_steps < 1:
            raise ValueError("steps_per_scale and g_steps must be at least 1")
        if not 0.0 < self.lr_decay_at <= 1.0:
            raise ValueError(f"lr_decay_at must be in (0, 1], got {self.lr_decay_at}")
        if self.rec_weight < 0 or self.gp_weight < 0 or self.noise_amp_factor <= 0:
            raise ValueError("rec_weight and gp_weight must be >= 0 and noise_amp_factor > 0")
        if self.filters < 1 or self.max_filters < self.filters or self.double_every < 0:
            raise ValueError("need filters >= 1, max_filters >= filters and double_every >= 0")

    @classmethod
    def tiny(cls, **overrides) -> "Config":
        """Max size 40, min 16 (3 scales for a 3:2 image), 8 filters, 2 iterations per scale: for CPU tests."""
        values = dict(image_size=40, min_size=16, filters=8, max_filters=8, steps_per_scale=2,
                      n_critic=1, g_steps=1)
        values.update(overrides)
        return cls(**values)

    @classmethod
    def cpu(cls, **overrides) -> "Config":
        """What a 2-core CPU trains in minutes: max size 64, min 20, 300 iterations per scale."""
        values = dict(image_size=64, min_size=20, steps_per_scale=300)
        values.update(overrides)
        return cls(**values)

    def filters_at(self, scale: int) -> int:
        """Conv filters of scale ``scale`` (the paper: 32, doubled every 4 scales, at most 128)."""
        if self.double_every == 0:
            return self.filters
        return min(self.filters * 2 ** (scale // self.double_every), self.max_filters)


# ---------------------------------------------------------------------------------------------
# The image pyramid
# ---------------------------------------------------------------------------------------------
def pyramid_sizes(height: int, width: int, config: Config) -> tuple[list[tuple[int, int]], float]:
    r"""Sizes (H, W) of every scale, coarsest first, and the scale factor actually used.

    The finest scale is the image shrunk so its longest side is at most ``config.image_size``.
    With ``num_scales = 0`` the number of down-scalings is the smallest :math:`n` with
    :math:`r^n \le m / s` (:math:`s` the shortest side, :math:`m` the min size, :math:`r` the
    initial factor), and the factor is then adjusted to :math:`(m/s)^{1/n}` so that the coarsest
    shortest side is exactly ``min_size``. With ``num_scales = N`` the factor is kept and the
    coarsest scale is simply the finest one times :math:`r^{N-1}`: fewer scales mean a larger
    coarsest image, on which the 11x11 patches see less of the global layout.
    """
    if min(height, width) < 1:
        raise GanLabError(f"image of size {height}x{width} is empty")
    shrink = min(1.0, config.image_size / max(height, width))
    h, w = max(1, round(height * shrink)), max(1, round(width * shrink))
    short = min(h, w)
    if short < config.min_size:
        raise GanLabError(
            f"the image is too small: its shortest side is {short} px after resizing to max size "
            f"{config.image_size}, but SinGAN's coarsest scale needs {config.min_size} px; use a larger image, "
            f"a larger --max-size or a smaller --min-size (at least {MIN_SIDE})")
    if config.num_scales:
        n = config.num_scales - 1
        factor = config.scale_factor
        if short * factor ** n < MIN_SIDE:
            raise GanLabError(f"{config.num_scales} scales with factor {factor} shrink the {short}px side below "
                              f"{MIN_SIDE}px; ask for fewer scales or a larger max size")
    else:
        ratio = config.min_size / short
        n = math.ceil(math.log(ratio) / math.log(config.scale_factor) - 1e-9) if ratio < 1 else 0
        factor = ratio ** (1.0 / n) if n > 0 else 1.0
    sizes = [(max(1, round(h * factor ** (n - i))), max(1, round(w * factor ** (n - i)))) for i in range(n + 1)]
    sizes[-1] = (h, w)
    return sizes, float(factor)


def resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Bicubic resize with anti-aliasing when shrinking (as an image library would), clamped to [-1, 1]."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    shrink = size[0] < x.shape[-2] or size[1] < x.shape[-1]
    return F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=shrink).clamp(-1, 1)


def upsample(x: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear up-sampling of a generated image to the next scale (no clamp: G's output is not bounded)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def build_pyramid(image: Tensor, sizes: list[tuple[int, int]]) -> list[Tensor]:
    """The real image at every scale, coarsest first; ``image`` is (1, 3, H, W) in [-1, 1]."""
    finest = resize(image, sizes[-1])
    return [resize(finest, s) for s in sizes]


# ---------------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------------
def _block(c_in: int, c_out: int, batch_norm: bool) -> nn.Sequential:
    """3x3 convolution (no padding) -> BatchNorm -> LeakyReLU(0.2)."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, padding=0, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(c_out))
    layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


def _init_weights(module: nn.Module) -> None:
    """N(0, 0.02) for convolutions, N(1, 0.02) for BatchNorm scales (as DCGAN and SinGAN)."""
    if isinstance(module, nn.Conv2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Generator(nn.Module):
    r"""Residual generator of one scale: :math:`G(z, y) = y + \psi(y + z)`.

    :math:`\psi` is five 3x3 convolutions (four conv-BN-LeakyReLU blocks and a conv + tanh). The
    input is zero-padded by 5 pixels first, so the output has the size of the input: the network
    is fully convolutional and generates images of any size.
    """

    n_layers: ClassVar[int] = 5

    def __init__(self, filters: int, channels: int = 3, batch_norm: bool = True):
        super().__init__()
        self.pad = self.n_layers  # (kernel 3 - 1) / 2 = 1 pixel lost per layer
        blocks = [_block(channels, filters, batch_norm)]
        blocks += [_block(filters, filters, batch_norm) for _ in range(self.n_layers - 2)]
        self.body = nn.Sequential(*blocks)
        self.tail = nn.Sequential(nn.Conv2d(filters, channels, 3, padding=0), nn.Tanh())
        self.apply(_init_weights)

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
        self.apply(_init_weights)

    def forward(self, x: Tensor) -> Tensor:
        return self.tail(self.body(x))


# ---------------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------------
# ---------------------------------------------------------------------------------------------
# One scale: the shared step-function pattern
# ---------------------------------------------------------------------------------------------
class ScaleModel(GANModel):
    """The G/D pair of one scale, with the step functions the per-scale loop calls.

    ``draw_prev()`` returns a fresh random image from the frozen coarser scales, already
    upsampled to this scale (zeros at the coarsest scale); ``rec_prev`` is the upsampled
    reconstruction (fixed); ``z_rec`` the fixed reconstruction noise of this scale (random at
    the coarsest scale, zero above) and ``noise_amp`` this scale's sigma.
    """

    family: ClassVar[str] = "singan-scale"

    def __init__(self, config: Config, G: Generator, D: Discriminator, draw_prev: Callable[[], Tensor],
                 rec_prev: Tensor, z_rec: Tensor, noise_amp: float):
        super().__init__(config)
        self.G, self.D = G, D
        self.draw_prev = draw_prev
        self.rec_prev = rec_prev
        self.z_rec = z_rec
        self.noise_amp = float(noise_amp)
        self.setup()

    def fake(self, like: Tensor) -> Tensor:
        """A random image of this scale: G_n(sigma_n z, fresh upsampled sample from below)."""
        prev = self.draw_prev()
        z = torch.randn(like.shape, device=like.device, dtype=like.dtype)
        return self.G(self.noise_amp * z, prev)

    def d_step(self, x_real: Tensor) -> dict:
        r"""Critic update: :math:`\min_D\ \overline{D(\tilde x)} - \overline{D(x)} + \lambda\, GP`."""
        with torch.no_grad():
            x_fake = self.fake(x_real)
        d_real = self.D(x_real).mean()
        d_fake = self.D(x_fake).mean()
        gp = pixel_gradient_penalty(self.D, x_real, x_fake)
        loss = d_fake - d_real + self.config.gp_weight * gp
        self.optimize("D", loss)
        return {"loss_d": loss.detach(), "d_real": d_real.detach(), "d_fake": d_fake.detach(),
                "gp": gp.detach(), "wasserstein": (d_real - d_fake).detach()}

    def g_step(self, x_real: Tensor) -> dict:
        r"""Generator update: :math:`\min_G -\overline{D(\tilde x)} + \alpha L_{rec}`."""
        x_fake = self.fake(x_real)
        adv = -self.D(x_fake).mean()
        x_rec = self.G(self.noise_amp * self.z_rec, self.rec_prev)
        rec = reconstruction_loss(x_rec, x_real)
        loss = adv + self.config.rec_weight * rec
        self.optimize("G", loss)
        return {"loss_g": loss.detach(), "g_adv": adv.detach(), "rec": rec.detach()}


# ---------------------------------------------------------------------------------------------
# The pyramid
# ---------------------------------------------------------------------------------------------
class SinGAN(nn.Module):
    """All scales of a SinGAN: generators, discriminators, noise amplitudes, fixed noise, reals.

    Build it with :meth:`from_image` (untrained) and train with :func:`train_singan`, or load a
    trained one with :func:`load_singan`.
    """

    family: ClassVar[str] = FAMILY

    def __init__(self, config: Config, sizes: list[tuple[int, int]], scale_factor: float):
        super().__init__()
        self.config = config
        self.sizes = [tuple(int(v) for v in s) for s in sizes]
        self.scale_factor = float(scale_factor)
        n = len(self.sizes)
        self.generators = nn.ModuleList(
            Generator(config.filters_at(i), config.channels, config.batch_norm) for i in range(n))
        self.discriminators = nn.ModuleList(
            Discriminator(config.filters_at(i), config.channels, config.batch_norm) for i in range(n))
        self.register_buffer("noise_amp", torch.ones(n))
        self.register_buffer("z_rec", torch.randn(1, config.channels, *self.sizes[0]))
        self.register_buffer("image", torch.zeros(1, config.channels, *self.sizes[-1]))
        self.register_buffer("scales_trained", torch.zeros((), dtype=torch.long))

    @classmethod
    def from_image(cls, image: Tensor, config: Config) -> "SinGAN":
        """An untrained pyramid for ``image`` ((1, 3, H, W) in [-1, 1], any size)."""
        image = as_image_tensor(image)
        sizes, factor = pyramid_sizes(image.shape[-2], image.shape[-1], config)
        model = cls(config, sizes, factor)
        model.image.copy_(resize(image, sizes[-1]))
        return model

    @property
    def num_scales(self) -> int:
        return len(self.sizes)

    @property
    def device(self) -> torch.device:
        return self.noise_amp.device

    def reals(self) -> list[Tensor]:
        """The real image at every scale, coarsest first."""
        return build_pyramid(self.image, self.sizes)

    # -- drawing through the pyramid ---------------------------------------------------------
    def _check_trained(self, upto: int) -> None:
        if int(self.scales_trained) < upto:
            raise GanLabError(f"this SinGAN has {int(self.scales_trained)} of {self.num_scales} scales trained; "
                              f"finish training (gan-lab singan train --resume) before using scale {upto - 1}")

    @torch.no_grad()
    def run(self, start: int = 0, stop: int | None = None, prev: Tensor | None = None, n: int = 1,
            sizes: list[tuple[int, int]] | None = None, mode: str = "rand",
            generator: torch.Generator | None = None) -> Tensor:
        r"""Run generators ``start .. stop-1`` and return the output of scale ``stop - 1``.

        ``prev`` is the image fed to ``G_start`` (already at ``sizes[start]``); ``None`` means
        zeros, which is what ``G_0`` was trained with. ``mode="rand"`` draws fresh noise at every
        scale; ``mode="rec"`` uses the fixed reconstruction noise (and ``n`` is 1). ``sizes``
        overrides the per-scale sizes (random samples of another shape).
        """
        stop = self.num_scales if stop is None else stop
        sizes = self.sizes if sizes is None else sizes
        if not 0 <= start < stop <= self.num_scales:
            raise GanLabError(f"scales must satisfy 0 <= start < stop <= {self.num_scales}, got {start}, {stop}")
        self._check_trained(stop)
        if mode not in ("rand", "rec"):
            raise ValueError(f"mode must be 'rand' or 'rec', got {mode!r}")
        device, c = self.device, self.config.channels
        x = torch.zeros(n, c, *sizes[start], device=device) if prev is None else prev.to(device)
        for s in range(start, stop):
            G = self.generators[s]
            was_training = G.training
            G.eval()
            prev_s = upsample(x, sizes[s])
            if mode == "rec":
                z = self.z_rec.expand(n, -1, -1, -1) if s == 0 else torch.zeros_like(prev_s)
            else:
                z = torch.randn(prev_s.shape, device=device, generator=generator)
            x = G(self.noise_amp[s] * z, prev_s)
            G.train(was_training)
        return x

    def reconstruct(self, upto: int | None = None) -> Tensor:
        """The fixed-noise reconstruction of the image, at scale ``upto - 1`` (default: finest)."""
        return self.run(0, upto, mode="rec")

    def sample(self, n: int = 1, scale_h: float = 1.0, scale_w: float = 1.0, start: int = 0,
               seed: int | None = None) -> Tensor:
        """``n`` random images, (n, 3, H, W). ``scale_h``/``scale_w`` stretch every scale's size
        (another size or aspect ratio, as the paper's retargeting samples). ``start > 0`` starts
        from the reconstruction at scale ``start - 1`` (less variety: only finer details change)."""
        if n < 1:
            raise GanLabError(f"--n must be at least 1, got {n}")
        if not (0.25 <= scale_h <= 8 and 0.25 <= scale_w <= 8):
            raise GanLabError(f"scale_h and scale_w must be in [0.25, 8], got {scale_h}, {scale_w}")
        sizes = [(max(MIN_SIDE // 2, round(h * scale_h)), max(MIN_SIDE // 2, round(w * scale_w)))
                 for h, w in self.sizes]
        generator = _generator(seed, self.device)
        prev = None
        if start > 0:
            prev = upsample(self.run(0, start, mode="rec"), sizes[start]).expand(n, -1, -1, -1)
        return self.run(start, None, prev=prev, n=n, sizes=sizes, generator=generator)

    def _injected(self, image: Tensor, inject_scale: int) -> Tensor:
        """``image`` as G_{inject_scale} would see it: shrunk to the scale below, upsampled back."""
        if not 1 <= inject_scale < self.num_scales:
            raise GanLabError(f"--inject-scale must be between 1 and {self.num_scales - 1} for this "
                              f"{self.num_scales}-scale model, got {inject_scale}")
        image = self._fit_to_model(as_image_tensor(image))
        coarse = resize(image, self.sizes[inject_scale - 1])
        return upsample(coarse, self.sizes[inject_scale])

    def _fit_to_model(self, image: Tensor) -> Tensor:
        h, w = image.shape[-2:]
        H, W = self.sizes[-1]
        if abs(math.log((w / h) / (W / H))) > 0.05:
            raise GanLabError(f"the input image is {w}x{h} (W x H) but the model was trained on a {W}x{H} image; "
                              f"crop or resize it to the same aspect ratio ({W}:{H})")
        return resize(image.to(self.device), (H, W))

    def paint(self, painting: Tensor, inject_scale: int = 1, n: int = 1, seed: int | None = None) -> Tensor:
        """Paint-to-image: a coarse painting injected at ``inject_scale``; finer scales add texture."""
        prev = self._injected(painting, inject_scale).expand(n, -1, -1, -1)
        return self.run(inject_scale, None, prev=prev, n=n, generator=_generator(seed, self.device))

    def harmonize(self, composite: Tensor, mask: Tensor, inject_scale: int | None = None,
                  dilation: int | None = None, n: int = 1, seed: int | None = None) -> Tensor:
        """Harmonisation: a naive paste (``composite``) is re-rendered from ``inject_scale`` on and the
        result is kept inside the (dilated, softened) ``mask``; outside it the composite is unchanged."""
        return self._masked(composite, mask, inject_scale, dilation, 0.028, n, seed)

    def edit(self, edited: Tensor, mask: Tensor, inject_scale: int | None = None,
             dilation: int | None = None, n: int = 1, seed: int | None = None) -> Tensor:
        """Editing: as :meth:`harmonize`, with a larger mask dilation (blocks moved or copied)."""
        return self._masked(edited, mask, inject_scale, dilation, 0.08, n, seed)

    def _masked(self, image, mask, inject_scale, dilation, default_share, n, seed) -> Tensor:
        image = as_image_tensor(image)
        mask = as_mask_tensor(mask)
        if tuple(mask.shape[-2:]) != tuple(image.shape[-2:]):
            raise GanLabError(f"the mask is {mask.shape[-1]}x{mask.shape[-2]} but the image is "
                              f"{image.shape[-1]}x{image.shape[-2]} (W x H); they must have the same size")
        if inject_scale is None:
            inject_scale = max(1, self.num_scales // 2)
        out = self.paint(image, inject_scale, n=n, seed=seed)
        base = self._fit_to_model(image)
        H, W = self.sizes[-1]
        mask = F.interpolate(mask.to(self.device), size=(H, W), mode="bilinear", align_corners=False)
        if dilation is None:
            dilation = max(1, round(default_share * min(H, W)))
        soft = soften_mask(mask, dilation)
        return soft * out + (1 - soft) * base

    # -- checkpoint -------------------------------------------------------------------------
    def payload(self, history: list[dict] | None = None, extra: dict | None = None) -> dict:
        """Everything :func:`load_singan` needs, as tensors, numbers and strings (weights_only-safe)."""
        out = {
            "format_version": FORMAT_VERSION,
            "family": FAMILY,
            "model_config": self.config.to_dict(),
            "sizes": [list(s) for s in self.sizes],
            "scale_factor": self.scale_factor,
            "scales_trained": int(self.scales_trained),
            "noise_amp": [float(a) for a in self.noise_amp],
            "state": {k: v.detach().cpu() for k, v in self.state_dict().items()},
            "history": list(history or []),
        }
        out.update(extra or {})
        return out


def _generator(seed: int | None, device: torch.device) -> torch.Generator | None:
    if seed is None:
        return None
    return torch.Generator(device=device).manual_seed(int(seed))


def soften_mask(mask: Tensor, dilation: int, sigma: float | None = None) -> Tensor:
    """Binary dilation of ``mask`` (B, 1, H, W) by a disk of radius ``dilation`` pixels, then a
    Gaussian blur (sigma = dilation / 2 by default) so the pasted region fades into the image."""
    binary = (mask > 0.5).to(mask.dtype)
    r = int(dilation)
    if r > 0:
        yy, xx = torch.meshgrid(torch.arange(-r, r + 1, device=mask.device),
                                torch.arange(-r, r + 1, device=mask.device), indexing="ij")
        disk = ((yy ** 2 + xx ** 2) <= r * r).to(mask.dtype)[None, None]
        binary = (F.conv2d(binary, disk, padding=r) > 0.5).to(mask.dtype)
    sigma = max(r, 1) / 2 if sigma is None else sigma
    k = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-k, k + 1, device=mask.device, dtype=mask.dtype)
    g = torch.exp(-t ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    x = F.pad(binary, [k, k, k, k], mode="replicate")
    x = F.conv2d(x, g.view(1, 1, 1, -1))
    x = F.conv2d(x, g.view(1, 1, -1, 1))
    return torch.maximum(x, (mask > 0.5).to(mask.dtype)).clamp(0, 1)


# ---------------------------------------------------------------------------------------------
# Input images
# ---------------------------------------------------------------------------------------------
def as_image_tensor(image) -> Tensor:
    """(1, 3, H, W) float in [-1, 1] from a tensor of that form, or an (H, W[, C]) uint8 / float
    array (greyscale is repeated to RGB, an alpha channel is dropped)."""
    if isinstance(image, torch.Tensor) and image.dim() == 4 and image.is_floating_point():
        if image.shape[0] != 1:
            raise GanLabError(f"expected one image (1, C, H, W), got a batch of {image.shape[0]}")
        x = image
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        elif x.shape[1] == 4:
            x = x[:, :3]
        if x.shape[1] != 3:
            raise GanLabError(f"expected 1, 3 or 4 channels, got {x.shape[1]}")
        return x.float()
    arr = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise GanLabError(f"expected an image array (H, W), (H, W, 3) or (H, W, 4), got shape {arr.shape}")
    arr = arr[:, :, :3] if arr.shape[2] == 4 else np.repeat(arr, 3, axis=2) if arr.shape[2] == 1 else arr
    if arr.dtype == np.uint8:
        x = torch.from_numpy(arr.astype(np.float32) / 127.5 - 1.0)
    elif arr.dtype == bool:
        x = torch.from_numpy(arr.astype(np.float32) * 2 - 1)
    else:  # floats in [0, 1], as skimage returns them
        x = torch.from_numpy(np.clip(arr.astype(np.float32), 0, 1) * 2 - 1)
    return x.permute(2, 0, 1)[None].contiguous()


def as_mask_tensor(mask) -> Tensor:
    """(1, 1, H, W) float in {0, 1} from a tensor or array; white / nonzero means 'changed'."""
    if isinstance(mask, torch.Tensor) and mask.dim() == 4:
        m = mask[:, :1].float()
        return (m > (0.0 if m.min() < 0 else 0.5)).float()
    arr = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
    if arr.ndim == 3:
        arr = arr[:, :, :3].max(axis=2)
    if arr.ndim != 2:
        raise GanLabError(f"expected a mask array (H, W) or (H, W, C), got shape {arr.shape}")
    thresh = 127 if arr.dtype == np.uint8 else 0.5
    return torch.from_numpy((arr > thresh).astype(np.float32))[None, None]


def read_image(spec: str) -> Tensor:
    """Read an image file, or a bundled one: ``skimage:NAME`` (e.g. ``skimage:chelsea``) or
    ``sklearn:china.jpg``. Returns (1, 3, H, W) in [-1, 1] at full size."""
    spec = str(spec)
    if spec.startswith("skimage:"):
        import skimage.data
        name = spec.split(":", 1)[1]
        fn = getattr(skimage.data, name, None)
        if fn is None or not callable(fn):
            raise GanLabError(f"scikit-image has no sample image {name!r} (try chelsea, coffee, astronaut)")
        return as_image_tensor(fn())
    if spec.startswith("sklearn:"):
        from sklearn.datasets import load_sample_image
        name = spec.split(":", 1)[1]
        try:
            return as_image_tensor(load_sample_image(name))
        except AttributeError as exc:
            raise GanLabError(f"scikit-learn has no sample image {name!r} (try china.jpg or flower.jpg)") from exc
    path = Path(spec)
    if not path.is_file():
        raise GanLabError(f"image {spec} does not exist; pass a PNG/JPEG path or skimage:NAME / sklearn:NAME")
    from gan_lab.data import load_image
    # greyscale is repeated to RGB, RGBA is composited (gan_lab.data's rules); SinGAN resizes itself
    return as_image_tensor(load_image(path, channels=3, max_size=None))


def read_mask(spec: str) -> Tensor:
    """A mask file as (1, 1, H, W) in {0, 1}: white (or any non-black pixel) marks the edited region."""
    path = Path(spec)
    if not path.is_file():
        raise GanLabError(f"mask {spec} does not exist; pass a black-and-white PNG of the image's size")
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as im:
            return as_mask_tensor(np.asarray(im.convert("L")))
    except (UnidentifiedImageError, OSError) as exc:
        raise GanLabError(f"{spec} is not a readable mask image ({exc})") from exc


def to_uint8_image(x: Tensor) -> np.ndarray:
    """(H, W, 3) uint8 from a (3, H, W) or (1, 3, H, W) image in [-1, 1]."""
    if x.dim() == 4:
        x = x[0]
    return ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()


def save_images(x: Tensor, path: str | Path) -> list[Path]:
    """Write (N, 3, H, W) images: a file path gets one image (N = 1) or a grid; a folder gets one file each."""
    from PIL import Image
    path = Path(path)
    if path.suffix.lower() in (".png", ".jpg", ".jpeg"):
        path.parent.mkdir(parents=True, exist_ok=True)
        if x.shape[0] == 1:
            Image.fromarray(to_uint8_image(x[0])).save(path)
        else:
            from torchvision.utils import make_grid
            grid = make_grid(x.detach().float().clamp(-1, 1).cpu(), nrow=min(4, x.shape[0]), padding=2,
                             pad_value=1.0)
            Image.fromarray(to_uint8_image(grid)).save(path)
        return [path]
    path.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(x.shape[0]):
        p = path / f"sample_{i:03d}.png"
        Image.fromarray(to_uint8_image(x[i])).save(p)
        out.append(p)
    return out


# ---------------------------------------------------------------------------------------------
# Training: the per-scale loop around the shared step functions
# ---------------------------------------------------------------------------------------------
def train_singan(image, config: Config, device: str | torch.device = "auto", seed: int = 0,
                 checkpoint: str | Path | None = None, model: SinGAN | None = None,
                 progress: bool = True, log_every: int = 10,
                 history: list[dict] | None = None) -> tuple[SinGAN, list[dict]]:
    """Train every scale coarse to fine; return the pyramid and its history.

    Each iteration of scale ``n`` is ``config.n_critic`` calls of :meth:`ScaleModel.d_step` and
    ``config.g_steps`` calls of :meth:`ScaleModel.g_step`. ``checkpoint`` (optional) is rewritten
    atomically after every finished scale, so an interrupted run loses at most one scale; pass a
    partly trained ``model`` to continue it (with its earlier ``history``, which the returned and
    saved history then extends). History rows: scale, step, every loss part; one row per finished
    scale with its training ``seconds``.
    """
    device = pick_device(device) if not isinstance(device, torch.device) else device
    seed_everything(seed)
    if model is None:
        model = SinGAN.from_image(image, config)
    config = model.config
    model.to(device)
    reals = model.reals()
    history = list(history or [])
    timer = Stopwatch(device=device)
    for n in range(int(model.scales_trained), model.num_scales):
        G, D = model.generators[n], model.discriminators[n]
        if n > 0 and config.init_from_previous and config.filters_at(n) == config.filters_at(n - 1):
            G.load_state_dict(model.generators[n - 1].state_dict())
            D.load_state_dict(model.discriminators[n - 1].state_dict())
        G.train()
        D.train()
        x_real = reals[n]
        if n == 0:
            rec_prev = torch.zeros_like(x_real)
            amp = 1.0
        else:
            rec_prev = upsample(model.run(0, n, mode="rec"), model.sizes[n])
            amp = config.noise_amp_factor * torch.sqrt(F.mse_loss(rec_prev, x_real)).item()
        model.noise_amp[n] = amp
        z_rec = model.z_rec if n == 0 else torch.zeros_like(x_real)

        def draw_prev(n=n, like=x_real):
            if n == 0:
                return torch.zeros_like(like)
            return upsample(model.run(0, n, mode="rand"), model.sizes[n])

        scale = ScaleModel(config, G, D, draw_prev, rec_prev, z_rec, amp)
        milestone = max(1, int(round(config.lr_decay_at * config.steps_per_scale)))
        schedulers = [torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[milestone], gamma=0.1)
                      for opt in scale.optimizers.values()]
        bar = _progress(config.steps_per_scale, f"scale {n + 1}/{model.num_scales} {model.sizes[n]}", progress)
        with timer.lap():
            for step in range(config.steps_per_scale):
                for _ in range(config.n_critic):
                    d_logs = scale.d_step(x_real)
                for _ in range(config.g_steps):
                    g_logs = scale.g_step(x_real)
                for sched in schedulers:
                    sched.step()
                if step % log_every == 0 or step == config.steps_per_scale - 1:
                    row = {"scale": n, "step": step, "noise_amp": amp}
                    row.update({k: float(v) for k, v in {**d_logs, **g_logs}.items()})
                    if not all(math.isfinite(v) for v in row.values()):
                        raise GanLabError(f"training diverged at scale {n}, iteration {step} ({row}); "
                                          f"try a smaller learning rate or a larger gp_weight")
                    history.append(row)
                    if bar is not None:
                        bar.set_postfix(loss_d=f"{row['loss_d']:.3f}", rec=f"{row['rec']:.4f}")
                if bar is not None:
                    bar.update(1)
        if bar is not None:
            bar.close()
        G.eval()
        D.eval()
        model.scales_trained.fill_(n + 1)
        history.append({"scale": n, "step": config.steps_per_scale, "seconds": timer.laps[-1],
                        "noise_amp": amp})
        if checkpoint is not None:
            save_singan(model, checkpoint, history)
    return model, history


def _progress(total: int, desc: str, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, leave=False)


def scale_seconds(history: list[dict]) -> dict[int, float]:
    """Training seconds per scale, from a history returned by :func:`train_singan`."""
    return {int(r["scale"]): float(r["seconds"]) for r in history if "seconds" in r}


# ---------------------------------------------------------------------------------------------
# Checkpoints: one file for the whole pyramid
# ---------------------------------------------------------------------------------------------
def save_singan(model: SinGAN, path: str | Path, history: list[dict] | None = None,
                extra: dict | None = None) -> Path:
    """Write the whole pyramid to one file, atomically (a crash keeps the previous file)."""
    from gan_lab.checkpoint import atomic_save
    return atomic_save(model.payload(history, extra), path)


def load_singan(path: str | Path, device: str | torch.device = "cpu") -> tuple[SinGAN, dict]:
    """Load a pyramid written by :func:`save_singan` (``weights_only=True``); returns (model, payload)."""
    from gan_lab.checkpoint import load_file
    payload = load_file(path, map_location="cpu")
    family = payload.get("family")
    if family != FAMILY:
        raise GanLabError(f"{path} holds a {family!r} checkpoint, not a SinGAN pyramid; use "
                          f"'gan-lab sample' for it, or pass a file written by 'gan-lab singan train'")
    try:
        config = Config.from_dict(payload["model_config"])
        model = SinGAN(config, [tuple(s) for s in payload["sizes"]], payload["scale_factor"])
        model.load_state_dict(payload["state"])
    except (KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise GanLabError(f"{path} is a damaged or incompatible SinGAN checkpoint: "
                          f"{str(exc).splitlines()[0]}") from exc
    device = pick_device(device) if not isinstance(device, torch.device) else device
    model.to(device).eval()
    return model, payload


# ---------------------------------------------------------------------------------------------
# Command line: gan-lab singan train|sample|paint|harmonize|edit
# ---------------------------------------------------------------------------------------------
def config_from_args(args: argparse.Namespace) -> Config:
    """Map command-line flags onto :class:`Config` (``--fast`` starts from :meth:`Config.tiny`)."""
    base = Config.tiny() if args.fast else Config()
    overrides = {}
    for flag, field_name in [("max_size", "image_size"), ("min_size", "min_size"),
                             ("scale_factor", "scale_factor"), ("num_scales", "num_scales"),
                             ("steps_per_scale", "steps_per_scale"), ("filters", "filters"),
                             ("lr", None)]:
        value = getattr(args, flag, None)
        if value is None:
            continue
        if flag == "lr":
            overrides.update(lr_g=value, lr_d=value)
        else:
            overrides[field_name] = value
    if "filters" in overrides:
        overrides.setdefault("max_filters", max(base.max_filters, overrides["filters"]))
    try:
        return replace(base, **overrides)
    except ValueError as exc:
        raise GanLabError(f"invalid SinGAN setting: {exc}") from exc


def _set_threads(args) -> None:
    threads = getattr(args, "threads", None)
    if threads is not None:
        if threads < 1:
            raise GanLabError(f"--threads must be at least 1, got {threads}")
        torch.set_num_threads(threads)


def _cmd_train(args) -> int:
    _set_threads(args)
    config = config_from_args(args)
    out = Path(args.out)
    ckpt = out / "singan.pt"
    model, history = None, []
    if args.resume:
        if not ckpt.is_file():
            raise GanLabError(f"--resume: {ckpt} does not exist; run without --resume to start")
        model, payload = load_singan(ckpt, device="cpu")
        config, history = model.config, payload.get("history", [])
    image = read_image(args.image) if model is None else None
    out.mkdir(parents=True, exist_ok=True)
    if model is None and ckpt.exists() and not args.overwrite:
        raise GanLabError(f"{ckpt} already exists; pass --resume to continue it, --overwrite to replace it, "
                          f"or another --out")
    t0 = time.perf_counter()
    model, history = train_singan(image, config, device=args.device, seed=args.seed, checkpoint=ckpt,
                                  model=model, progress=not args.quiet, history=history)
    seconds = time.perf_counter() - t0
    (out / "config.json").write_text(json.dumps(
        {"family": FAMILY, "model_config": config.to_dict(), "image": str(args.image),
         "sizes": model.sizes, "scale_factor": model.scale_factor, "seed": args.seed,
         "device": str(model.device)}, indent=2))
    _write_history(history, out / "history.csv")
    save_images(model.sample(4, seed=args.seed), out / "samples.png")
    print(f"trained {model.num_scales} scales {model.sizes[0]}..{model.sizes[-1]} in {seconds:.1f} s; "
          f"checkpoint {ckpt}")
    return 0


def _write_history(history: list[dict], path: Path) -> None:
    keys: list[str] = []
    for row in history:
        keys += [k for k in row if k not in keys]
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(history)


def _load_for_task(args) -> SinGAN:
    _set_threads(args)
    model, _ = load_singan(args.checkpoint, device=args.device)
    return model


def _cmd_sample(args) -> int:
    model = _load_for_task(args)
    x = model.sample(args.n, scale_h=args.scale_h, scale_w=args.scale_w, start=args.start, seed=args.seed)
    paths = save_images(x, args.out)
    print(f"wrote {len(paths)} file(s): {paths[0]}{' ...' if len(paths) > 1 else ''}")
    return 0


def _cmd_paint(args) -> int:
    model = _load_for_task(args)
    x = model.paint(read_image(args.image), inject_scale=args.inject_scale, n=args.n, seed=args.seed)
    save_images(x, args.out)
    print(f"wrote {args.out}")
    return 0


def _cmd_masked(args) -> int:
    model = _load_for_task(args)
    fn = model.harmonize if args.singan_cmd == "harmonize" else model.edit
    x = fn(read_image(args.image), read_mask(args.mask), inject_scale=args.inject_scale,
           dilation=args.dilation, n=args.n, seed=args.seed)
    save_images(x, args.out)
    print(f"wrote {args.out}")
    return 0


def register_cli(subparsers) -> argparse.ArgumentParser:
    """Add ``singan`` with sub-commands train, sample, paint, harmonize, edit."""
    parser = subparsers.add_parser("singan", help="SinGAN: train on one image, sample, paint, harmonise, edit")
    sub = parser.add_subparsers(dest="singan_cmd", required=True)

    def common(p, needs_checkpoint=True):
        p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--threads", type=int, help="CPU threads for torch (1 is often fastest for SinGAN's "
                                                   "small convolutions on a busy machine)")
        if needs_checkpoint:
            p.add_argument("--checkpoint", required=True, help="singan.pt written by 'gan-lab singan train'")
            p.add_argument("--out", required=True, help="output .png (one image or a grid) or a folder")
            p.add_argument("--n", type=int, default=1, help="number of images")

    t = sub.add_parser("train", help="train a pyramid on one image")
    t.add_argument("--image", required=True, help="image file, or skimage:NAME / sklearn:NAME")
    t.add_argument("--out", required=True, help="run directory (singan.pt, config.json, history.csv, samples.png)")
    t.add_argument("--max-size", type=int, help="longest side of the finest scale (paper: 250)")
    t.add_argument("--min-size", type=int, help="shortest side of the coarsest scale (paper: 25)")
    t.add_argument("--scale-factor", type=float, help="initial scale factor r (paper: 0.75)")
    t.add_argument("--num-scales", type=int, help="exactly N scales (default: as min size needs)")
    t.add_argument("--steps-per-scale", type=int, help="iterations per scale (paper: 2000)")
    t.add_argument("--filters", type=int, help="conv filters at the coarsest scale (paper: 32)")
    t.add_argument("--lr", type=float, help="learning rate of G and D (paper: 5e-4)")
    t.add_argument("--fast", "--tiny", action="store_true", help="tiny preset (seconds on a CPU)")
    t.add_argument("--resume", action="store_true", help="continue a partly trained run in --out")
    t.add_argument("--overwrite", action="store_true", help="replace an existing singan.pt in --out")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    common(t, needs_checkpoint=False)
    t.set_defaults(func=_cmd_train)

    s = sub.add_parser("sample", help="random samples, optionally of another size")
    common(s)
    s.add_argument("--scale-h", type=float, default=1.0, help="height multiplier (e.g. 1.5)")
    s.add_argument("--scale-w", type=float, default=1.0, help="width multiplier (e.g. 2 for a panorama)")
    s.add_argument("--start", type=int, default=0, help="start from the reconstruction below this scale")
    s.set_defaults(func=_cmd_sample)

    for name, helptext, masked in [("paint", "paint-to-image", False),
                                   ("harmonize", "blend a pasted object into the image", True),
                                   ("edit", "re-render an edited region", True)]:
        p = sub.add_parser(name, help=helptext)
        common(p)
        p.add_argument("--image", required=True, help="the painting / composite / edited image")
        p.add_argument("--inject-scale", type=int, default=1 if not masked else None,
                       help="scale at which the image is injected (1 = coarse changes ... N-1 = fine only)")
        if masked:
            p.add_argument("--mask", required=True, help="black-and-white PNG, white = changed region")
            p.add_argument("--dilation", type=int, help="mask dilation radius in pixels")
            p.set_defaults(func=_cmd_masked)
        else:
            p.set_defaults(func=_cmd_paint)
    return parser
