"""Checkpoint files: the atomic write cleans up after a killed writer; damaged or foreign files are refused."""
import os
import subprocess
import sys
import time

import pytest
import torch

from gan_lab.checkpoint import load_file
from gan_lab.cli import main
from gan_lab.models import vanilla
from gan_lab.run import RunDir
from gan_lab.utils import GanLabError, atomic_write_text, seed_everything


def test_stale_temp_of_dead_writer_is_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".last.pt.{dead.pid}.abc.tmp"
    stale.write_bytes(b"half")
    live = tmp_path / f".last.pt.{os.getppid()}.def.tmp"  # a live process's temp file
    live.write_bytes(b"busy")
    other = tmp_path / f".other.pt.{dead.pid}.ghi.tmp"
    other.write_bytes(b"not ours")
    old = time.time() - 60
    for p in (stale, live, other):
        os.utime(p, (old, old))
    atomic_write_text(tmp_path / "last.pt", "new")
    assert (tmp_path / "last.pt").read_text() == "new"
    assert not stale.exists()
    assert live.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["last.pt", live.name, other.name])


class _Evil:
    pass


def test_pickled_objects_refused_without_weights_only_advice(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format_version": 2, "x": _Evil()}, path)
    with pytest.raises(GanLabError) as e:
        load_file(path)
    msg = str(e.value)
    assert "pickled Python objects" in msg and "could run code" in msg
    assert "weights_only" not in msg and "\x1b" not in msg


@pytest.mark.parametrize("version", ["2", 2.0, None, 0])
def test_bad_format_version_is_clear_error(tmp_path, version):
    path = tmp_path / "bad.pt"
    torch.save({"format_version": version}, path)
    with pytest.raises(GanLabError, match="format_version"):
        load_file(path)


def _good_payload(tmp_path):
    seed_everything(0)
    run = RunDir(tmp_path / "good")
    run.save_checkpoint(vanilla.Model(vanilla.Config.tiny()), 3, {"steps": 3}, 3)
    return torch.load(run.last_checkpoint, weights_only=True)


@pytest.mark.parametrize("damage, message", [
    (lambda p: {"format_version": 2}, "no 'family'"),
    (lambda p: {k: v for k, v in p.items() if k != "state"}, "no 'state'"),
    (lambda p: {**p, "state": [1, 2]}, "'state' is a list"),
    (lambda p: {**p, "state": {"G.net.0.weight": "text"}}, "non-tensors"),
    (lambda p: {**p, "step": "12"}, "'step' is a str"),
    (lambda p: {**p, "step": -4}, "'step' is -4"),
    (lambda p: {**p, "model_config": {**p["model_config"], "image_size": "big"}}, "config cannot be used"),
    (lambda p: {**p, "model_config": {**p["model_config"], "no_such_field": 1}}, "config cannot be used"),
    (lambda p: {**p, "family": "nosuch"}, "unknown model"),
])
def test_malformed_checkpoints_are_one_line_errors(tmp_path, capsys, damage, message):
    path = tmp_path / "bad.pt"
    torch.save(damage(_good_payload(tmp_path)), path)
    assert main(["sample", "--checkpoint", str(path), "--out", str(tmp_path / "g.png")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_random_bytes_are_never_loaded_and_never_a_traceback(tmp_path):
    """Fuzz: 300 files of random bytes (seeded). Torch's unpickler stops on some of them with an
    IndexError or KeyError (about 7 %), or warns of a strange pickle protocol; every one must be
    the one-line refusal."""
    import random
    import warnings

    rng = random.Random(0)
    path = tmp_path / "last.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # a warning would reach the user as an extra line
        for _ in range(300):
            path.write_bytes(rng.randbytes(rng.choice([16, 512, 4096])))
            with pytest.raises(GanLabError, match="not a readable gan-lab checkpoint|not a gan-lab checkpoint"):
                load_file(path)
