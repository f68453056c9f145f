"""SinGAN: pyramid, networks, per-pixel gradient penalty, per-scale steps through the shared loop,
exact resume across scales, checkpoints, tasks, command line."""
from __future__ import annotations

import argparse
import math

import numpy as np
import pytest
import torch
from PIL import Image

from gan_lab import cli, losses
from gan_lab.checkpoint import atomic_save, load_checkpoint
from gan_lab.cli import singan as singan_cli
from gan_lab.losses import gradient_penalty, pixel_gradient_penalty
from gan_lab.models import get_family
from gan_lab.models import singan as S
from gan_lab.run import RunDir
from gan_lab.train import NonFiniteLossError, TrainConfig, train
from gan_lab.utils import GanLabError, seed_everything


def _image(h=30, w=45, seed=0) -> torch.Tensor:
    """A smooth random RGB image (1, 3, h, w) in [-1, 1]: structure at several scales."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 4, 6, generator=g) * 2 - 1
    fine = torch.rand(1, 3, h, w, generator=g) * 0.4 - 0.2
    return (torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear") + fine).clamp(-1, 1)


def _model(config: S.Config | None = None, seed: int = 0) -> S.Model:
    seed_everything(seed)
    return S.Model.from_image(_image(), config or S.Config.tiny())


def _train_config(out, steps: int, **overrides) -> TrainConfig:
    values = dict(steps=steps, batch_size=1, out=str(out), device="cpu", sample_every=2, checkpoint_every=2,
                  log_every=1, n_samples=4, progress=False)
    values.update(overrides)
    return TrainConfig(**values)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny 3-scale SinGAN trained by the shared loop for 2 iterations per scale, with its run."""
    torch.set_num_threads(1)
    model = _model()
    out = tmp_path_factory.mktemp("singan") / "run"
    history = train(model, model.stream(), _train_config(out, model.total_steps))
    return model, history, RunDir(out)


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


def test_config_validation_and_presets():
    with pytest.raises(ValueError):
        S.Config(min_size=8)
    with pytest.raises(ValueError):
        S.Config(scale_factor=1.0)
    with pytest.raises(ValueError):
        S.Config(channels=1)
    with pytest.raises(ValueError, match="ema_decay"):
        S.Config(ema_decay=0.999)
    c = S.Config()
    assert (c.lr_g, c.betas, c.n_critic, c.g_steps, c.rec_weight, c.gp_weight) == (5e-4, (0.5, 0.999), 3, 3, 10.0, 0.1)
    assert [c.filters_at(i) for i in (0, 3, 4, 8, 12, 20)] == [32, 32, 64, 128, 128, 128]
    assert S.Config(double_every=0).filters_at(9) == 32
    assert S.Config.from_dict(c.to_dict()) == c
    assert c.lr_milestone == 1600                          # 0.8 x 2000 iterations
    tiny, cpu = S.Config.tiny(), S.Config.preset("cpu")
    assert (tiny.image_size, tiny.min_size, tiny.filters, tiny.steps_per_scale) == (40, 16, 8, 2)
    assert (cpu.image_size, cpu.min_size, cpu.steps_per_scale, cpu.filters) == (64, 20, 300, 32)
    assert S.Config.tiny(steps_per_scale=5).steps_per_scale == 5


def test_singan_is_a_registered_family():
    family = get_family("singan")
    assert family.Config is S.Config and family.Model is S.Model and S.Model.family == "singan"


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
    assert pixel_gradient_penalty(conv, x_real, x_fake).item() == pytest.approx(expected, rel=1e-5)
    # not the whole-image norm of Gulrajani et al., which gan_lab.losses.gradient_penalty computes
    whole = (np.sqrt((grad ** 2).sum()) - 1) ** 2
    assert abs(expected - whole) > 1.0
    assert gradient_penalty(conv, x_real[:1], x_fake[:1]).item() == pytest.approx(whole, rel=1e-5)


