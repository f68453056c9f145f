"""FID inputs (issue 11, item 7): odd, broken and hostile image files, tiny folders, and the note
that a covariance of fewer samples than feature dimensions is rank-deficient.

Most tests use a cheap stand-in feature network; one runs ``gan-lab fid`` end to end.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gan_lab.data import read_image
from gan_lab.metrics import frechet
from gan_lab.utils import GanLabError
from test_metrics import MeanPool    # the cheap stand-in feature network (4x4 pooling, 16-d)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from faults import IMAGE_KINDS, make_image  # noqa: E402

READ = [k for k, v in IMAGE_KINDS.items() if v == "read"]
REFUSE = [k for k, v in IMAGE_KINDS.items() if v == "refuse"]


def expected_rgb(kind: str, path: Path) -> np.ndarray:
    """What the FID reading must give, worked out from the file with PIL and numpy: (H, W, 3) uint8."""
    from PIL import Image

    im = Image.open(path)
    if kind == "16-bit":                        # 16-bit grey scaled to 8 bits (PIL's convert would clip at 255)
        arr = np.asarray(im, dtype=np.float64)
        grey = np.clip(np.round(arr * 255.0 / 65535.0), 0, 255).astype(np.uint8) if arr.max() > 255 else arr.astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    return np.asarray(im.convert("RGB"))        # pytorch-fid's reading: grey repeated, palette expanded, alpha dropped


@pytest.mark.parametrize("kind", READ)
def test_odd_image_kinds_are_read_the_documented_way(tmp_path, kind):
    path = make_image(kind, tmp_path / f"{kind}.png")
    got = read_image(path, 3, pil_convert=True)                  # (3, H, W) uint8
    np.testing.assert_array_equal(got.permute(1, 2, 0).numpy(), expected_rgb(kind, path))


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path):
    from PIL import Image

    path = tmp_path / "ramp16.png"
    Image.fromarray(np.array([[0, 257 * 100, 65535]], dtype=np.uint16)).save(path)
    got = read_image(path, 3, pil_convert=True)
    assert got[0, 0].tolist() == [0, 100, 255]


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")    # PIL's own, before our refusal
@pytest.mark.parametrize("kind", REFUSE)
def test_broken_and_hostile_files_are_refused_naming_the_file(tmp_path, kind):
    path = make_image(kind, tmp_path / f"bad-{kind}.png")
    with pytest.raises(GanLabError) as info:
        read_image(path, 3, pil_convert=True)
    message = str(info.value)
    assert f"bad-{kind}.png" in message and ("remove" in message or "replace" in message)
    if kind.startswith("bomb"):
        assert "decompression bomb" in message and ("100,000,000" in message or "400,000,000" in message)


def test_bomb_in_a_folder_stops_the_fid_before_any_feature_is_computed(tmp_path):
    for i in range(3):
        make_image("rgb", tmp_path / f"{i}.png", seed=i)
    make_image("bomb", tmp_path / "zz-bomb.png")
    other = tmp_path / "other"
    other.mkdir()
    for i in range(3):
        make_image("rgb", other / f"{i}.png", seed=10 + i)
    calls = []

    class Counting(MeanPool):
        def __call__(self, x01):
            calls.append(x01.shape[0])
            return super().__call__(x01)

    with pytest.raises(GanLabError, match="zz-bomb.png.*decompression bomb"):
        frechet.fid_folders(str(other), str(tmp_path), extractor=Counting())
    assert calls == []                           # the bad file was found before any image was scored


def test_bomb_is_one_error_line_on_the_command_line(tmp_path, capsys):
    from gan_lab.cli import main

    for i in range(2):
        make_image("rgb", tmp_path / f"{i}.png", seed=i)
    make_image("bomb-warning", tmp_path / "big.png")       # PIL itself only warns about this one
    assert main(["fid", str(tmp_path), str(tmp_path), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gan-lab: error:") and "big.png is a decompression bomb" in err


def test_mixed_folder_gives_each_image_its_own_features(tmp_path):
    paths = [make_image(kind, tmp_path / f"{i}-{kind}.png", seed=i) for i, kind in enumerate(READ)]
    feats = frechet.folder_features(tmp_path, MeanPool(), batch_size=4)
    assert feats.shape == (len(READ), 16)
    for row, (kind, path) in zip(feats, zip(READ, paths)):
        one = torch.from_numpy(expected_rgb(kind, path).copy()).permute(2, 0, 1)[None].float() / 255
        np.testing.assert_allclose(row, MeanPool()(one)[0].double().numpy())


def test_one_image_and_empty_folders_are_refused(tmp_path):
    one, empty = tmp_path / "one", tmp_path / "empty"
    one.mkdir()
    empty.mkdir()
    make_image("rgb", one / "a.png")
    for folder, count in ((one, "1 image"), (empty, "0 image")):
        with pytest.raises(GanLabError, match=count):
            frechet.fid_folders(str(folder), str(folder), extractor=MeanPool())


def test_fewer_samples_than_dimensions_carry_a_note(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, seed in ((a, 0), (b, 100)):
        folder.mkdir()
        for i in range(5):
            make_image("rgb", folder / f"{i}.png", size=16, seed=seed + i)
    score = frechet.fid_folders(str(a), str(b), extractor=MeanPool())   # 5 samples of 16-d features
    assert "rank" in score["note"] and "5 images" in score["note"] and "not comparable" in score["note"]
    assert score["protocol"]["rank_deficient"] is True


def test_enough_samples_carry_no_note(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for folder, seed in ((a, 0), (b, 100)):
        folder.mkdir()
        for i in range(20):
            make_image("rgb", folder / f"{i}.png", size=16, seed=seed + i)
    score = frechet.fid_folders(str(a), str(b), extractor=MeanPool())   # 20 samples > 16 dimensions
    assert "note" not in score and score["protocol"]["rank_deficient"] is False


def test_eval_prints_the_note(tmp_path, capsys, monkeypatch):
    """gan-lab eval with a stand-in feature network: the score line, then the note, and the note in metrics.json."""
    import json

    from gan_lab.cli import main
    evaluate_mod = sys.modules["gan_lab.metrics.evaluate"]

    monkeypatch.setenv("GAN_LAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(evaluate_mod, "InceptionFeatures", lambda device: MeanPool())
    folder = tmp_path / "real"
    folder.mkdir()
    for i in range(20):
        make_image("grey", folder / f"{i}.png", size=16, seed=i)
    run = tmp_path / "run"
    assert main(["train", "--model", "vanilla", "--fast", "--steps", "2", "--data", str(folder), "--image-size", "16",
                 "--out", str(run), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(run / "checkpoints" / "last.pt"), "--n", "12", "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert "note:" in out and "rank" in out and "Warning" not in err
    (entry,) = json.loads((run / "metrics.json").read_text()).values()
    assert "rank" in entry["note"]


def test_eval_reference_folder_skips_a_bomb_by_name(tmp_path, monkeypatch):
    """A reference folder is cached as training data is: an unreadable file is skipped with a warning naming it,
    and the score's protocol lists it."""
    from gan_lab.metrics import evaluate

    monkeypatch.setenv("GAN_LAB_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "real"
    folder.mkdir()
    for i in range(6):
        make_image("grey", folder / f"{i}.png", size=16, seed=i)
    make_image("bomb", folder / "bomb.png")
    from gan_lab.models import get_family

    family = get_family("vanilla")
    model = family.Model(family.Config.tiny(image_size=16, channels=1))
    with pytest.warns(UserWarning, match="bomb.png.*decompression bomb"):
        (score,) = evaluate(model, ["fid"], n=6, data=str(folder), extractor=MeanPool())
    assert score["protocol"]["n_real"] == 6
    assert [Path(p).name for p in score["protocol"]["reference"]["skipped_unreadable"]] == ["bomb.png"]


def test_fid_cli_end_to_end_on_a_mixed_folder(tmp_path):
    """The real Inception network (64-d block, as pytorch-fid's --dims 64) on a handful of tiny odd images."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    for i, kind in enumerate(("grey", "palette", "rgba", "16-bit")):
        make_image(kind, a / f"{i}.png", seed=i)
    for i, kind in enumerate(("rgb", "other-size", "rgb")):
        make_image(kind, b / f"{i}.png", seed=10 + i)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-m", "gan_lab", "fid", str(a), str(b), "--dims", "64", "--device", "cpu",
                           "--no-progress"], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Warning" not in done.stderr
    lines = done.stdout.splitlines()
    value = float(next(line for line in lines if line.startswith("FD ")).rsplit(":", 1)[1])
    assert np.isfinite(value) and value > 0
    assert any(line.strip().startswith("note:") and "rank" in line for line in lines), done.stdout
    make_image("bomb", a / "9-bomb.png")
    done = subprocess.run([sys.executable, "-m", "gan_lab", "fid", str(a), str(b), "--dims", "64", "--device", "cpu",
                           "--no-progress"], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("gan-lab: error:") and "9-bomb.png" in done.stderr
