"""What the book's chapters need from the package: a run that is trained once and then reused.

A chapter asks for a run by name, with the model, data and training settings it wants::

    from gan_lab.book import run_or_load
    run = run_or_load("03-vanilla-saturating", vanilla.Model(config), "fashion-mnist", TrainConfig(steps=2000))
    run.model        # trained, in eval mode
    run.history      # history.csv as a list of dicts
    run.dir          # the gan_lab.run.RunDir (samples, metrics.json, records)

:func:`run_or_load` looks in ``runs/book/fast`` or ``runs/book/full`` (the fast switch,
``GAN_LAB_FAST=1``, never shares runs with the full book) for a folder named after the run and
a hash of everything that defines it (family, model config, init kwargs, training settings).
A finished run is loaded, an interrupted one is resumed, and otherwise the run is trained. So a
rebuild of the book retrains nothing, and changing a setting in a chapter starts a new run
instead of reusing a stale one.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from gan_lab.models.base import GANModel
from gan_lab.run import RunDir
from gan_lab.train import TrainConfig, train
from gan_lab.utils import fast_mode, stable_hash

#: TrainConfig fields that do not change what a run computes (where it is written, how it reports)
_NOT_IDENTITY = ("out", "progress", "device")


@dataclass
class Run:
    """A finished run of the book: the trained model and its run directory."""

    model: GANModel
    dir: RunDir
    trained: bool        # True when this call trained or resumed it, False when it was loaded

    @property
    def history(self) -> list[dict]:
        return self.dir.history()

    def scores(self, metric: str) -> tuple[list[int], list[float]]:
        """``(steps, values)`` of ``metric`` in the run's metrics.json (e.g. a training callback's
        ``"fd-classifier"`` scores), in step order."""
        entries = sorted((e["protocol"]["step"], e["value"]) for e in self.dir.read_metrics().values()
                         if e.get("metric") == metric and e.get("protocol", {}).get("step") is not None)
        return [int(s) for s, _ in entries], [float(v) for _, v in entries]


def project_root(start: str | os.PathLike | None = None) -> Path:
    """The folder holding ``pyproject.toml`` above ``start`` (default: the working directory)."""
    here = Path(start or Path.cwd()).resolve()
    return next((p for p in (here, *here.parents) if (p / "pyproject.toml").is_file()), here)


def runs_root() -> Path:
    """``$GAN_LAB_BOOK_RUNS`` or ``<project>/runs/book``, then ``fast`` or ``full`` by the fast switch."""
    base = os.environ.get("GAN_LAB_BOOK_RUNS")
    root = Path(base).expanduser() if base else project_root() / "runs" / "book"
    return root / ("fast" if fast_mode() else "full")


def run_key(model: GANModel, config: TrainConfig) -> str:
    """The hash that names a run: everything that changes what training computes."""
    settings = {k: v for k, v in asdict(config).items() if k not in _NOT_IDENTITY}
    return stable_hash({"family": model.family, "model_config": model.config.to_dict(),
                        "init_kwargs": model.init_kwargs(), "train": settings})


def run_or_load(name: str, model: GANModel, data, config: TrainConfig, *, root: str | os.PathLike | None = None,
                callbacks=()) -> Run:
    """The finished run ``name`` for ``model`` (untrained, as built) and ``config``.

    ``data`` is what :func:`gan_lab.train.train` takes, or a function returning it (called only
    when the run has to train, so a cached chapter does not load its dataset). ``callbacks`` run
    only while training: what a chapter needs from them afterwards must be in the run directory
    (``metrics.json`` through :meth:`RunDir.save_scores`, or :meth:`RunDir.write_records`).
    """
    folder = Path(root) if root is not None else runs_root()
    out = folder / f"{name}-{run_key(model, config)}"
    run = RunDir(out)
    config = replace(config, out=str(out))
    if run.has_checkpoint() and run.finished_steps() >= config.steps:
        run.load(model, map_location=model.device)
        return Run(model.eval(), run, trained=False)
    data = data() if callable(data) and not hasattr(data, "batch") else data
    train(model, data, config, callbacks=callbacks, resume=run.has_checkpoint())
    return Run(model.eval(), run, trained=True)


__all__ = ["Run", "project_root", "run_key", "run_or_load", "runs_root"]