def test_pixel_gradient_penalty_interpolates_per_image():
    # critic sum(x^2)/2 has gradient x_hat itself, so the penalty is mean_ij (|x_hat_ij| - 1)^2
    critic = lambda x: 0.5 * x.pow(2)  # noqa: E731
    x_real, x_fake = torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 5)
    eps = torch.tensor([0.25, 0.8]).view(2, 1, 1, 1)
    x_hat = (eps * x_real + (1 - eps) * x_fake).numpy()
    expected = np.mean((np.sqrt((x_hat ** 2).sum(axis=1)) - 1) ** 2)
    assert pixel_gradient_penalty(critic, x_real, x_fake, eps=eps).item() == pytest.approx(expected, rel=1e-5)


def test_d_step_uses_the_penalty(monkeypatch):
    model = _model()
    seen = {}

    def spy(critic, x_real, x_fake, eps=None):
        eps = torch.full((x_real.shape[0], 1, 1, 1), 0.3)
        gp = pixel_gradient_penalty(critic, x_real, x_fake, eps)
        with torch.no_grad():   # the critic before its update: the loss by its formula, from scratch
            seen["expected"] = (critic(x_fake).mean() - critic(x_real).mean() + 0.1 * gp).item()
        seen["critic"] = critic
        return gp

    monkeypatch.setattr(losses, "pixel_gradient_penalty", spy)
    model.begin_step(0)
    logs = model.d_step(model.real(0))
    assert seen["critic"] is model.discriminators[0]
    # loss_d = mean D(fake) - mean D(real) + lambda * GP, with lambda = 0.1
    assert logs["loss_d"].item() == pytest.approx(seen["expected"], rel=1e-6, abs=1e-7)


