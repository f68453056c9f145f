"""torchrun + DDP on the CPU (gloo): two processes train one model, rank 0 writes the run."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

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


def _campaign_under_torchrun(out, fail_ranks: str, timeout_s: int = 10):
    env = {**os.environ, "FAIL_RANKS": fail_ranks, "GAN_LAB_RANK_TIMEOUT": str(timeout_s), "GAN_LAB_OFFLINE": "1",
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(Path(__file__).with_name("ddp_campaign_worker.py")), "campaign", "--fast", "--out", str(out),
           "--families", "vanilla,dcgan", "--sizes", "32", "--fid-n", "0", "--device", "cpu", "--no-progress"]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)


def _signalled_ranks(stderr: str) -> set[int]:
    """The ranks that torchrun's failure report says it stopped with a signal ("rank : N", then "exitcode : -15")."""
    found = re.findall(r"rank\s*:\s*(\d+)\s*\(local_rank[^\n]*\n\s*exitcode\s*:\s*(-?\d+)", stderr)
    return {int(rank) for rank, code in found if int(code) < 0}


def _state(out):
    return {name: entry["status"] for name, entry in json.loads((out / "campaign.json").read_text()).items()}


@pytest.mark.slow
def test_campaign_under_torchrun_goes_on_past_a_run_that_fails_on_every_rank(tmp_path):
    out = tmp_path / "c"
    res = _campaign_under_torchrun(out, "0,1")
    # exit code 1 says a run failed (as without torchrun); only rank 0 says it, after writing the summary, so
    # torchrun never stops rank 0. (Rank 1 has nothing left to do by then; on a loaded machine torchrun may
    # still catch its interpreter exiting and stop it with SIGTERM, which loses nothing.)
    assert res.returncode == 1 and 0 not in _signalled_ranks(res.stderr), res.stderr[-3000:]
    assert (out / "summary.csv").is_file()
    assert _state(out) == {"vanilla-32px-seed0": "failed", "dcgan-32px-seed0": "finished"}
    assert "FAILED: RuntimeError: boom on rank 0" in res.stdout
    assert (out / "dcgan-32px-seed0" / "checkpoints" / "last.pt").is_file()


@pytest.mark.slow
def test_campaign_under_torchrun_stops_cleanly_when_one_rank_fails_and_resumes_after(tmp_path):
    """A run failing on rank 1 only would leave rank 0 waiting in DDP's gradient exchange for ever: the
    campaign must stop with a message that names the run and the cause, keep what was saved, and a
    rerun must finish the plan."""
    out = tmp_path / "c"
    res = _campaign_under_torchrun(out, "1")
    assert res.returncode != 0
    said = res.stdout + res.stderr
    assert "run vanilla-32px-seed0 stopped on rank 1" in said and "boom on rank 1" in said
    assert "run the same command again to resume" in said
    assert not re.search(r"File \".*(gan_lab/|ddp_campaign_worker)", said)     # no traceback from the ranks
    assert _state(out)["vanilla-32px-seed0"] == "failed"
    again = _campaign_under_torchrun(out, "")
    assert again.returncode == 0, again.stderr[-3000:]
    assert _state(out) == {"vanilla-32px-seed0": "finished", "dcgan-32px-seed0": "finished"}
