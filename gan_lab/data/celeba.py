"""CelebA: finding ``img_align_celeba/`` and its split file, then loading it as a cached image folder.

The aligned faces are 178 x 218 JPEGs; each is cut to its centre ``crop`` x ``crop`` square
(the registry's 178) and resized, through the same memory-mapped cache as any image folder
(:mod:`gan_lab.data.folders`). ``list_eval_partition.txt`` (torchvision's layout) or ``.csv``
(Kaggle's) beside the images selects ``train`` / ``valid`` / ``test``; ``all`` takes everything.
"""
from __future__ import annotations

import warnings
from pathlib import Path

from gan_lab.data.batches import ImageData
from gan_lab.data.folders import load_folder, scan_folder
from gan_lab.data.lookup import download_step, not_found, places, unset_reason
from gan_lab.data.registry import DatasetInfo, cache_dir
from gan_lab.utils import GanLabError

#: The number ``list_eval_partition.txt`` gives each split.
CELEBA_SPLITS = {"train": 0, "valid": 1, "test": 2}


def celeba_image_dir(base: Path) -> Path | None:
    """The ``img_align_celeba`` folder in ``base`` or ``base/celeba`` (or ``base`` itself), or None."""
    for candidate in (base / "celeba" / "img_align_celeba", base / "img_align_celeba", base):
        if candidate.name == "img_align_celeba" and candidate.is_dir():
            # the zip sometimes unpacks to img_align_celeba/img_align_celeba/
            inner = candidate / "img_align_celeba"
            return inner if inner.is_dir() else candidate
    return None


def celeba_partition(image_dir: Path) -> dict[str, int] | None:
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


def find_celeba(info: DatasetInfo, root, download: bool) -> Path:
    """Walk the registry's lookup order to the image folder, or raise one GanLabError listing it all."""
    tried = []
    for desc, base in places(info, root):
        if base is None:
            tried.append(unset_reason(desc))
            continue
        image_dir = celeba_image_dir(base)
        if image_dir is not None:
            return image_dir
        tried.append(f"{desc}: no img_align_celeba folder in {base} or {base}/celeba")
    target = cache_dir() / "datasets"
    image_dir = download_step(info, download, target, lambda: _download(target), tried)
    if image_dir is None:
        raise not_found(info, info.title, tried)
    return image_dir


def _download(target: Path) -> Path:
    """torchvision's CelebA download (Google Drive, needs gdown, often rate-limited) into ``target``."""
    import torchvision.datasets as tvd

    tvd.CelebA(str(target), split="all", target_type=[], download=True)
    image_dir = celeba_image_dir(target)
    if image_dir is None:
        raise RuntimeError("the download finished, but left no img_align_celeba folder")
    return image_dir


def load_celeba(info: DatasetInfo, split: str, image_size: int, channels: int, root, limit, download) -> ImageData:
    """One split of CelebA, centre-cropped and resized, through the folder cache."""
    if split not in info.splits:
        raise GanLabError(f"{info.title} split must be {', '.join(info.splits[:-1])} or {info.splits[-1]}, "
                          f"got {split!r}")
    image_dir = find_celeba(info, root, download)
    files, _ = scan_folder(image_dir)
    partition = celeba_partition(image_dir)
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
    return load_folder(image_dir, image_size, channels, crop=info.crop, files=files, limit=limit,
                       name=f"{info.name}-{split}")
