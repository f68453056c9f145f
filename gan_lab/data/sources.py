"""load_data: the one entry point from a data set spec to :class:`~gan_lab.data.batches.ImageData`.

A spec is a registered name (:mod:`gan_lab.data.registry`), a folder of images or one image
file. Every property of a named data set (default size and channels, splits, classes, where its
files are looked up) comes from the registry; the work is done by :mod:`~gan_lab.data.mnist`,
:mod:`~gan_lab.data.celeba` and :mod:`~gan_lab.data.folders`.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from gan_lab.data import registry
from gan_lab.data.batches import ImageData
from gan_lab.data.celeba import load_celeba
from gan_lab.data.folders import load_folder
from gan_lab.data.images import Unreadable, convert_channels, decode_square, open_converted, resize_uint8, to_chw
from gan_lab.data.mnist import load_mnist_like
from gan_lab.utils import GanLabError

__all__ = ["load_data"]


def _check_args(image_size, channels, limit) -> None:
    if image_size is not None and (not isinstance(image_size, int) or isinstance(image_size, bool) or image_size < 1):
        raise GanLabError(f"image_size must be a positive integer, got {image_size!r}")
    if channels is not None and channels not in (1, 3):
        raise GanLabError(f"channels must be 1 (grey) or 3 (RGB), got {channels!r}")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise GanLabError(f"limit must be a positive integer, got {limit!r}")


def load_data(spec: str | os.PathLike, image_size: int | None = None, channels: int | None = None,
              split: str = "train", root: str | os.PathLike | None = None, limit: int | None = None,
              download: bool | None = None) -> ImageData:
    """Load a data set as :class:`ImageData` (uint8, ``(N, C, H, W)``, CPU).

    ``spec`` is a registered name or alias (``"fashion-mnist"``/``"fmnist"``, ``"mnist"``,
    ``"celeba"``; see :func:`gan_lab.data.registry.names`), a folder of images (searched
    recursively; first-level subfolders become class labels) or a single image file.
    ``image_size`` resizes (bilinear, antialiased) to a square; for folders and CelebA the centre
    square is cut first (CelebA: the centre 178 x 178). Default: the registry's size for a name
    (28 for the MNIST sets, 64 for CelebA), 64 for a folder, the native size for a single file.
    ``channels`` (1 or 3) converts grey <-> RGB; default: the registry's (1 for the MNIST sets,
    3 for CelebA), 3 for folders and files. ``split`` is one of the data set's splits (``train``
    or ``test`` for the MNIST sets, ``train``/``valid``/``test``/``all`` for CelebA), ignored for
    folders. ``limit`` keeps the first ``limit`` images. ``download`` (default: unless
    ``GAN_LAB_OFFLINE=1``) allows torchvision's download as the last resort.
    An unknown name that is not a path is a GanLabError listing the known names.
    """
    _check_args(image_size, channels, limit)
    if download is None:
        download = registry.downloads_allowed()
    info = registry.resolve(spec)
    if info is None:
        path = Path(os.path.expanduser(str(spec)))
        if path.is_dir():
            return load_folder(path, image_size or registry.FOLDER_IMAGE_SIZE, channels or registry.FOLDER_CHANNELS,
                               limit=limit)
        return _load_single(path, image_size, channels or registry.FOLDER_CHANNELS)

    size, channels = image_size or info.image_size, channels or info.channels
    if info.layout == "celeba":
        return load_celeba(info, split, size, channels, root, limit, download)
    images, labels, source = load_mnist_like(info, split, root, download)  # (N, 1, 28, 28) uint8
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    images = convert_channels(resize_uint8(images, size), channels)
    return ImageData(images, labels, f"{info.name}-{split}", source, classes=info.classes)


def _load_single(path: Path, image_size: int | None, channels: int) -> ImageData:
    """One image file as a data set of one: native size, or its centre square resized to image_size."""
    try:
        if image_size is None:
            arr = to_chw(open_converted(path, channels))
        else:
            arr = decode_square(path, image_size, channels, None)
    except Unreadable as exc:
        raise GanLabError(f"{path} is not an image PIL can read ({exc})") from None
    return ImageData(torch.from_numpy(arr.copy()).unsqueeze(0), None, path.stem, str(path.resolve()))
