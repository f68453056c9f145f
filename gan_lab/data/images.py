"""Pixels: THE image reader of GAN Lab and THE pair of converters between uint8 and float pixels.

Every image file GAN Lab reads goes through :func:`read_image` (uint8 ``(C, H, W)``) or its
float form :func:`load_image` (``(1, C, H, W)`` in ``[-1, 1]``); every conversion between
stored pixels (``uint8`` in ``[0, 255]``) and model pixels (float in ``[-1, 1]``) goes through
:func:`to_float` / :func:`to_uint8`. Keeping one of each means a picture saved by one part of
the package and read back by another comes back with the same numbers.

The rules for odd files, in GAN Lab's own reading (``pil_convert=False``, the default):
transparent images (RGBA, LA, palette with transparency) are composited over white, 16- and
32-bit grey is scaled to 8 bits, grey is repeated to RGB and RGB turned to grey by PIL's "L".
``pil_convert=True`` is PIL's plain ``convert("RGB")`` / ``convert("L")`` (alpha dropped), the
reading pytorch-fid uses, for FID folders that must match its numbers; 16- and 32-bit grey is
scaled to 8 bits there too (PIL's ``convert`` would clip it at 255: a white image).

Both readings refuse a decompression bomb: a file that declares more pixels than PIL's limit
``PIL.Image.MAX_IMAGE_PIXELS`` (89 million by default; PIL itself only warns up to twice that).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gan_lab.utils import GanLabError

__all__ = [
    "IMAGE_EXTENSIONS",
    "read_image",
    "load_image",
    "to_float",
    "to_uint8",
    "resize_uint8",
    "convert_channels",
    "check_image",
]

#: File endings counted as images when a folder is scanned (compared in lower case).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm")


# ---------------------------------------------------------------------------------------------
# uint8 <-> float
# ---------------------------------------------------------------------------------------------


def to_float(x: torch.Tensor) -> torch.Tensor:
    """``uint8`` pixels in ``[0, 255]`` -> float32 in ``[-1, 1]``: ``x / 127.5 - 1``, on x's device."""
    if x.dtype != torch.uint8:
        raise TypeError(f"to_float expects a uint8 tensor, got {x.dtype}")
    return x.to(torch.float32).div_(127.5).sub_(1.0)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Float pixels in ``[-1, 1]`` (values outside are clipped) -> ``uint8`` in ``[0, 255]``, rounded."""
    if not x.is_floating_point():
        raise TypeError(f"to_uint8 expects a float tensor, got {x.dtype}")
    return x.detach().float().clamp(-1.0, 1.0).add(1.0).mul(127.5).round().to(torch.uint8)


# ---------------------------------------------------------------------------------------------
# Whole-tensor operations on uint8 images
# ---------------------------------------------------------------------------------------------


def resize_uint8(images: torch.Tensor, size: int, chunk: int = 4096) -> torch.Tensor:
    """Bilinear, antialiased resize of a ``(N, C, H, W)`` uint8 tensor to ``size x size``.

    Works in chunks of ``chunk`` images so that a whole data set never exists as float32 at once.
    """
    n, c, h, w = images.shape
    if (h, w) == (size, size):
        return images
    out = torch.empty((n, c, size, size), dtype=torch.uint8)
    for start in range(0, n, chunk):
        part = images[start:start + chunk].to(torch.float32)
        part = F.interpolate(part, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        out[start:start + chunk] = part.round_().clamp_(0, 255).to(torch.uint8)
    return out


def convert_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """``(N, C, H, W)`` uint8, 1 -> 3 by repeating the grey plane; 3 -> 1 by ITU-R 601 luma (PIL's "L")."""
    c = images.shape[1]
    if c == channels:
        return images
    if c == 1 and channels == 3:
        return images.repeat(1, 3, 1, 1)
    if c == 3 and channels == 1:
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (images.float() * weights).sum(1, keepdim=True).round_().clamp_(0, 255).to(torch.uint8)
    raise GanLabError(f"cannot convert {c}-channel images to {channels} channels")


# ---------------------------------------------------------------------------------------------
# Decoding one file (PIL)
# ---------------------------------------------------------------------------------------------


class Unreadable(Exception):
    """A file PIL cannot decode. In a folder it is reported and skipped; alone it is an error."""


class Bomb(Unreadable):
    """A file that declares more pixels than ``PIL.Image.MAX_IMAGE_PIXELS`` (a decompression bomb)."""


def _bomb(pixels: int, size: tuple[int, int] | None = None) -> Bomb:
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    shape = f"{size[0]}x{size[1]} = " if size else ""
    return Bomb(f"a decompression bomb: it declares {shape}{pixels:,} pixels, over PIL's limit of {limit:,} "
                f"(PIL.Image.MAX_IMAGE_PIXELS)")


def _open(path: Path):
    """``Image.open`` (header only), with a decompression bomb turned into :class:`Bomb`."""
    import re

    from PIL import Image, UnidentifiedImageError

    try:
        im = Image.open(path)
    except Image.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise _bomb(int(found.group(1)) if found else 0) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise Unreadable(f"{type(exc).__name__}: {exc}") from exc
    width, height = im.size
    if Image.MAX_IMAGE_PIXELS is not None and width * height > Image.MAX_IMAGE_PIXELS:  # PIL only warned
        im.close()
        raise _bomb(width * height, (width, height))
    return im


def _refusal(path: Path, exc: Unreadable) -> str:
    """The one-line GanLabError message for a file :func:`open_converted` could not use."""
    if isinstance(exc, Bomb):
        return (f"{path} is {exc}; remove the file (a genuine picture that large must be shrunk first: "
                f"GAN Lab and the FID resize far below this)")
    return f"{path} is not an image PIL can read ({exc}); remove or replace the file"


def check_image(path: str | os.PathLike) -> None:
    """Open ``path``'s header only: a GanLabError naming the file if it is no image or a decompression bomb.

    Cheap (nothing is decoded): for checking a whole folder before long work starts. A file cut
    short is only found when it is decoded.
    """
    p = Path(path)
    try:
        _open(p).close()
    except Unreadable as exc:
        raise GanLabError(_refusal(p, exc)) from None


def open_converted(path: Path, channels: int, pil_convert: bool = False):
    """Decode ``path`` fully and return a PIL image in mode "L" (channels=1) or "RGB" (channels=3).

    GAN Lab's rules (module docstring) unless ``pil_convert``, which is PIL's plain ``convert``
    (16-bit grey scaled in both). Raises :class:`Unreadable` for a file that is not an image PIL
    can read, :class:`Bomb` for a decompression bomb.
    """
    from PIL import Image

    try:
        with _open(path) as im:
            im.load()
            im = im.copy()
    except (OSError, SyntaxError, ValueError, MemoryError) as exc:     # decoding: a file cut short, bad data
        raise Unreadable(f"{type(exc).__name__}: {exc}") from exc
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):       # deeper than 8 bits: scale, never clip
        arr = np.asarray(im, dtype=np.float64)
        top = arr.max() if arr.size else 0
        if top > 255:
            arr = arr * (255.0 / (65535.0 if top <= 65535 else top))
        im = Image.fromarray(np.clip(np.round(arr), 0, 255).astype(np.uint8), "L")
    if not pil_convert:
        if im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (im.mode == "P" and "transparency" in im.info):
            rgba = im.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            im = Image.alpha_composite(background, rgba)
    return im.convert("L" if channels == 1 else "RGB")


