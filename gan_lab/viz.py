"""Figures of the book: sample grids, loss curves, densities and animations.

Every function returns a matplotlib :class:`~matplotlib.figure.Figure` (or, for animations,
an HTML string with the frames and a slider that works without a kernel). Nothing here trains,
samples or writes files: callers pass in what a run produced.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Callable, Iterable, Sequence

import matplotlib

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib import animation
from matplotlib.figure import Figure
from torchvision.utils import make_grid

from gan_lab.run import read_history

# Colours of Goodfellow et al. (2014), Fig. 1: data black, generator green, discriminator blue.
DATA_COLOR, GEN_COLOR, D_COLOR, DSTAR_COLOR = "black", "#2ca02c", "#1f77b4", "#d62728"


def _new_axes(ax=None, figsize=(6, 3.5)):
    if ax is not None:
        return ax.figure, ax
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    return fig, ax


# ---------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------
def image_grid_array(images, nrow: int | None = None, padding: int = 2) -> np.ndarray:
    """Tile images (N, C, H, W) in [-1, 1] into one (rows*H, cols*W, C) array in [0, 1] (white padding).

    The tiling is torchvision's ``make_grid``; ``nrow`` images per row (default: a square grid).
    """
    x = torch.as_tensor(images).detach().float().cpu()
    if x.ndim == 3:
        x = x[:, None]
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"images must have shape (N, C, H, W) with C in (1, 3), got {tuple(x.shape)}")
    nrow = nrow or max(1, int(math.ceil(math.sqrt(x.shape[0]))))
    x = (x.clamp(-1, 1) + 1) / 2
    grid = make_grid(x, nrow=nrow, padding=padding, pad_value=1.0)    # (3, H', W'): grey is repeated
    return grid[: x.shape[1]].permute(1, 2, 0).numpy()


def sample_grid(images, nrow: int | None = None, title: str | None = None, ax=None,
                size: float = 4.0) -> Figure:
    """A grid of images (N, C, H, W) in [-1, 1], e.g. ``model.generate(z_fixed)``."""
    grid = image_grid_array(images, nrow)
    fig, ax = _new_axes(ax, figsize=(size, size * grid.shape[0] / grid.shape[1]))
    ax.imshow(grid[..., 0] if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=1,
              interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig


def grid_animation(batches: Sequence, labels: Sequence[str] | None = None, nrow: int | None = None,
                   interval: int = 400, size: float = 4.0) -> str:
    """Frames of sample grids (e.g. a fixed z at several training steps) behind a slider."""
    if len(batches) == 0:
        raise ValueError("grid_animation needs at least one batch of images")
    grids = [image_grid_array(b, nrow) for b in batches]
    labels = list(labels) if labels is not None else [f"frame {i}" for i in range(len(grids))]
    fig, ax = plt.subplots(figsize=(size, size * grids[0].shape[0] / grids[0].shape[1]), layout="constrained")
    show = (lambda g: g[..., 0]) if grids[0].shape[-1] == 1 else (lambda g: g)
    im = ax.imshow(show(grids[0]), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    title = ax.set_title(labels[0])

    def update(i):
        im.set_data(show(grids[i]))
        title.set_text(labels[i])
        return im, title

    return animate(fig, update, len(grids), interval)


# ---------------------------------------------------------------------------------------------
# Histories
# ---------------------------------------------------------------------------------------------
def _history_rows(history) -> list[dict]:
    if isinstance(history, (str, Path)):
        return read_history(history)
    rows = list(history)
    if rows and not isinstance(rows[0], dict):
        raise TypeError("history must be a list of dicts, a history.csv path or a run directory")
    return rows


def _smooth(y: np.ndarray, window: int) -> np.ndarray:
    """Moving average over ``window`` points (shorter at the start, never shifted)."""
    if window <= 1 or len(y) == 0:
        return y
    c = np.cumsum(np.insert(np.nan_to_num(y), 0, 0.0))
    idx = np.arange(1, len(y) + 1)
    lo = np.maximum(0, idx - window)
    return (c[idx] - c[lo]) / (idx - lo)


def loss_curves(history, keys: Iterable[str] | None = None, smooth: int = 1, title: str | None = None,
                ax=None, logy: bool = False, label_prefix: str = "") -> Figure:
    """Curves of history columns against ``step``.

    ``history`` is a list of dicts (what :func:`gan_lab.train.train` returns), a ``history.csv``
    or a run directory. ``keys`` defaults to every ``loss*`` column; ``smooth`` is a moving-average
    window (the raw curve is drawn faintly behind it).
    """
    rows = _history_rows(history)
    if not rows:
        raise ValueError("the history is empty: nothing to plot")
    keys = list(keys) if keys is not None else [k for k in rows[0] if k.startswith("loss")]
    missing = [k for k in keys if k not in rows[0]]
    if missing:
        raise KeyError(f"history has no column(s) {missing}; it has {sorted(rows[0])}")
    steps = np.array([r["step"] for r in rows], dtype=float)
    fig, ax = _new_axes(ax)
    for key in keys:
        y = np.array([r[key] for r in rows], dtype=float)
        if smooth > 1:
            line, = ax.plot(steps, y, alpha=0.25, lw=0.8)
            ax.plot(steps, _smooth(y, smooth), color=line.get_color(), label=label_prefix + key)
        else:
            ax.plot(steps, y, label=label_prefix + key)
    ax.set_xlabel("training step")
    if logy:
        ax.set_yscale("log")
    ax.legend(loc="best", fontsize="small")
    if title:
        ax.set_title(title)
    return fig


# ---------------------------------------------------------------------------------------------
# Densities
# ---------------------------------------------------------------------------------------------
def density_1d(grid, p_data, p_g=None, d=None, d_star=None, title: str | None = None, ax=None,
               d_label: str = "D(x)") -> Figure:
    """Goodfellow's picture: :math:`p_{data}` (black, dotted), :math:`p_g` (green), D(x) (blue, dashed),
    and optionally :math:`D^*` (red) on a second axis scaled to [0, 1]."""
    fig, ax = _new_axes(ax)
    ax.plot(grid, p_data, ":", color=DATA_COLOR, lw=2, label=r"$p_{data}$")
    if p_g is not None:
        ax.plot(grid, p_g, color=GEN_COLOR, lw=2, label=r"$p_g$")
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    handles, labels = ax.get_legend_handles_labels()
    if d is not None or d_star is not None:
        ax2 = ax.twinx()
        if d is not None:
            ax2.plot(grid, d, "--", color=D_COLOR, lw=2, label=d_label)
        if d_star is not None:
            ax2.plot(grid, d_star, color=DSTAR_COLOR, lw=1, alpha=0.8, label=r"$D^*(x)$")
        ax2.set_ylim(-0.02, 1.02)
        ax2.set_ylabel("D(x)")
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    ax.legend(handles, labels, loc="upper left", fontsize="small")
    if title:
        ax.set_title(title)
    return fig


def density_1d_animation(grid, p_data, frames: Sequence[dict], interval: int = 250,
                         figsize=(6, 3.5), ymax: float | None = None) -> str:
    """Training of a 1-D GAN behind a slider: each frame is a dict with ``step``, ``p_g`` and ``d``
    (both on ``grid``), e.g. snapshots taken during a real run. ``ymax`` fixes the density axis
    (default: the highest density of any frame), e.g. to keep a very peaked first frame from
    flattening all the others."""
    if len(frames) == 0:
        raise ValueError("density_1d_animation needs at least one frame")
    if ymax is None:
        ymax = 1.1 * max(np.max(p_data), max(np.max(f["p_g"]) for f in frames))
    fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    density_1d(grid, p_data, frames[0]["p_g"], frames[0]["d"], ax=ax)
    ax.set_ylim(0, ymax)
    line_g = ax.lines[1]
    line_d = fig.axes[1].lines[0]
    title = ax.set_title(f"step {frames[0]['step']}")

    def update(i):
        line_g.set_ydata(frames[i]["p_g"])
        line_d.set_ydata(frames[i]["d"])
        title.set_text(f"step {frames[i]['step']}")
        return line_g, line_d, title

    return animate(fig, update, len(frames), interval)


def density_2d(grid, p, q=None, d=None, title: str | None = None, ax=None, levels: int = 6) -> Figure:
    """Contours of two 2-D densities on ``grid`` (n, n, 2) (black: p, green: q) over an image of D."""
    grid = np.asarray(grid)
    xx, yy = grid[..., 0], grid[..., 1]
    fig, ax = _new_axes(ax, figsize=(4.5, 4))
    if d is not None:
        im = ax.pcolormesh(xx, yy, d, cmap="RdBu", vmin=0, vmax=1, shading="auto")
        fig.colorbar(im, ax=ax, label="D(x)")
    ax.contour(xx, yy, p, levels=levels, colors=DATA_COLOR, linewidths=1)
    if q is not None:
        ax.contour(xx, yy, q, levels=levels, colors=GEN_COLOR, linewidths=1)
    ax.set_aspect("equal")
    if title:
        ax.set_title(title)
    return fig


def shift_animation(grid, p_data, p_g_frames: Sequence, thetas: Sequence[float], curves: dict,
                    d_frames: Sequence | None = None, interval: int = 250) -> str:
    """Move :math:`p_g` along a parameter θ: left, the densities (and D) at θ; right, each curve
    of ``curves`` (name -> values over ``thetas``) with a marker at the current θ."""
    thetas = np.asarray(thetas, dtype=float)
    if len(p_g_frames) != len(thetas):
        raise ValueError("one p_g frame per theta is needed")
    fig, (ax, ax_c) = plt.subplots(1, 2, figsize=(9, 3.3), layout="constrained")
    density_1d(grid, p_data, p_g_frames[0], None if d_frames is None else d_frames[0], ax=ax,
               d_label=r"$D^*(x)$")
    ax.set_ylim(0, 1.15 * max(np.max(p_data), max(np.max(f) for f in p_g_frames)))
    line_g = ax.lines[1]
    line_d = fig.axes[-1].lines[0] if d_frames is not None else None
    markers = []
    for name, values in curves.items():
        line, = ax_c.plot(thetas, values, label=name)
        marker, = ax_c.plot([thetas[0]], [values[0]], "o", color=line.get_color())
        markers.append((marker, np.asarray(values, dtype=float)))
    ax_c.set_xlabel(r"$\theta$ (shift of $p_g$)")
    ax_c.legend(fontsize="small")
    title = ax.set_title(rf"$\theta$ = {thetas[0]:.2f}")

    def update(i):
        line_g.set_ydata(p_g_frames[i])
        if line_d is not None:
            line_d.set_ydata(d_frames[i])
        for marker, values in markers:
            marker.set_data([thetas[i]], [values[i]])
        title.set_text(rf"$\theta$ = {thetas[i]:.2f}")
        return [line_g, title] + [m for m, _ in markers]

    return animate(fig, update, len(thetas), interval)


# ---------------------------------------------------------------------------------------------
# Animation helper
# ---------------------------------------------------------------------------------------------
def animate(fig: Figure, update: Callable[[int], object], n_frames: int, interval: int = 250,
            dpi: int = 80) -> str:
    """Render ``update(i)`` for every frame into self-contained HTML (PNG frames, slider, buttons).

    The HTML works in the static book without a kernel and without any network access. The
    figure is closed afterwards so it is not shown a second time.
    """
    saved_dpi = fig.get_dpi()
    fig.set_dpi(dpi)
    try:
        anim = animation.FuncAnimation(fig, update, frames=n_frames, interval=interval, blit=False)
        with matplotlib.rc_context({"animation.embed_limit": 50.0}):
            html = anim.to_jshtml(default_mode="once")
    finally:
        fig.set_dpi(saved_dpi)
        plt.close(fig)
    return _offline_controls(html)


# matplotlib's player links Font Awesome from a CDN for its button icons; the book must work
# offline, so the link goes and the icons become plain Unicode symbols.
_ICONS = [
    ('<i class="fa fa-play fa-flip-horizontal"></i>', "&#9664;"),   # play backwards
    ('<i class="fa fa-minus"></i>', "&minus;"),
    ('<i class="fa fa-plus"></i>', "+"),
    ('<i class="fa fa-fast-backward"></i>', "|&#9664;"),
    ('<i class="fa fa-step-backward"></i>', "&#9665;"),
    ('<i class="fa fa-pause"></i>', "&#10074;&#10074;"),
    ('<i class="fa fa-play"></i>', "&#9654;"),
    ('<i class="fa fa-step-forward"></i>', "&#9655;"),
    ('<i class="fa fa-fast-forward"></i>', "&#9654;|"),
]


def _offline_controls(html: str) -> str:
    html = re.sub(r'<link rel="stylesheet"\s+href="https?://[^"]*font-awesome[^"]*">', "", html)
    for icon, text in _ICONS:
        html = html.replace(icon, text)
    return html


__all__ = [
    "image_grid_array", "sample_grid", "grid_animation", "loss_curves", "density_1d",
    "density_1d_animation", "density_2d", "shift_animation", "animate",
]
