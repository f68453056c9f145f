"""Image folders: decode once into a memory-mapped uint8 cache.

A folder is scanned recursively (files ending in one of :data:`~gan_lab.data.images.IMAGE_EXTENSIONS`,
sorted by path); each image is decoded, its centre square cut and resized **once**, and the
result written as one ``.npy`` file in ``<cache>/folders/``, then memory-mapped, so a training
step never decodes a JPEG. The cache key holds every file's path, size and modification time,
the size, channels, crop and :data:`CACHE_FORMAT`: change any and a new entry is made. If every
image sits in a first-level subfolder (AFHQ's ``cat/ dog/ wild/``), the subfolders are the labels.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from gan_lab.data.batches import ImageData
from gan_lab.data.images import IMAGE_EXTENSIONS, Unreadable, decode_square
from gan_lab.data.registry import cache_dir, write_cache_file
from gan_lab.utils import GanLabError

CACHE_FORMAT = 1  # bump when the cache layout or the resizing changes


def scan_folder(folder: Path) -> tuple[list[str], int]:
    """Relative paths of image files under folder (sorted) and how many other files were ignored.

    Hidden files and folders (names starting with ``.``) are skipped.
    """
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


def folder_labels(files: list[str]) -> tuple[list[int] | None, list[str]]:
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


def load_folder(folder: Path, image_size: int, channels: int, crop: int | None = None,
                files: list[str] | None = None, limit: int | None = None, name: str | None = None,
                workers: int | None = None) -> ImageData:
    """Decode every image in ``folder`` (or the given relative ``files``) once and cache the result.

    Returns ImageData backed by the cache file (uint8 ``(N, channels, image_size, image_size)``).
    """
    folder = folder.resolve()
    ignored = 0
    if files is None:
        files, ignored = scan_folder(folder)
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

    kept, skipped = _decode_all(folder, files, image_size, channels, crop, npy, workers)
    labels, classes = folder_labels(kept)
    meta = {"format": CACHE_FORMAT, "folder": str(folder), "shape": [len(kept), channels, image_size, image_size],
            "files": kept, "skipped": skipped, "labels": labels, "classes": classes,
            "size": image_size, "channels": channels, "crop": crop}
    write_cache_file(meta_path, lambda fh: fh.write(json.dumps(meta).encode()))
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
    return ImageData(images, labels, name, str(npy), tuple(meta.get("skipped", ())),
                     tuple(meta.get("classes") or ()))


def _progress_off() -> bool:
    """``TQDM_DISABLE=1`` (the book's builds set it): no bar. tqdm's notebook bar ignores the variable
    and would leave a widget in a built page."""
    return os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false", "no")


def _npy_header(shape: tuple[int, ...]) -> bytes:
    """The ``.npy`` header of a C-ordered uint8 array, as ``np.lib.format.open_memmap`` writes it.

    NumPy pads the header so that the first axis can grow to any length in place; a header for
    fewer images therefore has the same length and can overwrite the first one.
    """
    import io

    fh = io.BytesIO()
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)), "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(fh, header)
    return fh.getvalue()


def _decode_all(folder: Path, files: list[str], size: int, channels: int, crop: int | None,
                npy: Path, workers: int | None) -> tuple[list[str], list[str]]:
    """Decode the files in order and write them as one ``.npy`` file (atomically). Returns (kept, skipped).

    The images are streamed to the file as they are decoded (a data set never sits in memory);
    unreadable files are warned about and left out, and the header is rewritten at the end to
    count only the images kept.
    """
    from tqdm.auto import tqdm

    shape = (len(files), channels, size, size)
    kept: list[str] = []
    skipped: list[str] = []
    workers = workers or min(8, os.cpu_count() or 1)

    def work(rel):
        try:
            return rel, decode_square(folder / rel, size, channels, crop), None
        except Unreadable as exc:
            return rel, None, str(exc)

    def write(fh) -> None:
        header = _npy_header(shape)
        fh.write(header)
        with ThreadPoolExecutor(max_workers=workers) as pool, \
                tqdm(total=len(files), desc=f"caching {folder.name} ({size}px)", unit="img",
                     disable=_progress_off()) as bar:
            chunk = 256
            for start in range(0, len(files), chunk):
                for rel, arr, err in pool.map(work, files[start:start + chunk]):  # (C, size, size) uint8
                    if arr is None:
                        warnings.warn(f"skipping {folder / rel}: not a readable image ({err})", stacklevel=8)  # load_data's caller
                        skipped.append(str(folder / rel))
                    else:
                        fh.write(np.ascontiguousarray(arr, dtype=np.uint8).tobytes())
                        kept.append(rel)
                    bar.update(1)
        if not kept:
            raise GanLabError(f"none of the {len(files)} image files in {folder} could be read "
                              f"(first: {skipped[0]}); check the files")
        if len(kept) < len(files):  # fewer images than the header says: count only those kept
            fixed = _npy_header((len(kept),) + shape[1:])
            if len(fixed) != len(header):
                raise RuntimeError("the .npy header changed length; cannot fix it in place")
            fh.seek(0)
            fh.write(fixed)

    write_cache_file(npy, write)
    return kept, skipped
