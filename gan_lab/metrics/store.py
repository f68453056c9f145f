"""Where measurements are kept: the statistics cache and a run's ``metrics.json``.

* Real-data statistics (mean and covariance of features) are cached under
  ``$GAN_LAB_CACHE/stats/`` (default ``~/.cache/gan_lab/stats/``), one ``.npz`` per protocol:
  the file name carries the dataset, split, resolution, sample count and feature network, and a
  hash of the whole protocol; the protocol itself is stored inside and compared on every load.
* Scores go into ``RUN_DIR/metrics.json``: a dict of entries keyed by metric, step, sample count
  and a short hash of the protocol. New scores are added (or replace the entry with the same key),
  never lose what the file already holds, and are written atomically.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np

from gan_lab.utils import GanLabError


def cache_dir() -> Path:
    """``$GAN_LAB_CACHE`` if set, else ``~/.cache/gan_lab``."""
    root = os.environ.get("GAN_LAB_CACHE")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "gan_lab"


def protocol_hash(protocol: dict) -> str:
    """A stable short hash of a JSON-able protocol dict."""
    text = json.dumps(protocol, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


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
    path = stats_path(protocol)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npz", dir=path.parent)
    os.close(fd)
    try:
        np.savez(tmp, mu=mu, sigma=sigma, protocol=json.dumps(protocol, sort_keys=True, default=str))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def score_key(score: dict) -> str:
    """``fid/step=1200/n=1000/3f2a...``: one entry per metric, step, sample count and protocol."""
    protocol = score["protocol"]
    step = protocol.get("step")
    return (f"{score['metric']}/step={step if step is not None else '-'}/"
            f"n={protocol.get('n_fake', protocol.get('n', '-'))}/{protocol_hash(protocol)[:8]}")


def read_metrics(path: str | os.PathLike) -> dict:
    """The entries of a ``metrics.json`` (empty when the file does not exist)."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.json"
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise GanLabError(f"{path} is not readable JSON ({exc}); move it aside or fix it - gan_lab will not "
                          f"overwrite it") from exc
    if not isinstance(data, dict):
        raise GanLabError(f"{path} does not hold a dict of scores; move it aside - gan_lab will not overwrite it")
    return data


def save_scores(path: str | os.PathLike, scores: list[dict]) -> Path:
    """Add ``scores`` (dicts with ``metric``, ``value``, ``protocol``, ...) to ``metrics.json``."""
    path = Path(path)
    if path.is_dir() or path.suffix != ".json":
        path = path / "metrics.json"
    entries = read_metrics(path)
    for score in scores:
        entry = dict(score)
        entry.setdefault("time", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        entries[score_key(score)] = entry
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".metrics.", suffix=".json.tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(entries, fh, indent=2, sort_keys=True, default=_json_default)
            fh.write("\n")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
