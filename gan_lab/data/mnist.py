"""Fashion-MNIST and MNIST: finding the four idx files, staging them for torchvision, reading them.

The places are tried in the order the registry gives (``DatasetInfo.lookup``): the ``root``
argument, ``$GAN_LAB_DATA``, the offline copies, torchvision's download. In a folder the idx
files (plain or ``.gz``) may sit directly, in ``raw/`` or in torchvision's ``<Class>/raw/``.
Copies found are linked (plain) or unpacked (``.gz``) into ``<cache>/datasets/`` in the layout
torchvision expects, then read with torchvision's ``FashionMNIST`` / ``MNIST`` class. If nothing
works, one GanLabError lists every place tried and the registry's fix.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import warnings
from pathlib import Path

import torch

from gan_lab.data.lookup import EXPLICIT, download_step, not_found, places, unset_reason
from gan_lab.data.registry import DatasetInfo, cache_dir, write_cache_file
from gan_lab.utils import GanLabError

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

# (info, split, root, $GAN_LAB_DATA, cache) -> (images (N, 1, 28, 28) uint8, labels int64, source)
_MEMO: dict[tuple, tuple[torch.Tensor, torch.Tensor, str]] = {}


def find_idx(folder: Path, class_name: str) -> tuple[dict[str, Path] | None, str]:
    """Look for the four idx files (plain or .gz) in folder, folder/raw, folder/<Class>/raw.

    Returns ({uncompressed name: path}, "") or (None, why not).
    """
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


def stage_idx(found: dict[str, Path], class_name: str) -> Path:
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
            write_cache_file(dst, unpack)
        else:
            # a symbolic link, swapped in by a rename so that a reader never sees a missing file
            tmp = raw / f".{name}.{os.getpid()}.link"
            try:
                if tmp.exists() or tmp.is_symlink():
                    tmp.unlink()
                os.symlink(src.resolve(), tmp)
                os.replace(tmp, dst)
            except OSError:  # no symbolic links here (some Windows set-ups): copy instead
                write_cache_file(dst, lambda fh, src=src: fh.write(src.read_bytes()))
    return root


def torchvision_load(class_name: str, tv_root: Path, split: str, download: bool = False):
    """Read one split with torchvision: images uint8 ``(N, 1, 28, 28)``, labels int64 ``(N,)``."""
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


def find_mnist_like(info: DatasetInfo, split: str, root, download: bool) -> tuple[torch.Tensor, torch.Tensor, str]:
    """Walk the lookup order; return (images (N,1,28,28), labels, source) or raise one GanLabError."""
    class_name = info.torchvision_class
    tried: list[str] = []
    explicit: list[str] = []  # places the user pointed at (root, $GAN_LAB_DATA) that did not work
    for desc, folder in places(info, root):
        if folder is None:
            tried.append(unset_reason(desc))
            continue
        found, reason = find_idx(folder, class_name)
        if found is None:
            tried.append(f"{desc}: {reason}")
        else:
            try:
                tv_root = stage_idx(found, class_name)
                images, labels = torchvision_load(class_name, tv_root, split)
            except Exception as exc:  # a corrupt or truncated file: note it, go on to the next place
                tried.append(f"{desc} ({folder}): unreadable ({type(exc).__name__}: {exc})")
            else:
                if explicit:  # the user pointed somewhere explicit that did not work: say so
                    warnings.warn(f"{class_name}: {'; '.join(explicit)}; using {desc} {folder} instead",
                                  stacklevel=4)
                return images, labels, str(folder)
        if desc in EXPLICIT:
            explicit.append(tried[-1])

    env = os.environ.get("GAN_LAB_DATA")
    target = Path(env).expanduser() if env else cache_dir() / "datasets" / "download"
    got = download_step(info, download, target, lambda: torchvision_load(class_name, target, split, download=True),
                        tried)
    if got is not None:
        return got[0], got[1], f"torchvision download in {target}"
    raise not_found(info, f"{info.title} {split} set", tried)


def load_mnist_like(info: DatasetInfo, split: str, root, download: bool) -> tuple[torch.Tensor, torch.Tensor, str]:
    """``(images, labels, source)`` of one split at the native 28 x 28, remembered for the process."""
    if split not in info.splits:
        raise GanLabError(f"{info.title} has the splits {' and '.join(info.splits)}, not split={split!r}")
    key = (info, split, str(root), os.environ.get("GAN_LAB_DATA"), str(cache_dir()))
    if key not in _MEMO:
        _MEMO[key] = find_mnist_like(info, split, root, download)
    return _MEMO[key]