# -- steps and training -------------------------------------------------------------------------
def test_scale_steps_change_their_own_net_and_stay_finite():
    model = _model()
    model.begin_step(0)
    x = model.real(0)
    G, D = model.generators[0], model.discriminators[0]
    assert model.G is G and model.D is D and set(model.optimizers) == {"G", "D"}
    g0 = [p.detach().clone() for p in G.parameters()]
    d0 = [p.detach().clone() for p in D.parameters()]
    logs = model.d_step(x)
    assert all(math.isfinite(float(v)) for v in logs.values())
    assert any(not torch.equal(a, b) for a, b in zip(d0, D.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(g0, G.parameters()))
    d1 = [p.detach().clone() for p in D.parameters()]
    with torch.no_grad():      # the reconstruction term: fixed noise (sigma_0 = 1), zero prev, MSE to the real image
        expected_rec = torch.mean((G(model.z_rec, torch.zeros_like(x)) - x) ** 2).item()
    logs = model.g_step(x)
    assert logs["rec"].item() == pytest.approx(expected_rec, rel=1e-5)
    assert logs["scale"] == 0 and logs["noise_amp"] == 1.0
    assert all(math.isfinite(float(v)) for v in logs.values())
    assert any(not torch.equal(a, b) for a, b in zip(g0, G.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(d1, D.parameters()))


@pytest.mark.filterwarnings("ignore:Detected call of")
def test_learning_rates_drop_tenfold_after_the_milestone():
    model = _model(S.Config.tiny(steps_per_scale=5, lr_decay_at=0.6))
    for step in range(5):
        model.begin_step(step)
        lr = model.optimizers["G"].param_groups[0]["lr"]
        assert lr == pytest.approx(5e-4 if step < 3 else 5e-5)
        model.end_step(step)
    model.begin_step(5)                                     # scale 1: fresh optimisers, full rate
    assert model.scale == 1 and model.optimizers["D"].param_groups[0]["lr"] == pytest.approx(5e-4)


def test_training_every_scale_through_the_loop(trained):
    model, history, run = trained
    assert model.num_scales == 3 and int(model.scales_trained) == 3 and model.total_steps == 6
    assert [r["step"] for r in history] == [1, 2, 3, 4, 5, 6]
    assert [r["scale"] for r in history] == [0, 0, 1, 1, 2, 2]
    assert all(math.isfinite(v) for r in history for v in r.values())
    # one run directory: the history on disk is the returned one, with its scale column
    assert [int(r["scale"]) for r in run.history()] == [0, 0, 1, 1, 2, 2]
    assert sorted(run.sample_steps()) == [0, 2, 4, 6]
    assert run.has_checkpoint() and run.read_config()["family"] == "singan"
    assert set(S.scale_seconds(history, 2)) == {0, 1, 2}
    # every scale moved away from a fresh initialisation
    fresh = _model()
    for n in range(3):
        assert any(not torch.equal(a, b) for a, b in zip(fresh.generators[n].parameters(),
                                                          model.generators[n].parameters()))


def test_noise_amplitude_is_a_tenth_of_the_reconstruction_rmse(trained):
    model, history, _ = trained
    reals = model.reals()
    assert model.noise_amp[0].item() == 1.0
    for n in (1, 2):
        rec_up = S.upsample(model.reconstruct(upto=n), model.sizes[n])
        rmse = torch.sqrt(torch.mean((rec_up - reals[n]) ** 2)).item()
        assert model.noise_amp[n].item() == pytest.approx(0.1 * rmse, rel=1e-4)
        assert history[2 * n]["noise_amp"] == pytest.approx(model.noise_amp[n].item())


def test_reconstruction_noise_fixed_at_coarsest_only(trained):
    model, _, _ = trained
    assert model.z_rec.shape == (1, 3, *model.sizes[0])
    assert torch.equal(model.reconstruct(), model.reconstruct())
    a, b = model.sample(2, seed=1), model.sample(2, seed=1)
    assert torch.equal(a, b) and not torch.equal(a[0], a[1])


@pytest.mark.filterwarnings("ignore:Detected call of")
def test_preview_is_seeded_and_leaves_the_global_rng_alone(trained):
    model, _, _ = trained
    torch.manual_seed(5)
    before = torch.random.get_rng_state()
    a = model.preview(3, seed=2)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert torch.equal(a, model.preview(3, seed=2)) and torch.equal(a, model.sample(3, seed=2))
    untrained = _model()                                   # during training: up to the scale in training
    assert untrained.preview(2, seed=0).shape == (2, 3, *untrained.sizes[0])
    for step in range(3):
        untrained.begin_step(step)
        untrained.end_step(step)
    assert untrained.scale == 1 and untrained.preview(2, seed=0).shape == (2, 3, *untrained.sizes[1])


def test_init_from_previous_scale_when_shapes_match(tmp_path):
    # one iteration per scale with a ~zero learning rate: each scale starts from scale 0's weights
    cfg = S.Config.tiny(steps_per_scale=1, lr_g=1e-12, lr_d=1e-12)
    model = _model(cfg)
    w0 = model.generators[0].tail[0].weight.detach().clone()
    train(model, model.stream(), _train_config(tmp_path / "run", model.total_steps))
    for n in (1, 2):
        assert torch.allclose(model.generators[n].tail[0].weight, w0, atol=1e-6)
    fresh = _model(S.Config.tiny(init_from_previous=False, steps_per_scale=1))
    assert not torch.allclose(fresh.generators[1].tail[0].weight, fresh.generators[0].tail[0].weight)


@pytest.mark.parametrize("stop", [3, 4])
def test_exact_resume_across_a_scale_boundary(tmp_path, stop):
    """3 (mid scale 1) or 4 (a boundary) steps, then resume to 6 == 6 straight, bitwise on the CPU."""
    torch.set_num_threads(1)
    straight = _model()
    train(straight, straight.stream(), _train_config(tmp_path / "a", 6))
    first = _model()
    train(first, first.stream(), _train_config(tmp_path / "b", stop))
    resumed = _model(seed=123)                              # other initial weights: all come from the checkpoint
    history = train(resumed, resumed.stream(), _train_config(tmp_path / "b", 6), resume=True)
    assert [r["step"] for r in history] == list(range(stop + 1, 7))
    a, b = straight.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert RunDir(tmp_path / "a").history()[-1]["loss_g"] == RunDir(tmp_path / "b").history()[-1]["loss_g"]


def test_non_finite_loss_raises_the_loops_error(tmp_path):
    model = _model()
    with torch.no_grad():
        model.image[..., 0, 0] = float("nan")
    with pytest.raises(NonFiniteLossError, match="step 1"):
        train(model, model.stream(), _train_config(tmp_path / "run", 6))
    assert not RunDir(tmp_path / "run").has_checkpoint()


# -- checkpoint ---------------------------------------------------------------------------------
def test_load_checkpoint_rebuilds_a_usable_pyramid(trained):
    model, _, run = trained
    raw = torch.load(run.last_checkpoint, weights_only=True)
    assert raw["family"] == "singan" and raw["step"] == 6
    assert raw["init_kwargs"] == {"height": 30, "width": 45}
    assert {"image", "z_rec", "noise_amp", "scales_trained"} <= set(raw["state"])
    loaded, payload = load_checkpoint(run.last_checkpoint)
    assert isinstance(loaded, S.Model) and loaded.config == model.config and loaded.sizes == model.sizes
    assert torch.equal(loaded.image, model.image) and torch.equal(loaded.z_rec, model.z_rec)
    assert torch.equal(loaded.noise_amp, model.noise_amp) and int(loaded.scales_trained) == 3
    assert torch.equal(loaded.reconstruct(), model.reconstruct())
    assert torch.equal(loaded.sample(2, seed=3), model.sample(2, seed=3))
    painting = _image(60, 90, seed=5)
    assert torch.equal(S.paint(loaded, painting, 1, seed=0), S.paint(model, painting, 1, seed=0))


def test_checkpoint_of_another_family_and_missing_file(tmp_path):
    atomic_save({"format_version": 1, "family": "dcgan", "state": {}}, tmp_path / "dcgan.pt")
    args = argparse.Namespace(checkpoint=str(tmp_path / "dcgan.pt"), device="cpu", threads=None)
    with pytest.raises(GanLabError, match="dcgan"):
        singan_cli.load_for_task(args)
    args.checkpoint = str(tmp_path / "nothing.pt")
    with pytest.raises(GanLabError, match="does not exist"):
        singan_cli.load_for_task(args)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    args.checkpoint = str(tmp_path / "junk.pt")
    with pytest.raises(GanLabError):
        singan_cli.load_for_task(args)


def test_partly_trained_model_refuses_to_sample():
    model = _model()
    with pytest.raises(GanLabError, match="scales trained"):
        model.sample(1)


# -- tasks --------------------------------------------------------------------------------------
def test_random_samples_other_size(trained):
    model, _, _ = trained
    H, W = model.sizes[-1]
    x = model.sample(3, scale_h=1.0, scale_w=2.0, seed=0)
    assert x.shape == (3, 3, H, 2 * W) and torch.isfinite(x).all()
    assert model.sample(2, start=1, seed=0).shape == (2, 3, H, W)
    assert model.generate(4).shape == (4, 3, H, W)


def test_paint_and_injection_scale(trained):
    model, _, _ = trained
    painting = _image(60, 90, seed=5)                   # same 2:3 aspect, another size
    for k in (1, 2):
        x = S.paint(model, painting, inject_scale=k, n=2, seed=0)
        assert x.shape == (2, 3, *model.sizes[-1]) and torch.isfinite(x).all()
    with pytest.raises(GanLabError, match="inject-scale"):
        S.paint(model, painting, inject_scale=0)
    with pytest.raises(GanLabError, match="inject-scale"):
        S.paint(model, painting, inject_scale=3)
    with pytest.raises(GanLabError, match="aspect"):
        S.paint(model, _image(60, 60), inject_scale=1)


def test_harmonize_and_edit_keep_the_outside(trained):
    model, _, _ = trained
    H, W = model.sizes[-1]
    composite = _image(H, W, seed=7)
    mask = torch.zeros(1, 1, H, W)
    mask[..., 10:16, 15:24] = 1
    for task, dilation in ((S.harmonize, 1), (S.edit, 2)):
        out = task(model, composite, mask, inject_scale=1, dilation=dilation, seed=0)
        soft = S.soften_mask(mask, dilation)
        outside = soft == 0
        assert torch.allclose(out.expand_as(composite)[outside.expand_as(composite)],
                              composite[outside.expand_as(composite)])
        assert not torch.allclose(out, composite)
    with pytest.raises(GanLabError, match="same size"):
        S.harmonize(model, composite, torch.zeros(1, 1, H + 4, W))


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
    rgba = np.dstack([grey, grey, grey, np.full_like(grey, 255)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    for name in ("grey.png", "rgba.png"):
        x = singan_cli.image_from_spec(str(tmp_path / name))
        assert x.shape == (1, 3, 30, 45) and x.min() >= -1 and x.max() <= 1
        assert torch.equal(x[0, 0], x[0, 2])
    x = singan_cli.image_from_spec(str(tmp_path / "grey.png"))
    assert torch.allclose(x[0, 1], torch.from_numpy(grey / 127.5 - 1).float(), atol=1e-6)
    assert S.as_image_tensor(grey).shape == (1, 3, 30, 45)


def test_mask_files_threshold_at_mid_grey(tmp_path):
    levels = np.array([[0, 127, 128, 255]], np.uint8).repeat(2, axis=0)
    Image.fromarray(levels).save(tmp_path / "mask.png")
    mask = singan_cli.read_mask(str(tmp_path / "mask.png"))
    assert mask.shape == (1, 1, 2, 4) and mask[0, 0, 0].tolist() == [0.0, 0.0, 1.0, 1.0]


def test_bad_image_inputs(tmp_path):
    with pytest.raises(GanLabError, match="does not exist"):
        singan_cli.image_from_spec(str(tmp_path / "missing.png"))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(GanLabError):
        singan_cli.image_from_spec(str(tmp_path / "broken.png"))
    with pytest.raises(GanLabError, match="too small"):
        S.Model.from_image(torch.zeros(1, 3, 10, 12), S.Config.tiny())
    with pytest.raises(GanLabError, match="no sample image"):
        singan_cli.image_from_spec("skimage:no_such_picture")


# -- command line -------------------------------------------------------------------------------
def _parser():
    parser = argparse.ArgumentParser(prog="gan-lab")
    singan_cli.register_cli(parser.add_subparsers(dest="command", required=True))
    return parser


def _run(argv):
    args = _parser().parse_args(argv)
    return args.func(args)


@pytest.fixture()
def image_file(tmp_path):
    img = ((_image(30, 45)[0].permute(1, 2, 0).numpy() + 1) * 127.5).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "img.png")
    return tmp_path / "img.png"


def test_cli_end_to_end(tmp_path, image_file):
    torch.set_num_threads(1)
    run = tmp_path / "run"
    assert _run(["singan", "train", "--image", str(image_file), "--out", str(run), "--fast",
                 "--device", "cpu", "--quiet"]) == 0
    for name in ("config.json", "history.csv", "samples/step_000000.png", "checkpoints/last.pt"):
        assert (run / name).is_file()
    assert [int(r["scale"]) for r in RunDir(run).history()] == [0, 0, 1, 1, 2, 2]
    ckpt = str(run / "checkpoints" / "last.pt")
    with pytest.raises(GanLabError, match="already holds a run"):
        _run(["singan", "train", "--image", str(image_file), "--out", str(run), "--fast", "--quiet"])
    assert _run(["singan", "sample", "--checkpoint", ckpt, "--out", str(tmp_path / "wide.png"),
                 "--n", "2", "--scale-w", "1.5", "--device", "cpu"]) == 0
    assert Image.open(tmp_path / "wide.png").size[0] > 60          # a grid of two 60-px-wide samples
    assert _run(["singan", "sample", "--checkpoint", str(run), "--out", str(tmp_path / "dir"), "--n", "3",
                 "--threads", "1"]) == 0                            # a run directory works too
    assert len(list((tmp_path / "dir").glob("sample_*.png"))) == 3
    assert _run(["singan", "paint", "--checkpoint", ckpt, "--image", str(image_file),
                 "--inject-scale", "1", "--out", str(tmp_path / "paint.png")]) == 0
    mask = np.zeros((30, 45), np.uint8)
    mask[10:20, 15:30] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    for cmd in ("harmonize", "edit"):
        assert _run(["singan", cmd, "--checkpoint", ckpt, "--image", str(image_file),
                     "--mask", str(tmp_path / "mask.png"), "--out", str(tmp_path / f"{cmd}.png")]) == 0
        assert Image.open(tmp_path / f"{cmd}.png").size == (40, 27)
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "small_mask.png")
    with pytest.raises(GanLabError, match="same size"):
        _run(["singan", "edit", "--checkpoint", ckpt, "--image", str(image_file),
              "--mask", str(tmp_path / "small_mask.png"), "--out", str(tmp_path / "x.png")])
    Image.fromarray(np.zeros((12, 12, 3), np.uint8)).save(tmp_path / "tiny.png")
    with pytest.raises(GanLabError, match="too small"):
        _run(["singan", "train", "--image", str(tmp_path / "tiny.png"), "--out", str(tmp_path / "r2"), "--fast"])
    with pytest.raises(GanLabError, match="invalid SinGAN setting"):
        _run(["singan", "train", "--image", str(image_file), "--out", str(tmp_path / "r3"),
              "--fast", "--min-size", "4"])
    with pytest.raises(GanLabError, match="--image"):
        _run(["singan", "train", "--out", str(tmp_path / "r4"), "--fast"])


def test_cli_main_exit_code_for_wrong_family(tmp_path):
    atomic_save({"format_version": 1, "family": "dcgan", "state": {}}, tmp_path / "d.pt")
    code = cli.main(["singan", "sample", "--checkpoint", str(tmp_path / "d.pt"), "--out", str(tmp_path / "o.png")])
    assert code == 2


def test_plain_sample_reads_singan_checkpoints(trained, tmp_path):
    _, _, run = trained
    assert cli.main(["sample", "--checkpoint", str(run.last_checkpoint), "--n", "4", "--device", "cpu",
                     "--out", str(tmp_path / "o.png")]) == 0
    assert Image.open(tmp_path / "o.png").size == (2 + 2 * (40 + 2), 2 + 2 * (27 + 2))   # a 2 x 2 grid


def test_cli_resume_equals_a_straight_run(tmp_path, image_file):
    torch.set_num_threads(1)
    straight, part = tmp_path / "straight", tmp_path / "part"
    with pytest.raises(GanLabError, match="--resume"):
        _run(["singan", "train", "--image", str(image_file), "--out", str(part), "--fast", "--resume"])
    assert _run(["singan", "train", "--image", str(image_file), "--out", str(straight), "--fast",
                 "--quiet", "--device", "cpu"]) == 0
    # an interrupted run: what the CLI starts, stopped after 3 of its 6 steps (inside scale 1)
    seed_everything(0)
    model = S.Model.from_image(singan_cli.image_from_spec(str(image_file)), S.Config.tiny())
    train(model, model.stream(), _train_config(part, 3, data=str(image_file), log_every=2))
    assert _run(["singan", "train", "--out", str(part), "--resume", "--quiet", "--device", "cpu"]) == 0
    a, _ = load_checkpoint(RunDir(straight).last_checkpoint)
    b, payload = load_checkpoint(RunDir(part).last_checkpoint)
    assert payload["step"] == 6 and int(b.scales_trained) == 3
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key
    assert [int(r["scale"]) for r in RunDir(part).history()] == [0, 0, 1, 1, 2, 2]
