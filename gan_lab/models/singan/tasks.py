"""Injection tasks on a trained pyramid (section 4 of the paper): paint-to-image, harmonisation, editing.

All three inject an image at some scale ``n >= 1`` in place of the output of the scales below
(shrunk to scale ``n - 1`` and upsampled back, which is what ``G_n`` was trained to receive);
harmonisation and editing then keep the result inside a softened mask only.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from gan_lab.models.singan.model import Model, seeded_generator
from gan_lab.models.singan.pyramid import as_image_tensor, resize, upsample
from gan_lab.utils import GanLabError

Tensor = torch.Tensor


def paint(model: Model, painting, inject_scale: int = 1, n: int = 1, seed: int | None = None) -> Tensor:
    """Paint-to-image: a coarse painting injected at ``inject_scale``; finer scales add texture."""
    prev = _injected(model, painting, inject_scale).expand(n, -1, -1, -1)
    return model.run(inject_scale, None, prev=prev, n=n, generator=seeded_generator(seed, model.device))


def harmonize(model: Model, composite, mask, inject_scale: int | None = None, dilation: int | None = None,
              n: int = 1, seed: int | None = None) -> Tensor:
    """Harmonisation: a naive paste (``composite``) is re-rendered from ``inject_scale`` on and the
    result is kept inside the (dilated, softened) ``mask``; outside it the composite is unchanged."""
    return _masked(model, composite, mask, inject_scale, dilation, 0.028, n, seed)


def edit(model: Model, edited, mask, inject_scale: int | None = None, dilation: int | None = None,
         n: int = 1, seed: int | None = None) -> Tensor:
    """Editing: as :func:`harmonize`, with a larger mask dilation (blocks moved or copied)."""
    return _masked(model, edited, mask, inject_scale, dilation, 0.08, n, seed)


def _injected(model: Model, image, inject_scale: int) -> Tensor:
    """``image`` as G_{inject_scale} would see it: shrunk to the scale below, upsampled back."""
    if not 1 <= inject_scale < model.num_scales:
        raise GanLabError(f"--inject-scale must be between 1 and {model.num_scales - 1} for this "
                          f"{model.num_scales}-scale model, got {inject_scale}")
    image = _fit_to_model(model, as_image_tensor(image))
    coarse = resize(image, model.sizes[inject_scale - 1])
    return upsample(coarse, model.sizes[inject_scale])


def _fit_to_model(model: Model, image: Tensor) -> Tensor:
    h, w = image.shape[-2:]
    H, W = model.sizes[-1]
    if abs(math.log((w / h) / (W / H))) > 0.05:
        raise GanLabError(f"the input image is {w}x{h} (W x H) but the model was trained on a {W}x{H} image; "
                          f"crop or resize it to the same aspect ratio ({W}:{H})")
    return resize(image.to(model.device), (H, W))


def _masked(model: Model, image, mask, inject_scale, dilation, default_share, n, seed) -> Tensor:
    image = as_image_tensor(image)
    mask = as_mask_tensor(mask)
    if tuple(mask.shape[-2:]) != tuple(image.shape[-2:]):
        raise GanLabError(f"the mask is {mask.shape[-1]}x{mask.shape[-2]} but the image is "
                          f"{image.shape[-1]}x{image.shape[-2]} (W x H); they must have the same size")
    if inject_scale is None:
        inject_scale = max(1, model.num_scales // 2)
    out = paint(model, image, inject_scale, n=n, seed=seed)
    base = _fit_to_model(model, image)
    H, W = model.sizes[-1]
    mask = F.interpolate(mask.to(model.device), size=(H, W), mode="bilinear", align_corners=False)
    if dilation is None:
        dilation = max(1, round(default_share * min(H, W)))
    soft = soften_mask(mask, dilation)
    return soft * out + (1 - soft) * base


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
