"""Where a run or a sample grid cannot be written: one clear line, and a full disk keeps the last checkpoint."""
import errno
import os

import pytest
import torch

from gan_lab.checkpoint import load_file
from gan_lab.cli import main


def _train(out, steps=2, *flags):
    return main(["train", "--model", "vanilla", "--fast", "--steps", str(steps), "--out", str(out), "--no-progress",
                 *flags])


def _one_line_error(capsys, *words):
    err = capsys.readouterr().err
    assert err.startswith("gan-lab: error:") and err.count("\n") == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, err


def test_out_is_a_file(tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("x")
    assert _train(target) == 2
    _one_line_error(capsys, "is a file, not a run directory")


def test_out_under_proc(capsys):
    assert _train("/proc/gan-lab-run") == 2
    _one_line_error(capsys, "cannot write the run directory /proc/gan-lab-run")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_out_read_only(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    assert _train(folder / "run") == 2
    _one_line_error(capsys, "cannot write the run directory")


def test_sample_out_into_a_file(tmp_path, capsys):
    run = tmp_path / "run"
    assert _train(run) == 0
    (tmp_path / "somefile.txt").write_text("x")
    capsys.readouterr()
    assert main(["sample", "--checkpoint", str(run), "--n", "4", "--out", str(tmp_path / "somefile.txt" / "grid.png")]) == 2
    _one_line_error(capsys, "cannot write --out")


def test_disk_full_during_checkpoint_keeps_the_last_one(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    assert _train(run, 10) == 0
    before = (run / "checkpoints" / "last.pt").read_bytes()
    capsys.readouterr()

    def full(obj, fh, *args, **kwargs):
        fh.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full)
    assert main(["train", "--resume", "--steps", "20", "--out", str(run), "--no-progress"]) == 2
    _one_line_error(capsys, "no space left on device while writing", "the previous checkpoint is kept")
    assert (run / "checkpoints" / "last.pt").read_bytes() == before
    assert load_file(run / "checkpoints" / "last.pt")["step"] == 10
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.endswith(".tmp")]
