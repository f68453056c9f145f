"""torchrun + DDP on the CPU (gloo): two processes train one model, rank 0 writes the run."""
import subprocess
import sys

import pytest

from gan_lab.checkpoint import load_checkpoint


@pytest.mark.slow
def test_torchrun_two_processes(tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "gan_lab", "train", "--model", "dcgan", "--fast", "--steps", "4", "--batch-size", "8",
           "--device", "cpu", "--out", str(out), "--no-progress"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    model, payload = load_checkpoint(out / "checkpoints" / "last.pt")   # keys carry no DDP "module." level
    assert payload["step"] == 4
    assert not any(".module." in key for key in payload["state"])
    rows = (out / "history.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 4    # only rank 0 writes
