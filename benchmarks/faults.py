"""Fault injection: the real command line, driven in subprocesses, against every way a run can be hurt.

    python benchmarks/faults.py            # the fast part (a few minutes; also tests/test_faults.py)
    python benchmarks/faults.py --long     # + N SIGKILLs with resume, and a 20k-step soak with RSS sampled

Each probe in :data:`PROBES` names what it does, the outcome expected, and a check that returns
(observed, passed). The table ``probe | expected | observed | pass`` is printed at the end; the
exit status is 1 if any probe failed. Probes that need what the machine does not allow (mounting
a tmpfs) are reported as skipped, with the reason.
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np


# -- fuzzed image files (item 7 of issue 11) ---------------------------------------------------------------
def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(path: Path, width: int = 20000, height: int = 20000) -> Path:
    """A PNG whose header declares ``width x height`` grey pixels, with a few bytes of image data.

    PIL judges a decompression bomb by the declared size when it opens the file, so this is one
    without the gigabytes: 400 million pixels by default (PIL refuses over 179 million and warns
    over 89 million).
    """
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)            # 8-bit grey
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
                     + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + _png_chunk(b"IEND", b""))
    return path


def make_image(kind: str, path: Path, size: int = 8, seed: int = 0) -> Path:
    """Write one image file of ``kind`` (see :data:`IMAGE_KINDS`) at ``path``; returns the path written."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    if kind == "rgb":
        Image.fromarray(rgb).save(path)
    elif kind == "other-size":
        Image.fromarray(rng.integers(0, 256, (size + 5, size + 2, 3), dtype=np.uint8)).save(path)
    elif kind == "grey":
        Image.fromarray(rgb[..., 0]).save(path)
    elif kind == "palette":
        Image.fromarray(rgb).quantize(16).save(path)
    elif kind == "rgba":
        Image.fromarray(np.dstack([rgb, rng.integers(0, 256, (size, size), dtype=np.uint8)])).save(path)
    elif kind == "16-bit":
        Image.fromarray(rng.integers(0, 65536, (size, size), dtype=np.uint16)).save(path)   # mode I;16
    elif kind == "truncated":
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif kind == "zero-byte":
        path.write_bytes(b"")
    elif kind == "random-bytes":
        path.write_bytes(rng.integers(0, 256, 300, dtype=np.uint8).tobytes())
    elif kind == "bomb":
        bomb_png(path)
    elif kind == "bomb-warning":                 # over PIL's warning limit, under its error limit
        bomb_png(path, 10000, 10000)
    else:
        raise ValueError(f"unknown image kind {kind!r}")
    return path


#: Image kinds and what GAN Lab must do with them: "read" (converted the documented way) or "refuse".
IMAGE_KINDS = {
    "rgb": "read", "other-size": "read", "grey": "read", "palette": "read", "rgba": "read", "16-bit": "read",
    "truncated": "refuse", "zero-byte": "refuse", "random-bytes": "refuse", "bomb": "refuse",
    "bomb-warning": "refuse",
}
