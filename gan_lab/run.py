"""The run directory: the contract between training and everything that reads a run.

One training run writes one folder, and this module is the only code that knows its layout::

    RUN/
      config.json               family, model config, init kwargs, train config
      history.csv               one row per training step: step, every loss part, D(x), D(G(z)), seconds
      metrics.json              scores added by gan-lab eval and callbacks, keyed by metric/step/n/protocol
      samples/step_XXXXXX.png   sample grids from a fixed seed
      checkpoints/last.pt       the newest checkpoint; step_XXXXXX.pt kept every keep_every steps
      records/NAME.json         rows a callback measured during training (e.g. gradient norms)

The training loop, SinGAN, the metrics, the plots, the book and the command line all go through
:class:`RunDir`; every file it writes is written atomically (:func:`gan_lab.utils.atomic_write`),
so a crash never leaves a half-written file behind.
"""
from __future__ import annotations

import csv
import errno
import io
import json
import math
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from torchvision.utils import save_image

from gan_lab.checkpoint import load_checkpoint, load_file, save_checkpoint
from gan_lab.utils import GanLabError, atomic_write, atomic_write_text, read_json_dict, stable_hash

CONFIG = "config.json"
HISTORY = "history.csv"
METRICS = "metrics.json"
SAMPLES = "samples"
RECORDS = "records"
CHECKPOINTS = "checkpoints"
LAST = "last.pt"
_STEP_FILE = re.compile(r"step_(\d+)\.(png|pt)$")


