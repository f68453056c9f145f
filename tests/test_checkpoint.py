"""Checkpoint files: the atomic write cleans up after a killed writer."""
import os
import subprocess
import sys
import time

from gan_lab.utils import atomic_write_text


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
