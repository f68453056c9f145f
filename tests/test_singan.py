"""SinGAN: pyramid, networks, per-pixel gradient penalty, per-scale steps, checkpoint, tasks, CLI."""
from __future__ import annotations

import argparse
import math

import numpy as np
import pytest
import torch
from PIL import Image

from gan_lab.checkpoint import atomic_save
from gan_lab.models import singan as S
from gan_lab.utils import GanLabError, seed_everything


def _image(h=30, w=45, seed=0) -> torch.Tensor:
    """A smooth random RGB image (1, 3, h, w) in [-1, 1]: structure at several scales."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 4, 6, generator=g) * 2 - 1
    fine = torch.rand(1, 3, h, w, generator=g) * 0.4 - 0.2
    return (torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear") + fine).clamp(-1, 1)


@pytest.fixture(scope="module")
def trained():
    """A tiny 3-scale SinGAN trained for 2 iterations per scale, with its history."""
    torch.set_num_threads(1)
    model, history = S.train_singan(_image(), S.Config.tiny(), device="cpu", seed=0, progress=False, log_every=1)
    return model, history


# -- pyramid ------------------------------------------------------------------------------------
def test_pyramid_paper_settings_hand_checked():
    # chelsea is 300 x 451: max size 250 makes it 166 x 250 (300 * 250 / 451 = 166.3).
    # shortest side 166 -> 25: log(25/166) / log(0.75) = 6.58 -> 7 down-scalings, 8 scales,
    # factor (25/166)^(1/7) = 0.7630.
    sizes, factor = S.pyramid_sizes(300, 451, S.Config())
    assert len(sizes) == 8
    assert sizes[-1] == (166, 250)
    assert sizes[0] == (25, 38)
    assert factor == pytest.approx((25 / 166) ** (1 / 7))
    for (h0, w0), (h1, w1) in zip(sizes, sizes[1:]):
        assert h0 < h1 and w0 < w1
        assert h0 / h1 == pytest.approx(factor, abs=0.03)


def test_pyramid_keeps_small_images_and_fixed_num_scales():
    sizes, factor = S.pyramid_sizes(40, 60, S.Config(image_size=250, min_size=20))
    assert sizes[-1] == (40, 60)                       # never enlarged
    assert sizes[0][0] == 20 and len(sizes) == 4        # log(0.5)/log(0.75) = 2.41 -> 3 down-scalings
    sizes, factor = S.pyramid_sizes(100, 100, S.Config(image_size=100, num_scales=3))
    assert factor == 0.75 and sizes == [(56, 56), (75, 75), (100, 100)]


def test_pyramid_too_small_image_is_clear_error():
    with pytest.raises(GanLabError, match="too small"):
        S.pyramid_sizes(12, 40, S.Config.tiny())
    with pytest.raises(GanLabError, match="scales"):
        S.pyramid_sizes(40, 40, S.Config(image_size=40, min_size=16, num_scales=6))


def test_config_validation():
    with pytest.raises(ValueError):
        S.Config(min_size=8)
    with pytest.raises(ValueError):
        S.Config(scale_factor=1.0)
    with pytest.raises(ValueError):
        S.Config(channels=1)
    c = S.Config()
    assert (c.lr_g, c.betas, c.n_critic, c.g_steps, c.rec_weight, c.gp_weight) == (5e-4, (0.5, 0.999), 3, 3, 10.0, 0.1)
    assert [c.filters_at(i) for i in (0, 3, 4, 8, 12, 20)] == [32, 32, 64, 128, 128, 128]
    assert S.Config(double_every=0).filters_at(9) == 32
    assert S.Config.from_dict(c.to_dict()) == c


# -- networks -----------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(16, 16), (21, 31), (40, 27)])
def test_shapes_per_scale(size):
    G, D = S.Generator(8), S.Discriminator(8)
    prev = torch.randn(2, 3, *size)
    assert G(torch.zeros_like(prev), prev).shape == prev.shape
    assert D(prev).shape == (2, 1, size[0] - 10, size[1] - 10)   # 11x11 receptive field, no padding


def test_generator_is_residual():
    G = S.Generator(8)
    torch.nn.init.zeros_(G.tail[0].weight)
    torch.nn.init.zeros_(G.tail[0].bias)
    prev = torch.randn(1, 3, 20, 20)
    # psi(.) = tanh(0) = 0, so G returns its input image unchanged
    assert torch.equal(G(torch.randn_like(prev), prev), prev)


# -- the per-pixel gradient penalty ------------------------------------------------------------
def _grad_of_sum_valid_conv(kernel: np.ndarray, h: int, w: int) -> np.ndarray:
    """d/dx of sum(conv_valid(x, kernel)) for a linear critic, by counting kernel overlaps."""
    c, k, _ = kernel.shape
    grad = np.zeros((c, h, w))
    for p in range(h - k + 1):
        for q in range(w - k + 1):
            grad[:, p:p + k, q:q + k] += kernel
    return grad


def test_pixel_gradient_penalty_linear_critic_by_hand():
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(3, 3, 3)).astype(np.float32) * 0.3
    conv = torch.nn.Conv2d(3, 1, 3, bias=True)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(kernel)[None])
    h, w = 6, 7
    x_real, x_fake = torch.randn(2, 3, h, w), torch.randn(2, 3, h, w)
    grad = _grad_of_sum_valid_conv(kernel, h, w)
    expected = np.mean((np.sqrt((grad ** 2).sum(axis=0)) - 1) ** 2)      # norm over channels, per pixel
    assert S.pixel_gradient_penalty(conv, x_real, x_fake).item() == pytest.approx(expected, rel=1e-5)
    # not the whole-image norm of Gulrajani et al., which gan_lab.losses.gradient_penalty computes
    whole = (np.sqrt((grad ** 2).sum()) - 1) ** 2
    assert abs(expected - whole) > 1.0
    from gan_lab.losses import gradient_penalty
    assert gradient_penalty(conv, x_real[:1], x_fake[:1]).item() == pytest.approx(whole, rel=1e-5)


def test_pixel_gradient_penalty_interpolates_per_image():
    # critic sum(x^2)/2 has gradient x_hat itself, so the penalty is mean_ij (|x_hat_ij| - 1)^2
    critic = lambda x: 0.5 * x.pow(2)  # noqa: E731
    x_real, x_fake = torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 5)
    eps = torch.tensor([0.25, 0.8]).view(2, 1, 1, 1)
    x_hat = (eps * x_real + (1 - eps) * x_fake).numpy()
    expected = np.mean((np.sqrt((x_hat ** 2).sum(axis=1)) - 1) ** 2)
    assert S.pixel_gradient_penalty(critic, x_real, x_fake, eps=eps).item() == pytest.approx(expected, rel=1e-5)


def test_d_step_uses_the_penalty(monkeypatch):
    seed_everything(0)
    cfg = S.Config.tiny()
    x = _image(16, 24)
    G, D = S.Generator(8), S.Discriminator(8)
    calls = []
    real_gp = S.pixel_gradient_penalty

    def spy(critic, x_real, x_fake, eps=None):
        calls.append(critic)
        return real_gp(critic, x_real, x_fake, eps)

    monkeypatch.setattr(S, "pixel_gradient_penalty", spy)
    scale = S.ScaleModel(cfg, G, D, lambda: torch.zeros_like(x), torch.zeros_like(x), torch.randn_like(x), 1.0)
    logs = scale.d_step(x)
    assert calls == [D]
    # loss_d = mean D(fake) - mean D(real) + lambda * GP, with lambda = 0.1
    assert logs["loss_d"].item() == pytest.approx(
        logs["d_fake"].item() - logs["d_real"].item() + 0.1 * logs["gp"].item(), rel=1e-5, abs=1e-6)


# -- steps and training -------------------------------------------------------------------------
def test_scale_steps_change_their_own_net_and_stay_finite():
    seed_everything(0)
    x = _image(16, 24)
    G, D = S.Generator(8), S.Discriminator(8)
    scale = S.ScaleModel(S.Config.tiny(), G, D, lambda: torch.zeros_like(x), torch.zeros_like(x),
                         torch.randn_like(x), 1.0)
    g0 = [p.detach().clone() for p in G.parameters()]
    d0 = [p.detach().clone() for p in D.parameters()]
    logs = scale.d_step(x)
    assert all(math.isfinite(float(v)) for v in logs.values())
    assert any(not torch.equal(a, b) for a, b in zip(d0, D.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(g0, G.parameters()))
    d1 = [p.detach().clone() for p in D.parameters()]
    with torch.no_grad():      # the reconstruction term: fixed noise, zero prev, MSE to the real image
        expected_rec = torch.mean((G(scale.z_rec, scale.rec_prev) - x) ** 2).item()
    logs = scale.g_step(x)
    assert logs["rec"].item() == pytest.approx(expected_rec, rel=1e-5)
    assert all(math.isfinite(float(v)) for v in logs.values())
    assert any(not torch.equal(a, b) for a, b in zip(g0, G.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(d1, D.parameters()))


def test_training_every_scale(trained):
    model, history = trained
    assert model.num_scales == 3 and int(model.scales_trained) == 3
    assert [r["scale"] for r in history if "seconds" in r] == [0, 1, 2]
    rows = [r for r in history if "loss_d" in r]
    assert {r["scale"] for r in rows} == {0, 1, 2}
    assert all(math.isfinite(v) for r in rows for v in r.values())
    # every scale moved away from a fresh initialisation
    fresh = S.SinGAN(model.config, model.sizes, model.scale_factor)
    for n in range(3):
        assert any(not torch.equal(a, b) for a, b in zip(fresh.generators[n].parameters(),
                                                          model.generators[n].parameters()))


def test_noise_amplitude_is_a_tenth_of_the_reconstruction_rmse(trained):
    model, _ = trained
    reals = model.reals()
    assert model.noise_amp[0].item() == 1.0
    for n in (1, 2):
        rec_up = S.upsample(model.reconstruct(upto=n), model.sizes[n])
        rmse = torch.sqrt(torch.mean((rec_up - reals[n]) ** 2)).item()
        assert model.noise_amp[n].item() == pytest.approx(0.1 * rmse, rel=1e-4)


def test_reconstruction_noise_fixed_at_coarsest_only(trained):
    model, _ = trained
    assert model.z_rec.shape == (1, 3, *model.sizes[0])
    assert torch.equal(model.reconstruct(), model.reconstruct())
    a, b = model.sample(2, seed=1), model.sample(2, seed=1)
    assert torch.equal(a, b) and not torch.equal(a[0], a[1])


def test_init_from_previous_scale_when_shapes_match():
    # one iteration with a zero learning rate: each scale must equal scale 0's initial weights
    cfg = S.Config.tiny(steps_per_scale=1, lr_g=1e-12, lr_d=1e-12)
    model = S.SinGAN.from_image(_image(), cfg)
    w0 = model.generators[0].tail[0].weight.detach().clone()
    model, _ = S.train_singan(None, cfg, device="cpu", model=model, progress=False)
    for n in (1, 2):
        assert torch.allclose(model.generators[n].tail[0].weight, w0, atol=1e-6)
    fresh = S.SinGAN.from_image(_image(), S.Config.tiny(init_from_previous=False, steps_per_scale=1))
    assert not torch.allclose(fresh.generators[1].tail[0].weight, fresh.generators[0].tail[0].weight)


# -- checkpoint ---------------------------------------------------------------------------------
def test_checkpoint_round_trip(trained, tmp_path):
    model, history = trained
    path = S.save_singan(model, tmp_path / "singan.pt", history)
    raw = torch.load(path, weights_only=True)
    assert raw["family"] == "singan" and raw["format_version"] == S.FORMAT_VERSION
    assert raw["sizes"] == [list(s) for s in model.sizes] and len(raw["noise_amp"]) == 3
    loaded, payload = S.load_singan(path)
    assert loaded.config == model.config and loaded.sizes == model.sizes
    assert torch.equal(loaded.noise_amp, model.noise_amp) and torch.equal(loaded.z_rec, model.z_rec)
    assert torch.equal(loaded.reconstruct(), model.reconstruct())
    assert torch.equal(loaded.sample(2, seed=3), model.sample(2, seed=3))


def test_checkpoint_of_another_family_and_missing_file(tmp_path):
    atomic_save({"format_version": 1, "family": "dcgan", "state": {}}, tmp_path / "dcgan.pt")
    with pytest.raises(GanLabError, match="dcgan"):
        S.load_singan(tmp_path / "dcgan.pt")
    with pytest.raises(GanLabError, match="does not exist"):
        S.load_singan(tmp_path / "nothing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(GanLabError):
        S.load_singan(tmp_path / "junk.pt")


def test_partly_trained_model_refuses_to_sample():
    model = S.SinGAN.from_image(_image(), S.Config.tiny())
    with pytest.raises(GanLabError, match="scales trained"):
        model.sample(1)


# -- tasks --------------------------------------------------------------------------------------
def test_random_samples_other_size(trained):
    model, _ = trained
    H, W = model.sizes[-1]
    x = model.sample(3, scale_h=1.0, scale_w=2.0, seed=0)
    assert x.shape == (3, 3, H, 2 * W) and torch.isfinite(x).all()
    assert model.sample(2, start=1, seed=0).shape == (2, 3, H, W)


def test_paint_and_injection_scale(trained):
    model, _ = trained
    painting = _image(60, 90, seed=5)                   # same 2:3 aspect, another size
    for k in (1, 2):
        x = model.paint(painting, inject_scale=k, n=2, seed=0)
        assert x.shape == (2, 3, *model.sizes[-1]) and torch.isfinite(x).all()
    with pytest.raises(GanLabError, match="inject-scale"):
        model.paint(painting, inject_scale=0)
    with pytest.raises(GanLabError, match="inject-scale"):
        model.paint(painting, inject_scale=3)
    with pytest.raises(GanLabError, match="aspect"):
        model.paint(_image(60, 60), inject_scale=1)


def test_harmonize_and_edit_keep_the_outside(trained):
    model, _ = trained
    H, W = model.sizes[-1]
    composite = _image(H, W, seed=7)
    mask = torch.zeros(1, 1, H, W)
    mask[..., 10:16, 15:24] = 1
    for fn, dilation in ((model.harmonize, 1), (model.edit, 2)):
        out = fn(composite, mask, inject_scale=1, dilation=dilation, seed=0)
        soft = S.soften_mask(mask, dilation)
        outside = soft == 0
        assert torch.allclose(out.expand_as(composite)[outside.expand_as(composite)],
                              composite[outside.expand_as(composite)])
        assert not torch.allclose(out, composite)
    with pytest.raises(GanLabError, match="same size"):
        model.harmonize(composite, torch.zeros(1, 1, H + 4, W))


def test_soften_mask_dilates_by_a_disk():
    mask = torch.zeros(1, 1, 11, 11)
    mask[..., 5, 5] = 1
    soft = S.soften_mask(mask, 3, sigma=1e-3)           # ~no blur: the dilated set itself
    yy, xx = np.mgrid[-5:6, -5:6]
    assert np.array_equal(soft[0, 0].numpy() > 0.5, yy ** 2 + xx ** 2 <= 9)
    blurred = S.soften_mask(mask, 2)
    assert blurred[0, 0, 5, 5] == 1 and 0 <= blurred.min() and blurred.max() <= 1


# -- bad inputs and image conversions -----------------------------------------------------------
def test_greyscale_and_rgba_are_converted(tmp_path):
    grey = (np.arange(30 * 45).reshape(30, 45) % 256).astype(np.uint8)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    rgba = np.dstack([grey, grey, grey, np.full_like(grey, 128)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    for name in ("grey.png", "rgba.png"):
        x = S.read_image(str(tmp_path / name))
        assert x.shape == (1, 3, 30, 45) and x.min() >= -1 and x.max() <= 1
        assert torch.equal(x[0, 0], x[0, 2])
    x = S.read_image(str(tmp_path / "grey.png"))
    assert torch.allclose(x[0, 1], torch.from_numpy(grey / 127.5 - 1).float(), atol=1e-6)
    assert S.as_image_tensor(grey).shape == (1, 3, 30, 45)


def test_bad_image_inputs(tmp_path):
    with pytest.raises(GanLabError, match="does not exist"):
        S.read_image(str(tmp_path / "missing.png"))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(GanLabError):
        S.read_image(str(tmp_path / "broken.png"))
    with pytest.raises(GanLabError, match="too small"):
        S.SinGAN.from_image(torch.zeros(1, 3, 10, 12), S.Config.tiny())
    with pytest.raises(GanLabError, match="no sample image"):
        S.read_image("skimage:no_such_picture")


# -- command line -------------------------------------------------------------------------------
def _parser():
    parser = argparse.ArgumentParser(prog="gan-lab")
    S.register_cli(parser.add_subparsers(dest="command", required=True))
    return parser


def _run(argv):
    args = _parser().parse_args(argv)
    return args.func(args)


def test_cli_end_to_end(tmp_path):
    torch.set_num_threads(1)
    img = ((_image(30, 45)[0].permute(1, 2, 0).numpy() + 1) * 127.5).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "img.png")
    run = tmp_path / "run"
    assert _run(["singan", "train", "--image", str(tmp_path / "img.png"), "--out", str(run), "--fast",
                 "--device", "cpu", "--quiet"]) == 0
    for name in ("singan.pt", "config.json", "history.csv", "samples.png"):
        assert (run / name).is_file()
    ckpt = str(run / "singan.pt")
    with pytest.raises(GanLabError, match="already exists"):
        _run(["singan", "train", "--image", str(tmp_path / "img.png"), "--out", str(run), "--fast", "--quiet"])
    assert _run(["singan", "sample", "--checkpoint", ckpt, "--out", str(tmp_path / "wide.png"),
                 "--n", "2", "--scale-w", "1.5", "--device", "cpu"]) == 0
    assert Image.open(tmp_path / "wide.png").size[0] > 60          # a grid of two 60-px-wide samples
    assert _run(["singan", "sample", "--checkpoint", ckpt, "--out", str(tmp_path / "dir"), "--n", "3",
                 "--threads", "1"]) == 0
    assert len(list((tmp_path / "dir").glob("sample_*.png"))) == 3
    assert _run(["singan", "paint", "--checkpoint", ckpt, "--image", str(tmp_path / "img.png"),
                 "--inject-scale", "1", "--out", str(tmp_path / "paint.png")]) == 0
    mask = np.zeros((30, 45), np.uint8)
    mask[10:20, 15:30] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    for cmd in ("harmonize", "edit"):
        assert _run(["singan", cmd, "--checkpoint", ckpt, "--image", str(tmp_path / "img.png"),
                     "--mask", str(tmp_path / "mask.png"), "--out", str(tmp_path / f"{cmd}.png")]) == 0
        assert Image.open(tmp_path / f"{cmd}.png").size == (40, 27)
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "small_mask.png")
    with pytest.raises(GanLabError, match="same size"):
        _run(["singan", "edit", "--checkpoint", ckpt, "--image", str(tmp_path / "img.png"),
              "--mask", str(tmp_path / "small_mask.png"), "--out", str(tmp_path / "x.png")])
    with pytest.raises(GanLabError, match="too small"):
        Image.fromarray(img[:12, :12]).save(tmp_path / "tiny.png")
        _run(["singan", "train", "--image", str(tmp_path / "tiny.png"), "--out", str(tmp_path / "r2"), "--fast"])
    with pytest.raises(GanLabError, match="invalid SinGAN setting"):
        _run(["singan", "train", "--image", str(tmp_path / "img.png"), "--out", str(tmp_path / "r3"),
              "--fast", "--min-size", "4"])


def test_cli_main_exit_code_for_wrong_family(tmp_path):
    cli = pytest.importorskip("gan_lab.cli")
    atomic_save({"format_version": 1, "family": "dcgan", "state": {}}, tmp_path / "d.pt")
    code = cli.main(["singan", "sample", "--checkpoint", str(tmp_path / "d.pt"), "--out", str(tmp_path / "o.png")])
    assert code == 2


def test_plain_sample_points_singan_checkpoints_to_singan_sample(tmp_path, capsys):
    cli = pytest.importorskip("gan_lab.cli")
    atomic_save({"format_version": 1, "family": "singan", "state": {}, "model_config": {}}, tmp_path / "s.pt")
    assert cli.main(["sample", "--checkpoint", str(tmp_path / "s.pt"), "--out", str(tmp_path / "o.png")]) == 2
    assert "gan-lab singan sample" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()


def test_cli_resume_finishes_a_partly_trained_pyramid(tmp_path):
    torch.set_num_threads(1)
    img = ((_image(30, 45)[0].permute(1, 2, 0).numpy() + 1) * 127.5).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "img.png")
    run = tmp_path / "run"
    with pytest.raises(GanLabError, match="--resume"):
        _run(["singan", "train", "--image", str(tmp_path / "img.png"), "--out", str(run), "--fast", "--resume"])
    # an interrupted run: the checkpoint written after scale 0 only
    model = S.SinGAN.from_image(_image(30, 45), S.Config.tiny())
    model, history = S.train_singan(None, S.Config.tiny(), device="cpu", model=model, progress=False)
    scale0 = {k: v.clone() for k, v in model.generators[0].state_dict().items()}
    model.scales_trained.fill_(1)
    S.save_singan(model, run / "singan.pt", [r for r in history if r["scale"] == 0])
    assert _run(["singan", "train", "--image", str(tmp_path / "img.png"), "--out", str(run), "--fast",
                 "--resume", "--quiet", "--device", "cpu"]) == 0
    done, payload = S.load_singan(run / "singan.pt")
    assert int(done.scales_trained) == 3
    # scale 0 is not retrained; the history keeps its rows and adds those of scales 1 and 2
    assert [r["scale"] for r in payload["history"] if "seconds" in r] == [0, 1, 2]
    for k, v in done.generators[0].state_dict().items():
        assert torch.equal(v, scale0[k])