class RunDir:
    """A run directory (it need not exist yet): paths of its parts, and reading and writing them."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    @classmethod
    def of_checkpoint(cls, checkpoint: str | os.PathLike) -> "RunDir":
        """``RUN/checkpoints/last.pt`` -> ``RUN``; a checkpoint elsewhere -> its folder."""
        checkpoint = Path(checkpoint).resolve()
        return cls(checkpoint.parent.parent if checkpoint.parent.name == CHECKPOINTS else checkpoint.parent)

    # -- paths ---------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    @property
    def history_path(self) -> Path:
        return self.path / HISTORY

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS

    @property
    def samples_dir(self) -> Path:
        return self.path / SAMPLES

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints_dir / LAST

    def checkpoint_path(self, step: int | None = None) -> Path:
        """``checkpoints/last.pt``, or the kept ``checkpoints/step_XXXXXX.pt`` of ``step``."""
        return self.last_checkpoint if step is None else self.checkpoints_dir / f"step_{step:06d}.pt"

    def sample_path(self, step: int) -> Path:
        return self.samples_dir / f"step_{step:06d}.png"

    def has_checkpoint(self) -> bool:
        return self.last_checkpoint.is_file()

    def ensure_writable(self) -> None:
        """Create the folder and check a file can be written in it; a :class:`GanLabError` otherwise."""
        if self.path.exists() and not self.path.is_dir():
            raise GanLabError(f"{self.path} is a file, not a run directory; choose a new --out folder")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / f".write-test-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise GanLabError(f"cannot write the run directory {self.path} ({exc.strerror or exc}); choose an --out "
                              f"folder you can write to") from None

    # -- config.json ---------------------------------------------------------------------------
    def write_config(self, family: str, model_config: dict, train_config: dict, init_kwargs: dict | None = None) -> Path:
        payload = {"family": family, "model_config": model_config, "init_kwargs": dict(init_kwargs or {}),
                   "train_config": train_config}
        return atomic_write_text(self.config_path, json.dumps(payload, indent=2, default=_json_default) + "\n")

    def read_config(self) -> dict:
        """The run's ``config.json`` (family, model_config, init_kwargs, train_config)."""
        if not self.config_path.is_file():
            raise GanLabError(f"{self.path} is not a run directory (no {CONFIG}); give the --out folder of a "
                              f"gan-lab train run")
        try:
            config = json.loads(self.config_path.read_text())
        except (OSError, ValueError) as exc:
            raise GanLabError(f"{self.config_path} is not readable JSON ({exc}); restore it or start a new run") from exc
        if not isinstance(config, dict):
            raise GanLabError(f"{self.config_path} does not hold a run configuration; restore it or start a new run")
        return config

    # -- history.csv -----------------------------------------------------------------------------
    def history(self) -> list[dict]:
        """The rows of ``history.csv`` as dicts of floats (``step`` as int); [] when there is none."""
        return read_history(self.history_path) if self.history_path.is_file() else []

    def history_writer(self) -> "HistoryWriter":
        return HistoryWriter(self.history_path)

    # -- samples/ --------------------------------------------------------------------------------
    def save_samples(self, images: torch.Tensor, step: int, nrow: int | None = None) -> Path:
        """Save images in [-1, 1] (N, C, H, W) as the grid ``samples/step_XXXXXX.png``."""
        nrow = nrow or max(1, int(math.sqrt(images.shape[0])))
        buffer = io.BytesIO()
        save_image(images.detach().float().cpu(), buffer, format="png", nrow=nrow, normalize=True,
                   value_range=(-1, 1))
        return atomic_write(self.sample_path(step), lambda fh: fh.write(buffer.getvalue()))

    def sample_steps(self) -> dict[int, Path]:
        """``{step: path}`` of every sample grid, in step order."""
        found = {}
        if self.samples_dir.is_dir():
            for path in self.samples_dir.glob("step_*.png"):
                match = _STEP_FILE.search(path.name)
                if match:
                    found[int(match.group(1))] = path
        return dict(sorted(found.items()))

    # -- checkpoints/ ----------------------------------------------------------------------------
    def save_checkpoint(self, model, step: int, train_config: dict, batches_seen: int, keep: bool = False) -> Path:
        """Write ``checkpoints/last.pt`` (and ``step_XXXXXX.pt`` too when ``keep``).

        A failed write (a full disk) leaves the previous file as it was and is a :class:`GanLabError`.
        """
        path = self._save_checkpoint(self.last_checkpoint, model, step, train_config, batches_seen)
        if keep:
            self._save_checkpoint(self.checkpoint_path(step), model, step, train_config, batches_seen)
        return path

    def _save_checkpoint(self, path: Path, model, step: int, train_config: dict, batches_seen: int) -> Path:
        try:
            return save_checkpoint(path, model, step, train_config, batches_seen)
        except (OSError, RuntimeError) as exc:
            # torch.save reports a failed write as a RuntimeError ("... failed writing file ...", or on a full
            # tmpfs "[enforce fail at inline_container.cc] . unexpected pos N vs M")
            if isinstance(exc, RuntimeError) and not any(w in str(exc).lower() for w in ("writ", "unexpected pos")):
                raise
            if getattr(exc, "errno", None) == errno.ENOSPC or "space" in str(exc).lower():
                reason = "no space left on device"
            else:
                free = shutil.disk_usage(path.parent).free / 2 ** 20
                reason = (f"the write failed ({(getattr(exc, 'strerror', None) or str(exc)).splitlines()[0].strip()}; "
                          f"{free:.1f} MB free there: a full disk?)")
            kept = "the previous checkpoint is kept" if path.exists() else "no checkpoint was written"
            raise GanLabError(f"{reason} while writing {path} at step {step}; {kept}. Free space (or choose "
                              f"another --out) and continue with --resume") from None

    def load(self, model=None, map_location="cpu", step: int | None = None, restore_rng: bool = False):
        """``(model, payload)`` from ``last.pt`` (or the kept checkpoint of ``step``)."""
        return load_checkpoint(self.checkpoint_path(step), model, map_location=map_location, restore_rng=restore_rng)

    def checkpoint_payload(self, step: int | None = None) -> dict:
        """The checkpoint's dict (weights_only), without building a model."""
        return load_file(self.checkpoint_path(step))

    def finished_steps(self) -> int:
        """Steps in ``last.pt``; 0 when there is no checkpoint."""
        return int(self.checkpoint_payload()["step"]) if self.has_checkpoint() else 0

    # -- records/ ---------------------------------------------------------------------------------
    def write_records(self, name: str, rows: list[dict]) -> Path:
        """Keep rows a callback measured (``records/NAME.json``), so they outlive the training call."""
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise GanLabError(f"record name {name!r}: use letters, digits, '.', '_' and '-' only")
        text = json.dumps(rows, indent=1, default=_json_default) + "\n"
        return atomic_write_text(self.path / RECORDS / f"{name}.json", text)

    def read_records(self, name: str, upto_step: int | None = None) -> list[dict]:
        """The rows of ``records/NAME.json`` ([] when absent); only rows with ``step <= upto_step``
        when given (what a resumed run keeps)."""
        path = self.path / RECORDS / f"{name}.json"
        if not path.is_file():
            return []
        try:
            rows = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise GanLabError(f"{path} is not readable JSON ({exc}); delete it to measure again") from exc
        if upto_step is not None:
            rows = [r for r in rows if r.get("step", 0) <= upto_step]
        return rows

    # -- metrics.json ----------------------------------------------------------------------------
    def read_metrics(self) -> dict:
        return read_metrics(self.metrics_path)

    def save_scores(self, scores: list[dict]) -> Path:
        return save_scores(self.metrics_path, scores)


