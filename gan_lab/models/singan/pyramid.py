"""The image pyramid: scale sizes, resizing, and images as (1, 3, H, W) tensors in [-1, 1]."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from gan_lab.models.singan.config import MIN_SIDE, Config
from gan_lab.utils import GanLabError

Tensor = torch.Tensor


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
