r"""How steady a training run was, from its history (``history.csv``, one row per step).

The DNFM thesis motivates its model with the generator loss of an ordinary GAN on Fashion-MNIST
(its Fig. 1.3): falling on the whole, but with sudden jumps, and the samples at the jump steps are
poor. Its Tables 4.2-4.4 compare the *volatility* of the generator loss and how the discriminator
loss changes (a discriminator loss that sits at zero means D separates real from fake perfectly and
G gets little signal). The measures below make those notions exact so the book can compute them on
any run:

* :func:`loss_volatility` - the standard deviation of the step-to-step changes of a loss;
* :func:`rolling_std` - the standard deviation inside a trailing window, step by step;
* :func:`find_spikes` - the steps where a loss jumps far above its recent level;
* :func:`near_zero_share` - the share of steps whose (discriminator) loss is within a threshold of 0;
* :func:`stability_summary` - all of them for one history.

Every function takes a 1-D sequence of floats. Non-finite values (a diverged run) are left out
where the docstring says so, never silently turned into numbers.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from gan_lab.run import RunDir, read_history
from gan_lab.utils import GanLabError


def _series(values) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise GanLabError(f"expected a 1-D series of losses, got shape {array.shape}")
    return array


def loss_volatility(loss) -> float:
    r"""Standard deviation of the step-to-step changes of a loss.

    With :math:`\Delta_t = L_t - L_{t-1}` for :math:`t = 1, \dots, T-1`,

    .. math:: \mathrm{vol}(L) = \sqrt{\tfrac{1}{T-1} \textstyle\sum_t (\Delta_t - \bar\Delta)^2}

    (population std, ``ddof=0``, of the differences). A smooth trend, however steep, has a small
    volatility; a loss that jumps up and down has a large one. Differences that involve a
    non-finite value are dropped. ``nan`` when fewer than two finite differences remain.
    Example: 0, 1, 0, 1, ..., 0 (an even number of differences, +1, -1, ...) has volatility 1.
    """
    diffs = np.diff(_series(loss))
    diffs = diffs[np.isfinite(diffs)]
    return float(np.std(diffs)) if diffs.size >= 2 else float("nan")


def rolling_std(loss, window: int = 50) -> np.ndarray:
    r"""Trailing-window standard deviation: entry :math:`t` is the population std (``ddof=0``) of
    :math:`L_{t-w+1}, \dots, L_t`; the first :math:`w-1` entries are ``nan`` (window not yet full).
    A window holding a non-finite value gives ``nan``.
    """
    x = _series(loss)
    if window < 2:
        raise GanLabError(f"window must be at least 2, got {window}")
    out = np.full(x.shape, np.nan)
    if x.size >= window:
        windows = np.lib.stride_tricks.sliding_window_view(x, window)   # (T - w + 1, w)
        out[window - 1:] = windows.std(axis=1)
    return out


def find_spikes(loss, window: int = 50, threshold: float = 5.0, min_jump: float = 0.0,
                steps=None) -> np.ndarray:
    r"""Steps where the loss jumps far above its recent level.

    For each :math:`t \ge w` the level is the median :math:`m_t` of the previous :math:`w` values
    :math:`L_{t-w}, \dots, L_{t-1}` (the current value excluded) and the spread is their median
    absolute deviation scaled to a normal std, :math:`s_t = 1.4826\, \mathrm{median}|L_i - m_t|`.
    Step :math:`t` is a spike when

    .. math:: L_t - m_t > \max(\text{threshold} \cdot s_t,\ \text{min\_jump})
              \quad\text{and}\quad L_t - m_t > 0 .

    Median and MAD are used, not mean and std, so that one spike does not hide the next one.
    Only upward jumps count; the first ``window`` steps are never spikes; windows containing
    non-finite values are skipped. Returns the ``steps`` (default: row indices) of the spikes.
    """
    x = _series(loss)
    if window < 2:
        raise GanLabError(f"window must be at least 2, got {window}")
    labels = np.arange(x.size) if steps is None else np.asarray(steps)
    if labels.shape != x.shape:
        raise GanLabError(f"steps has {labels.size} entries, the loss {x.size}")
    if x.size <= window:
        return labels[:0]
    previous = np.lib.stride_tricks.sliding_window_view(x[:-1], window)   # row i: x[i .. i+w-1]
    current = x[window:]                                                   # x[i + w]
    level = np.median(previous, axis=1)
    spread = 1.4826 * np.median(np.abs(previous - level[:, None]), axis=1)
    jump = current - level
    ok = np.isfinite(previous).all(axis=1) & np.isfinite(current)
    spike = ok & (jump > 0) & (jump > np.maximum(threshold * spread, min_jump))
    return labels[window:][spike]


def near_zero_share(loss, threshold: float = 0.05) -> float:
    """Share of steps with ``|loss| < threshold`` among the steps with a finite loss.

    For the discriminator's cross-entropy loss (never negative) this is the share of steps where
    D classified real and fake almost perfectly. ``nan`` for an empty series.
    """
    x = _series(loss)
    x = x[np.isfinite(x)]
    if threshold <= 0:
        raise GanLabError(f"threshold must be positive, got {threshold}")
    return float(np.mean(np.abs(x) < threshold)) if x.size else float("nan")


def history_columns(history) -> dict[str, np.ndarray]:
    """A history as columns: accepts a run directory, a ``history.csv`` path or a list of row dicts
    (what :func:`gan_lab.train.train` returns)."""
    if isinstance(history, (str, os.PathLike)):
        history = read_history(history)
    if isinstance(history, dict):
        return {k: _series(v) for k, v in history.items()}
    rows = list(history)
    if not rows:
        raise GanLabError("the history is empty: the run has no finished steps")
    keys = list(rows[0])
    return {k: np.array([float(r.get(k, np.nan)) for r in rows]) for k in keys}


def stability_summary(history, window: int = 50, spike_threshold: float = 5.0, d_zero_threshold: float = 0.05,
                      g_key: str = "loss_g", d_key: str = "loss_d") -> dict:
    """The measures above for one run, as a JSON-able dict (with the parameters used)."""
    cols = history_columns(history)
    for key in (g_key, d_key):
        if key not in cols:
            raise GanLabError(f"the history has no column {key!r} (columns: {', '.join(cols)})")
    steps = cols.get("step", np.arange(len(cols[g_key])))
    g, d = cols[g_key], cols[d_key]
    spikes = find_spikes(g, window=window, threshold=spike_threshold, steps=steps)
    roll = rolling_std(g, window) if g.size >= window else np.full(g.shape, np.nan)
    return {
        "steps": int(g.size),
        "g_volatility": loss_volatility(g),
        "g_rolling_std_median": float(np.nanmedian(roll)) if np.isfinite(roll).any() else float("nan"),
        "g_spike_steps": [int(s) for s in spikes],
        "d_volatility": loss_volatility(d),
        "d_near_zero_share": near_zero_share(d, d_zero_threshold),
        "params": {"window": window, "spike_threshold": spike_threshold, "d_zero_threshold": d_zero_threshold,
                   "g_key": g_key, "d_key": d_key},
    }


def samples_near(run_dir, steps) -> dict[int, Path]:
    """For each step, the run's sample grid ``samples/step_XXXXXX.png`` nearest to it.

    Grids are saved every ``sample_every`` steps, so a spike usually falls between two; the nearest
    grid (the later one on a tie) is the closest look at what G made then. Steps with no grid at all
    are left out.
    """
    saved = RunDir(run_dir).sample_steps()
    if not saved:
        return {}
    grid_steps = np.array(sorted(saved))
    out = {}
    for step in steps:
        distance = np.abs(grid_steps - int(step))
        best = grid_steps[distance == distance.min()].max()
        out[int(step)] = saved[int(best)]
    return out
