"""The real-data statistics cache (a run's scores go into its ``metrics.json``: :mod:`gan_lab.run`).

* Real-data statistics (mean and covariance of features) are cached under
  ``$GAN_LAB_CACHE/stats/`` (default ``~/.cache/gan_lab/stats/``), one ``.npz`` per protocol:
  the file name carries the dataset, split, resolution, sample count and feature network, and a
  hash of the whole protocol; the protocol itself is stored inside and compared on every load.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from gan_lab.utils import atomic_write, cache_dir, stable_hash


def protocol_hash(protocol: dict) -> str:
    """A stable short hash of a JSON-able protocol dict."""
    return stable_hash(protocol)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_")[-40:] or "data"


def stats_path(protocol: dict) -> Path:
    """The cache file of real-data statistics for ``protocol``."""
    ref = protocol["reference"]
    size = "x".join(str(s) for s in ref["size"])
    name = (f"{_slug(ref['data'])}-{_slug(ref['split'])[:8]}-{size}-n{protocol['n_real']}-"
            f"{_slug(protocol['feature_network_id'])}-{protocol_hash(protocol)}.npz")
    return cache_dir() / "stats" / name


def load_stats(protocol: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """Cached ``(mu, sigma)`` for exactly this protocol, or None."""
    path = stats_path(protocol)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            stored = json.loads(str(f["protocol"]))
            mu, sigma = f["mu"], f["sigma"]
    except (OSError, ValueError, KeyError):
        return None                                   # a damaged cache file is recomputed
    if json.dumps(stored, sort_keys=True, default=str) != json.dumps(protocol, sort_keys=True, default=str):
        return None
    return mu, sigma


def save_stats(protocol: dict, mu: np.ndarray, sigma: np.ndarray) -> Path:
    text = json.dumps(protocol, sort_keys=True, default=str)
    return atomic_write(stats_path(protocol), lambda fh: np.savez(fh, mu=mu, sigma=sigma, protocol=text))