class HistoryWriter:
    """``history.csv``: a header row, then one row per training step.

    Columns: ``step``, every loss part the step functions return (``loss_d``, ``loss_g``, ...),
    mean ``d_real`` = D(x), ``d_fake`` = D(G(z)), ``d_acc``, and ``seconds`` (wall time of the step).
    On resume, rows after the checkpoint's step are dropped first, so the file always matches
    the parameters in ``checkpoints/last.pt``.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.columns: list[str] | None = None

    def truncate_after(self, step: int) -> None:
        """Keep the header and the rows up to ``step`` (rewritten atomically)."""
        self.resume_at(step, allow_gap=True)

    def resume_at(self, step: int, allow_gap: bool = False) -> list[str]:
        """Check the history against a checkpoint at ``step`` and keep its rows up to ``step``.

        Repaired, with a note returned for each repair: a torn last row (a write cut short) is
        dropped, and so are rows after ``step`` (steps the checkpoint does not hold). Refused with a
        :class:`GanLabError`: a history that is missing, empty, has no valid header or unreadable rows,
        or lacks rows the checkpoint trained (a history that ends before ``step`` or has holes), since
        those steps cannot be rebuilt. ``allow_gap`` accepts the loss instead: a damaged file is kept
        beside it as ``history.csv.damaged`` and the history goes on from ``step + 1``.
        """
        notes: list[str] = []
        if step == 0 and not self.path.exists():
            return notes
        try:
            header, body = self._checked_rows(notes)
        except GanLabError as exc:
            if not allow_gap:
                raise GanLabError(f"{exc}; the checkpoint has trained {step} steps. Restore {self.path.name} from "
                                  f"a copy, or pass --allow-history-gap to keep the damaged file aside and log "
                                  f"only the steps after {step}") from None
            if self.path.exists():
                os.replace(self.path, self.path.with_name(self.path.name + ".damaged"))
                notes.append(f"{exc}; kept it as {self.path.name}.damaged, the new history starts at step {step + 1}")
            else:
                notes.append(f"{exc}; the new history starts at step {step + 1}")
            self.columns = None
            return notes
        later = [r for r in body if int(r[0]) > step]
        if later:
            notes.append(f"dropped {len(later)} rows after step {step}, the step of the checkpoint")
        steps = [int(r[0]) for r in body if int(r[0]) <= step]
        missing = sorted(set(range((steps[0] if steps else step + 1), step + 1)) - set(steps))
        if step and (not steps or missing or steps != sorted(set(steps))):
            what = (f"has no rows up to step {step}" if not steps else
                    f"lacks steps {_ranges(missing)}" if missing else "has repeated or unordered steps")
            problem = f"{self.path} {what} of the {step} steps the checkpoint has trained"
            if not allow_gap:
                raise GanLabError(f"{problem}. Restore it from a copy, or pass --allow-history-gap to go on with "
                                  f"those steps missing from the history")
            notes.append(f"{problem}; going on with a gap (--allow-history-gap)")
        elif steps and steps[0] > 1:
            notes.append(f"{self.path} starts at step {steps[0]}; steps 1-{steps[0] - 1} are not in it")
        if later or notes:
            text = io.StringIO()
            writer = csv.writer(text)
            writer.writerow(header)
            writer.writerows(r for r in body if int(r[0]) <= step)
            atomic_write_text(self.path, text.getvalue())
        self.columns = header
        return notes

    def _checked_rows(self, notes: list[str]) -> tuple[list[str], list[list[str]]]:
        """The header and rows of the file, after checking them; a torn last row is dropped (noted)."""
        if not self.path.is_file():
            raise GanLabError(f"{self.path} is missing")
        try:
            with self.path.open(newline="", encoding="utf-8") as fh:
                rows = list(csv.reader(fh))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise GanLabError(f"{self.path} is not readable as a history ({exc})") from None
        if not rows:
            raise GanLabError(f"{self.path} is empty")
        header, body = rows[0], rows[1:]
        if (not header or header[0] != "step" or len(set(header)) != len(header)
                or not all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) for name in header)):
            raise GanLabError(f"{self.path} has no valid header (expected step,loss_...; found {','.join(header)[:60]!r})")
        bad = [i for i, row in enumerate(body) if not _valid_row(row, len(header))]
        with self.path.open("rb") as fh:                # every row is written with its newline: none, a cut write
            fh.seek(-1, os.SEEK_END)
            cut = fh.read(1) != b"\n"
        if body and (cut or (bad and bad[-1] == len(body) - 1)):     # a write cut short at the end of the file
            notes.append(f"dropped a torn last row of {self.path}: {','.join(body[-1])[:60]!r}")
            body, bad = body[:-1], [i for i in bad if i < len(body) - 1]
        if bad:
            raise GanLabError(f"{self.path} has unreadable rows (row {bad[0] + 2}: {','.join(body[bad[0]])[:60]!r})")
        return header, body

    def reset(self) -> None:
        """Start a new history (a fresh run in a folder without a checkpoint)."""
        if self.path.exists():
            self.path.unlink()
        self.columns = None

    def write(self, rows: list[dict]) -> None:
        if not rows:
            return
        if self.columns is None:
            if self.path.exists() and self.path.stat().st_size > 0:
                with self.path.open(newline="") as fh:
                    self.columns = next(csv.reader(fh))
            else:
                self.columns = list(rows[0])
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("w", newline="") as fh:
                    csv.writer(fh).writerow(self.columns)
        with self.path.open("a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.columns, extrasaction="ignore")
            writer.writerows(rows)


def _valid_row(row: list[str], width: int) -> bool:
    """A row of ``width`` numbers (empty cells allowed except the step, which is a whole number)."""
    if len(row) != width:
        return False
    try:
        step = float(row[0])
        [float(v) for v in row[1:] if v != ""]
    except ValueError:
        return False
    return step.is_integer() and step >= 1


def _ranges(steps: list[int]) -> str:
    """[1, 2, 3, 7] -> '1-3, 7'."""
    parts, start = [], None
    for i, step in enumerate(steps):
        if start is None:
            start = step
        if i + 1 == len(steps) or steps[i + 1] != step + 1:
            parts.append(f"{start}-{step}" if step > start else f"{start}")
            start = None
    return ", ".join(parts)


def read_history(path: str | os.PathLike) -> list[dict]:
    """Rows of a ``history.csv`` (or a run directory's) as dicts of floats (``step`` as int)."""
    path = Path(path)
    if path.is_dir():
        path = path / HISTORY
    if not path.is_file():
        raise GanLabError(f"no history at {path}; give a run directory or its {HISTORY}")
    with path.open(newline="") as fh:
        rows = []
        for row in csv.DictReader(fh):
            parsed = {k: (float(v) if v not in ("", None) else math.nan) for k, v in row.items()}
            parsed["step"] = int(parsed["step"])
            rows.append(parsed)
    return rows


def score_key(score: dict) -> str:
    """``fid/step=1200/n=1000/3f2a...``: one entry per metric, step, sample count and protocol."""
    protocol = score["protocol"]
    step = protocol.get("step")
    return (f"{score['metric']}/step={step if step is not None else '-'}/"
            f"n={protocol.get('n_fake', protocol.get('n', '-'))}/{stable_hash(protocol)[:8]}")


def read_metrics(path: str | os.PathLike) -> dict:
    """The entries of a ``metrics.json`` (a run directory or the file; empty when it does not exist)."""
    path = Path(path)
    if path.is_dir():
        path = path / METRICS
    return read_json_dict(path, "move it aside or fix it - gan_lab will not overwrite it")


def save_scores(path: str | os.PathLike, scores: list[dict]) -> Path:
    """Add ``scores`` (dicts with ``metric``, ``value``, ``protocol``, ...) to ``metrics.json``.

    ``path`` is a run directory or a ``.json`` file. Entries with the same key are replaced;
    nothing else the file holds is lost.
    """
    path = Path(path)
    if path.is_dir() or path.suffix != ".json":
        path = path / METRICS
    entries = read_metrics(path)
    for score in scores:
        entry = dict(score)
        entry.setdefault("time", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        entries[score_key(score)] = entry
    return atomic_write_text(path, json.dumps(entries, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(value):
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


__all__ = ["RunDir", "HistoryWriter", "read_history", "read_metrics", "save_scores", "score_key"]
