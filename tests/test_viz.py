"""Figures return what they promise and draw the data they are given."""
import matplotlib

matplotlib.use("Agg")

import re

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from gan_lab import viz


def test_image_grid_array_layout_and_range():
    images = torch.stack([torch.full((1, 2, 3), v) for v in (-1.0, 0.0, 1.0)])   # (3, 1, 2, 3)
    grid = viz.image_grid_array(images, nrow=2, padding=1)
    assert grid.shape == (2 * 3 + 1, 2 * 4 + 1, 1)
    assert grid[1, 1, 0] == 0.0 and grid[1, 5, 0] == 0.5 and grid[4, 1, 0] == 1.0
    assert grid[0].max() == 1.0   # padding is white


def test_sample_grid_draws_the_images_and_rejects_bad_shapes():
    images = torch.rand(8, 3, 8, 8) * 2 - 1
    fig = viz.sample_grid(images, title="x")
    assert isinstance(fig, Figure) and fig.axes[0].get_title() == "x"
    drawn = fig.axes[0].get_images()[0].get_array()          # what imshow shows: (H', W', 3) in [0, 1]
    np.testing.assert_allclose(drawn, viz.image_grid_array(images))
    # image 4 (row 1, column 1 of a 3-wide grid) sits at its place, mapped from [-1, 1] to [0, 1]
    top, left = 2 + 1 * (8 + 2), 2 + 1 * (8 + 2)
    np.testing.assert_allclose(drawn[top:top + 8, left:left + 8], ((images[4] + 1) / 2).permute(1, 2, 0).numpy(),
                               atol=1e-6)
    grey = viz.sample_grid(torch.zeros(4, 1, 5, 5))
    assert grey.axes[0].get_images()[0].get_array().ndim == 2   # one channel is drawn as a grey image
    with pytest.raises(ValueError):
        viz.sample_grid(torch.rand(4, 2, 8, 8))


def test_loss_curves_from_list_and_csv(tmp_path):
    rows = [{"step": i + 1, "loss_d": 1.0 / (i + 1), "loss_g": float(i), "d_acc": 0.5} for i in range(10)]
    fig = viz.loss_curves(rows)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["loss_d", "loss_g"]
    np.testing.assert_allclose(fig.axes[0].lines[1].get_ydata(), np.arange(10.0))
    csv = tmp_path / "history.csv"
    csv.write_text("step,loss_d,loss_g\n" + "".join(f"{r['step']},{r['loss_d']},{r['loss_g']}\n" for r in rows))
    fig2 = viz.loss_curves(tmp_path, keys=["loss_d"], smooth=3)
    smoothed = fig2.axes[0].lines[1].get_ydata()
    assert smoothed[2] == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    with pytest.raises(KeyError):
        viz.loss_curves(rows, keys=["nope"])
    with pytest.raises(ValueError):
        viz.loss_curves([])


def test_density_1d_draws_given_curves():
    x = np.linspace(-1, 1, 50)
    fig = viz.density_1d(x, np.ones(50), 0.5 * np.ones(50), d=np.full(50, 0.3), d_star=np.full(50, 2 / 3))
    assert len(fig.axes) == 2
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), 0.3)
    assert fig.axes[1].get_ylim()[1] > 1.0


def test_density_2d_draws_both_densities_over_d():
    g = np.stack(np.meshgrid(np.linspace(-1, 1, 20), np.linspace(-1, 1, 20)), -1)
    p = np.exp(-(g ** 2).sum(-1))
    d = np.linspace(0, 1, 400).reshape(20, 20)
    fig = viz.density_2d(g, p, p[::-1], d=d, levels=4)
    ax = fig.axes[0]
    np.testing.assert_allclose(np.asarray(ax.collections[0].get_array()).reshape(20, 20), d)   # D as the image
    contours = [c for c in ax.collections if hasattr(c, "levels")]
    assert len(contours) == 2                                             # data and generator
    colours = {tuple(np.round(c.get_edgecolor()[0][:3], 3)) for c in contours}
    assert colours == {(0.0, 0.0, 0.0), tuple(np.round(matplotlib.colors.to_rgb(viz.GEN_COLOR), 3))}
    assert len(fig.axes) == 2 and fig.axes[1].get_ylabel() == "D(x)"    # the colour bar says what it shows


def test_animations_are_self_contained_html():
    x = np.linspace(0, 1, 30)
    frames = [{"step": s, "p_g": np.full(30, s / 10), "d": np.full(30, 0.5)} for s in range(3)]
    html = viz.density_1d_animation(x, np.ones(30), frames)
    assert "&#9654;|" in html and "|&#9664;" in html      # first/last-frame buttons as plain text
    assert html.count("data:image/png;base64") == 3
    assert 'type="range"' in html
    assert not re.search(r'(src|href)="https?://', html), "the player must not load anything from the web"
    assert 'class="fa' not in html
    html2 = viz.grid_animation([torch.zeros(4, 1, 4, 4), torch.ones(4, 1, 4, 4)], ["a", "b"])
    assert html2.count("data:image/png;base64") == 2
    html3 = viz.shift_animation(x, np.ones(30), [np.ones(30), np.zeros(30)], [0.0, 1.0],
                                {"JSD": [0.0, 0.69]}, d_frames=[np.ones(30), np.ones(30)])
    assert html3.count("data:image/png;base64") == 2
    with pytest.raises(ValueError):
        viz.shift_animation(x, np.ones(30), [np.ones(30)], [0.0, 1.0], {})
