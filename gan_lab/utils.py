"""Seeding, device choice, RNG state capture and small timing helpers.

Nothing here runs at import time: a chapter or script calls :func:`seed_everything`
once, and picks its device once with :func:`pick_device`.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np
import torch


class GanLabError(Exception):
    """An error caused by the user's input (a path, a value, a file).

    The command line prints its message on one line and exits with status 2,
    without a traceback: the message itself must say what to do.
    """


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Write a file all at once: ``write(fh)`` fills a temporary file beside ``path``, then it
    replaces ``path`` by a rename.

    A crash, Ctrl-C or full disk during the write leaves the previous file as it was and no
    temporary file behind. The one place in gan_lab that writes a file that must never be half
    written (checkpoints, config.json, history repairs, metrics.json, caches).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.time()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _remove_stale_temps(path, started)
    return path


def _remove_stale_temps(path: Path, before: float) -> None:
    """Remove ``.NAME.PID.*.tmp`` beside ``path`` left by a killed writer: PID gone, file older
    than ``before``. A live writer's temp file is never touched."""
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        pid = tmp.name[len(path.name) + 2:].split(".", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        try:
            if tmp.stat().st_mtime < before:
                tmp.unlink()
        except OSError:
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write` for a text file (UTF-8)."""
    return atomic_write(path, lambda fh: fh.write(text.encode("utf-8")))


def read_json_dict(path: str | os.PathLike, advice: str) -> dict:
    """The dict held by the JSON file ``path``; ``{}`` when the file does not exist.

    A file that cannot be read, is not JSON or holds something other than a dict raises a
    :class:`GanLabError` naming the file and ending with ``advice`` (what the user should do).
    """
    path = Path(path)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise GanLabError(f"{path} is not readable JSON ({' '.join(str(exc).split())}); {advice}") from exc
    if not isinstance(data, dict):
        raise GanLabError(f"{path} does not hold a JSON object (a dict); {advice}")
    return data


def stable_hash(obj) -> str:
    """A stable 12-hex-digit hash of a JSON-able object (dict keys sorted): names caches and runs."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) with one number."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pick_device(name: str | None = "auto") -> torch.device:
    """Choose the device once: CUDA, then Apple's MPS, then the CPU.

    ``name`` forces a device (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``);
    asking for one that is not there is a :class:`GanLabError`.
    """
    if name in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise GanLabError(f"unknown device {name!r}: use auto, cpu, cuda, cuda:N or mps") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GanLabError(f"device {name!r} was asked for but CUDA is not available here; use --device cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise GanLabError(f"device {name!r} was asked for but MPS is not available here; use --device cpu")
    return device


PRECISIONS = ("fp32", "bf16", "auto")


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes in bfloat16 natively (without it PyTorch emulates bf16, slower than fp32).

    x86: the ``avx512_bf16`` or ``amx_bf16`` flags of ``/proc/cpuinfo``; 64-bit Arm: ``bf16`` in its
    features (Linux) or ``hw.optional.arm.FEAT_BF16`` (macOS). ``GAN_LAB_CPU_BF16=0/1`` overrides the
    detection (tests; a CPU the detection misreads).
    """
    forced = os.environ.get("GAN_LAB_CPU_BF16", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        text = ""
    if text:
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key.strip().lower() in ("flags", "features"):
                words = set(value.split())
                return bool(words & {"avx512_bf16", "amx_bf16", "bf16"})
        return False
    if sys.platform == "darwin":
        import subprocess
        try:
            out = subprocess.run(["sysctl", "-n", "hw.optional.arm.FEAT_BF16"], capture_output=True,
                                 text=True, timeout=5).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return False
        return out == "1"
    return False


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` runs bf16 autocast natively (fast): CUDA with bf16 support, or such a CPU."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return cpu_has_native_bf16()
    return False


def resolve_precision(precision: str, device: torch.device, parity: bool = True) -> tuple[str, str | None]:
    """``(precision, note)``: the precision to train or sample in, ``"fp32"`` or ``"bf16"``.

    ``"auto"`` is bf16 where the device runs it natively and the model family reached the same
    quality in bf16 as in fp32 (``parity``, measured by ``benchmarks/precision_parity.py``), else
    fp32. An explicit ``"bf16"`` on a CPU without native bf16 works but is slow: the note says so.
    bf16 on a device other than CUDA or the CPU is an error.
    """
    if precision not in PRECISIONS:
        raise GanLabError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        return ("bf16" if parity and native_bf16(device) else "fp32"), None
    if precision == "bf16":
        if device.type not in ("cuda", "cpu"):
            raise GanLabError(f"bf16 autocast is supported here on CUDA and CPU devices, not {device.type}; "
                              f"use --precision fp32")
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise GanLabError("this CUDA GPU has no bf16 support; use --precision fp32")
        if device.type == "cpu" and not cpu_has_native_bf16():
            return "bf16", ("this CPU has no native bf16 (no avx512_bf16/amx_bf16 or Arm bf16): PyTorch emulates "
                            "it, which is slower than fp32; --precision fp32 (or auto) is faster here")
    return precision, None


def get_rng_state() -> dict:
    """Every random state a training step reads, in a form ``torch.load(weights_only=True)`` accepts."""
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {
            "key": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`get_rng_state` captured."""
    random.setstate(_as_tuple(state["python"]))
    np_state = state["numpy"]
    np.random.set_state(
        ("MT19937", np_state["key"].numpy().astype(np.uint32), np_state["pos"],
         np_state["has_gauss"], np_state["cached_gaussian"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(value):
    # random.setstate needs tuples all the way down; a round trip through torch.save keeps them,
    # but be tolerant of lists.
    if isinstance(value, list):
        return tuple(_as_tuple(v) for v in value)
    if isinstance(value, tuple):
        return tuple(_as_tuple(v) for v in value)
    return value


def cache_dir() -> Path:
    """Where gan_lab keeps what it can rebuild (dataset caches, statistics, the classifier):
    ``$GAN_LAB_CACHE`` if set, else ``~/.cache/gan_lab``."""
    root = os.environ.get("GAN_LAB_CACHE", "").strip()
    return Path(root).expanduser() if root else Path.home() / ".cache" / "gan_lab"


def fast_mode() -> bool:
    """True when ``GAN_LAB_FAST`` is set to a true value: notebooks and smoke runs shrink."""
    return os.environ.get("GAN_LAB_FAST", "").strip().lower() in {"1", "true", "yes", "on"}


def count_parameters(module: torch.nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


@dataclass
class Stopwatch:
    """Wall-clock laps, with device synchronisation so GPU work is counted where it happens."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    laps: list[float] = field(default_factory=list)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @contextmanager
    def lap(self):
        self.sync()
        start = time.perf_counter()
        yield
        self.sync()
        self.laps.append(time.perf_counter() - start)

    def median(self) -> float:
        return float(np.median(self.laps)) if self.laps else float("nan")