def to_chw(im) -> np.ndarray:
    """A PIL image in mode "L" or "RGB" as a uint8 array ``(C, H, W)``."""
    arr = np.asarray(im, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def centre_box(width: int, height: int, side: int) -> tuple[int, int, int, int]:
    """PIL box ``(left, top, right, bottom)`` of the centred ``side x side`` square."""
    left = int(round((width - side) / 2.0))
    top = int(round((height - side) / 2.0))
    return left, top, left + side, top + side


def decode_square(path: Path, size: int, channels: int, crop: int | None) -> np.ndarray:
    """Decode, cut the centre square (side ``crop``, or the shorter side), resize to size x size.

    Returns uint8 ``(C, size, size)``. The resize is PIL's bilinear (antialiased when shrinking)
    on the cut square; images too small for the square or the size are a GanLabError.
    """
    from PIL import Image

    im = open_converted(path, channels)
    width, height = im.size
    if crop is not None:
        if width < crop or height < crop:
            raise GanLabError(f"{path} is {width}x{height} pixels, smaller than the {crop}x{crop} centre crop "
                              "CelebA images need; remove the file or load the folder as a plain image folder")
        side = crop
    else:
        side = min(width, height)
    if side < size:
        raise GanLabError(f"{path} is {width}x{height} pixels: its centre square ({side}x{side}) is smaller than "
                          f"the requested {size}x{size}; use an image size of at most {side} or remove the file")
    box = centre_box(width, height, side)
    im = im.resize((size, size), Image.BILINEAR, box=box)
    return to_chw(im)


def _image_path(path: str | os.PathLike) -> Path:
    p = Path(os.path.expanduser(str(path)))
    if not p.exists():
        raise GanLabError(f"image file {p} does not exist")
    if p.is_dir():
        raise GanLabError(f"{p} is a folder; one image file is needed here")
    return p


def read_image(path: str | os.PathLike, channels: int = 3, max_size: int | None = None,
               pil_convert: bool = False) -> torch.Tensor:
    """One image file as ``uint8`` ``(C, H, W)``, C = ``channels`` (1 or 3), aspect ratio kept.

    If ``max_size`` is given and the longer side exceeds it, the image is scaled down (PIL
    bicubic, antialiased) so the longer side equals ``max_size``; it is never scaled up.
    ``pil_convert=True`` reads like pytorch-fid (PIL's plain ``convert``, alpha dropped) instead
    of GAN Lab's rules (alpha composited over white, 16-bit grey scaled); see the module docstring.
    A missing, folder or unreadable path is a GanLabError that names the file.
    """
    from PIL import Image

    if channels not in (1, 3):
        raise GanLabError(f"channels must be 1 or 3, got {channels!r}")
    if max_size is not None and (isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1):
        raise GanLabError(f"max_size must be a positive integer, got {max_size!r}")
    p = _image_path(path)
    try:
        im = open_converted(p, channels, pil_convert=pil_convert)
    except Unreadable as exc:
        raise GanLabError(_refusal(p, exc)) from None
    width, height = im.size
    if max_size is not None and max(width, height) > max_size:
        scale = max_size / max(width, height)
        new = (max(1, round(width * scale)), max(1, round(height * scale)))
        im = im.resize(new, Image.BICUBIC)
    return torch.from_numpy(to_chw(im).copy())


def load_image(path: str | os.PathLike, channels: int = 3, max_size: int | None = None) -> torch.Tensor:
    """One image file as float32 ``(1, C, H, W)`` in ``[-1, 1]``: :func:`read_image` then :func:`to_float`.

    For single-image models (SinGAN); arguments as in :func:`read_image`.
    """
    return to_float(read_image(path, channels, max_size)).unsqueeze(0)
