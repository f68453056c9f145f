"""What the training loop writes into a run directory, as small objects it calls.

A callback is any object with some of these methods (all optional)::

    on_train_start(model, state)          # state: TrainState (run dir, step, device, ...)
    on_step_end(model, state, row)        # row: the history row of the finished step (floats)
    on_train_end(model, state)

The loop itself owns what must happen in a fixed order for exact resume (checkpoints, history
and the NaN guard); everything else that watches a run is a callback. Files go into the run
directory through ``state.run`` (:class:`gan_lab.run.RunDir`).
"""
from __future__ import annotations

from pathlib import Path


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
        return state.run.save_samples(model.preview(self.n, self.seed), step)
