"""Walking a data set's lookup order (``DatasetInfo.lookup``) and reporting what was tried.

Shared by :mod:`~gan_lab.data.mnist` and :mod:`~gan_lab.data.celeba`: the folders of each step
(``root`` argument, ``$GAN_LAB_DATA``, offline copies, the cache), the ``download`` step, and
the one-line GanLabError that lists every place tried and ends with the registry's fix.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from gan_lab.data.registry import DatasetInfo, cache_dir
from gan_lab.utils import GanLabError

T = TypeVar("T")

#: The places a user points at explicitly; when one of them fails the fallback is warned about.
EXPLICIT = ("root argument", "$GAN_LAB_DATA")


def clip(text, limit: int = 240) -> str:
    """One line of at most ``limit`` characters (long download errors are cut)."""
    text = " ".join(str(text).split()).rstrip(".")
    return text if len(text) <= limit else text[:limit].rstrip() + " ..."


def places(info: DatasetInfo, root) -> list[tuple[str, Path | None]]:
    """The folders to try, in the registry's order, as (description, folder or None when unset).

    The ``"download"`` step is not a folder: see :func:`download_step`.
    """
    env = os.environ.get("GAN_LAB_DATA")
    found: list[tuple[str, Path | None]] = []
    for step in info.lookup:
        if step == "root":
            found.append(("root argument", Path(root).expanduser() if root is not None else None))
        elif step == "env":
            found.append(("$GAN_LAB_DATA", Path(env).expanduser() if env else None))
        elif step == "offline":
            found += info.offline_places()
        elif step == "cache":
            found.append(("cache", cache_dir() / "datasets"))
    return found


def unset_reason(description: str) -> str:
    """What the error says about a place that was not given."""
    return f"{description}: not given" if description == "root argument" else f"{description}: not set"


def download_step(info: DatasetInfo, download: bool, target: Path, fetch: Callable[[], T],
                  tried: list[str]) -> T | None:
    """The ``"download"`` step: ``fetch()``'s result, or None (with the reason added to ``tried``).

    Skipped when the registry has no download step for ``info``; noted as switched off when
    ``download`` is False (``GAN_LAB_OFFLINE=1``).
    """
    if "download" not in info.lookup:
        return None
    if not download:
        tried.append("torchvision download: switched off (GAN_LAB_OFFLINE=1 or download=False)")
        return None
    try:
        return fetch()
    except Exception as exc:  # no network, a rate limit, a broken archive: report it with the rest
        tried.append(f"torchvision download into {target}: {type(exc).__name__}: {clip(exc)}")
        return None


def not_found(info: DatasetInfo, what: str, tried: list[str]) -> GanLabError:
    """The error for a data set found nowhere: every place tried, numbered, then the fix."""
    steps = "; ".join(f"({i}) {t}" for i, t in enumerate(tried, 1))
    return GanLabError(f"{what} not found. Tried: {steps}. {info.not_found_hint()}")
