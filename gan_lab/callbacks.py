"""What the training loop writes into a run directory, as small objects it calls.

A callback is any object with some of these methods (all optional)::

    on_train_start(model, state)          # state: TrainState (run dir, step, device, ...)
    on_step_end(model, state, row)        # row: the history row of the finished step (floats)
    on_train_end(model, state)

The loop itself owns what must happen in a fixed order for exact resume (checkpoints and the
NaN guard); everything else that watches a run is a callback.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import torch
from torchvision.utils import save_image


class HistoryWriter:
    """``history.csv``: a header row, then one row per training step.

    Columns: ``step``, every loss part the step functions return (``loss_d``, ``loss_g``, ...),
    mean ``d_real`` = D(x), ``d_fake`` = D(G(z)), ``d_acc``, and ``seconds`` (wall time of the step).
    On resume, rows after the checkpoint's step are dropped first, so the file always matches
    the parameters in ``checkpoints/last.pt``.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.columns: list[str] | None = None

    def truncate_after(self, step: int) -> None:
        if not self.path.exists():
            return
        with self.path.open(newline="") as fh:
            rows = list(csv.reader(fh))
        if not rows:
            return
        header, body = rows[0], [r for r in rows[1:] if r and int(float(r[0])) <= step]
        tmp = self.path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(body)
        tmp.replace(self.path)
        self.columns = header

    def write(self, rows: list[dict]) -> None:
        if not rows:
            return
        if self.columns is None:
            if self.path.exists() and self.path.stat().st_size > 0:
                with self.path.open(newline="") as fh:
                    self.columns = next(csv.reader(fh))
            else:
                self.columns = list(rows[0])
                with self.path.open("w", newline="") as fh:
                    csv.writer(fh).writerow(self.columns)
        with self.path.open("a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.columns, extrasaction="ignore")
            writer.writerows(rows)


def read_history(path: str | Path) -> list[dict]:
    """Rows of a ``history.csv`` (or a run directory's) as dicts of floats (``step`` as int)."""
    path = Path(path)
    if path.is_dir():
        path = path / "history.csv"
    with path.open(newline="") as fh:
        rows = []
        for row in csv.DictReader(fh):
            parsed = {k: (float(v) if v not in ("", None) else math.nan) for k, v in row.items()}
            parsed["step"] = int(parsed["step"])
            rows.append(parsed)
    return rows


class SampleGrid:
    """Every ``every`` steps (and at step 0), save G's images for a fixed z as ``samples/step_XXXXXX.png``.

    The fixed z comes from its own generator seeded with ``seed``, so a resumed run and a run
    straight through draw the same grid.
    """

    def __init__(self, every: int, n: int = 64, seed: int = 0):
        self.every, self.n, self.seed = every, n, seed

    def on_train_start(self, model, state) -> None:
        if state.step == 0 and state.is_main:
            self.save(model, state, 0)

    def on_step_end(self, model, state, row) -> None:
        if self.every and state.is_main and (state.step % self.every == 0 or state.step == state.total_steps):
            self.save(model, state, state.step)

    def save(self, model, state, step: int) -> Path:
        images = model.preview(self.n, self.seed)
        path = state.run_dir / "samples" / f"step_{step:06d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        nrow = max(1, int(math.sqrt(self.n)))
        save_image(images, path, nrow=nrow, normalize=True, value_range=(-1, 1))
        return path
