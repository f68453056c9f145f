"""Tests for gan_lab.data.images (the one image reader and the uint8 <-> float converters) and
for how the data layer writes its cache files (gan_lab.utils.atomic_write, the .npy format)."""
from __future__ import annotations

import os
import stat

import numpy as np
import pytest
import torch
from PIL import Image

from gan_lab.data import load_data, load_image, read_image, to_float, to_uint8
from gan_lab.data.registry import write_cache_file
from gan_lab.utils import GanLabError


def rgba_file(tmp_path):
    """A 6 x 4 RGBA image: left half opaque red, right half fully transparent blue."""
    arr = np.zeros((4, 6, 4), dtype=np.uint8)
    arr[:, :3] = (255, 0, 0, 255)
    arr[:, 3:] = (0, 0, 255, 0)
    path = tmp_path / "rgba.png"
    Image.fromarray(arr, "RGBA").save(path)
    return path


def test_read_image_is_uint8_chw_with_gan_lab_rules(tmp_path):
    path = rgba_file(tmp_path)
    x = read_image(path)
    assert x.dtype == torch.uint8 and x.shape == (3, 4, 6)
    assert x[:, 0, 0].tolist() == [255, 0, 0]
    assert x[:, 0, 5].tolist() == [255, 255, 255]  # transparent -> composited over white
    grey = read_image(path, channels=1)
    assert grey.shape == (1, 4, 6) and grey[0, 0, 5].item() == 255
    assert read_image(path, max_size=3).shape == (3, 2, 3)  # longer side 3, aspect ratio kept


def test_read_image_pil_convert_is_pytorch_fids_reading(tmp_path):
    path = rgba_file(tmp_path)
    x = read_image(path, pil_convert=True)
    with Image.open(path) as im:
        expected = torch.from_numpy(np.asarray(im.convert("RGB")).copy()).permute(2, 0, 1)
    assert torch.equal(x, expected)
    assert x[:, 0, 5].tolist() == [0, 0, 255]  # alpha dropped, not composited
    with Image.open(path) as im:
        mask = np.asarray(im.convert("L"))
    assert np.array_equal(read_image(path, channels=1, pil_convert=True)[0].numpy(), mask)


def test_load_image_is_read_image_as_float(tmp_path):
    path = rgba_file(tmp_path)
    for channels, max_size in ((3, None), (1, None), (3, 4)):
        x = load_image(path, channels=channels, max_size=max_size)
        assert x.dtype == torch.float32 and x.dim() == 4 and x.shape[0] == 1
        assert torch.equal(x, to_float(read_image(path, channels, max_size)).unsqueeze(0))
        assert torch.equal(to_uint8(x)[0], read_image(path, channels, max_size))


def test_read_image_errors(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(GanLabError, match=r"bad\.png is not an image PIL can read.*remove or replace"):
        read_image(tmp_path / "bad.png")
    with pytest.raises(GanLabError, match="does not exist"):
        read_image(tmp_path / "nothing.png")
    with pytest.raises(GanLabError, match="is a folder"):
        read_image(tmp_path)
    with pytest.raises(GanLabError, match="channels"):
        read_image(rgba_file(tmp_path), channels=4)
    with pytest.raises(GanLabError, match="max_size"):
        read_image(rgba_file(tmp_path), max_size=0)


def test_converters_round_trip_on_any_device_dtype():
    u = torch.randint(0, 256, (2, 3, 5, 5), dtype=torch.uint8)
    assert torch.equal(to_uint8(to_float(u)), u)
    assert torch.equal(to_uint8(to_float(u).half()), u)  # half precision still rounds back exactly
    with pytest.raises(TypeError):
        to_uint8(u)


def test_write_cache_file_is_atomic_and_shared(tmp_path):
    target = tmp_path / "sub" / "f.bin"
    write_cache_file(target, lambda fh: fh.write(b"first"))
    assert target.read_bytes() == b"first"
    if os.name == "posix":
        assert stat.S_IMODE(target.stat().st_mode) == 0o644

    def broken(fh):
        fh.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_cache_file(target, broken)
    assert target.read_bytes() == b"first"  # the old file is untouched
    assert sorted(p.name for p in target.parent.iterdir()) == ["f.bin"]  # and no temporary file is left


def test_folder_cache_is_a_plain_npy_even_with_skipped_files(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_LAB_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(1001):  # 1001 -> 1000 kept: the count in the header loses a digit
        Image.new("RGB", (4, 4), (i % 256, 0, 0)).save(folder / f"{i:04d}.png")
    (folder / "0500.png").write_bytes(b"broken")
    with pytest.warns(UserWarning, match="0500.png"):
        got = load_data(folder, image_size=4)
    assert got.shape == (1000, 3, 4, 4)
    reference = tmp_path / "reference.npy"
    np.save(reference, got.images.numpy())
    with open(got.source, "rb") as fh:
        assert fh.read() == reference.read_bytes()  # byte for byte what NumPy writes
