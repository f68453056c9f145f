"""The fast part of the fault-injection suite (benchmarks/faults.py): every probe must pass.

The suite runs in its own process (it mounts small tmpfs folders where the machine allows, and
drives the command line in subprocesses); its table is shown when a probe fails.
"""
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from faults import PROBES  # noqa: E402


def test_probe_names_are_unique_and_say_what_they_expect():
    names = [p.name for p in PROBES]
    assert len(names) == len(set(names))
    assert all(p.does and p.expected and callable(p.check) for p in PROBES)


def test_a_history_row_cut_mid_number_is_not_kept(tmp_path):
    """The last row cut inside its last number still has every field; without its newline it is torn, not data."""
    import pytest

    from gan_lab.run import HistoryWriter
    from gan_lab.utils import GanLabError

    path = tmp_path / "history.csv"
    path.write_text("step,loss_d,loss_g\n1,0.5,0.25\n2,0.5123,0.2")          # step 2's row cut short
    with pytest.raises(GanLabError, match="lacks steps 2"):
        HistoryWriter(path).resume_at(2)
    path.write_text("step,loss_d,loss_g\n1,0.5,0.25\n2,0.5,0.25\n3,0.5123,0.2")   # a row after the checkpoint
    assert any("torn last row" in note for note in HistoryWriter(path).resume_at(2))


def test_fast_fault_suite_passes():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p))
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "faults.py")], capture_output=True, text=True,
                          env=env, timeout=1200)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    assert "| probe | expected | observed | pass |" in done.stdout
