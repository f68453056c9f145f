"""The shared loop on real Fashion-MNIST: run directory, exact resume, NaN guard, stop signal."""
import csv
import json
import os
import signal

import pytest
import torch

from gan_lab.checkpoint import FORMAT_VERSION, load_checkpoint, load_file
from gan_lab.models import dcgan, get_family, vanilla
from gan_lab.train import NonFiniteLossError, TrainConfig, TrainingInterrupted, train
from gan_lab.utils import GanLabError, seed_everything


def fresh(name="dcgan", seed=0, **overrides):
    seed_everything(seed)
    family = get_family(name)
    return family.Model(family.Config.tiny(**overrides))


def run_config(tmp_path, **overrides):
    values = dict(steps=6, batch_size=8, seed=0, out=str(tmp_path), sample_every=3, checkpoint_every=3,
                  log_every=2, n_samples=4, progress=False)
    values.update(overrides)
    return TrainConfig(**values)


@pytest.mark.parametrize("name", ["vanilla", "dcgan"])
def test_run_directory_contract(tmp_path, fashion_small, name):
    history = train(fresh(name), fashion_small, run_config(tmp_path))
    assert [row["step"] for row in history] == [1, 2, 3, 4, 5, 6]
    with open(tmp_path / "history.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6
    for column in ("step", "loss_d", "loss_g", "d_real", "d_fake", "d_acc", "seconds"):
        assert column in rows[0]
    assert all(0 <= float(r["d_real"]) <= 1 for r in rows)
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == [
        "step_000000.png", "step_000003.png", "step_000006.png"]
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["family"] == name and config["train_config"]["steps"] == 6
    payload = load_file(tmp_path / "checkpoints" / "last.pt")
    assert payload["step"] == 6 and payload["family"] == name and payload["format_version"] == FORMAT_VERSION


def _params(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("name", ["vanilla", "dcgan"])
def test_resume_is_exact(tmp_path, fashion_small, name):
    # vanilla uses dropout (global RNG), both draw z from the global RNG and batches from the stream
    straight = fresh(name)
    train(straight, fashion_small, run_config(tmp_path / "a", steps=6))

    first = fresh(name)
    train(first, fashion_small, run_config(tmp_path / "b", steps=4, checkpoint_every=2))
    torch.manual_seed(12345)        # whatever happens in between must not matter
    resumed = fresh(name, seed=999)  # a different init: everything comes from the checkpoint
    history = train(resumed, fashion_small, run_config(tmp_path / "b", steps=6), resume=True)
    assert [row["step"] for row in history] == [5, 6]

    a, b = _params(straight), _params(resumed)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    with open(tmp_path / "a" / "history.csv") as fa, open(tmp_path / "b" / "history.csv") as fb:
        rows_a = [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(fa)]
        rows_b = [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(fb)]
    assert rows_a == rows_b


def test_n_critic_draws_fresh_batches(tmp_path, fashion_small):
    model = fresh("dcgan", n_critic=3)
    train(model, fashion_small, run_config(tmp_path, steps=2))
    assert load_file(tmp_path / "checkpoints" / "last.pt")["batches_seen"] == 2 * (3 + 1)


class ExplodesAtStep3(dcgan.Model):
    calls = 0

    def d_step(self, x_real):
        logs = super().d_step(x_real)
        ExplodesAtStep3.calls += 1
        if ExplodesAtStep3.calls >= 3:
            with torch.no_grad():
                for p in self.D.parameters():
                    p.fill_(float("nan"))
            logs["loss_d"] = torch.tensor(float("nan"))
        return logs


def test_nan_stops_and_keeps_last_good_checkpoint(tmp_path, fashion_small):
    seed_everything(0)
    model = ExplodesAtStep3(dcgan.Config.tiny())
    with pytest.raises(NonFiniteLossError, match=r"loss_d.* became nan at step 3"):
        train(model, fashion_small, run_config(tmp_path, steps=10, checkpoint_every=2, log_every=1))
    payload = load_file(tmp_path / "checkpoints" / "last.pt")
    assert payload["step"] == 2
    assert all(torch.isfinite(v).all() for v in payload["state"].values() if v.is_floating_point())


class StopAt:
    def __init__(self, step):
        self.step = step

    def on_step_end(self, model, state, row):
        if state.step == self.step:
            os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_saves_and_resumes(tmp_path, fashion_small, capsys):
    model = fresh()
    with pytest.raises(TrainingInterrupted) as info:      # a KeyboardInterrupt: callers stop too
        train(model, fashion_small, run_config(tmp_path, steps=50, checkpoint_every=100), callbacks=[StopAt(3)])
    assert info.value.step == 3 and info.value.history[-1]["step"] == 3
    assert load_file(tmp_path / "checkpoints" / "last.pt")["step"] == 3
    assert "interrupted" in capsys.readouterr().out
    again = train(fresh(), fashion_small, run_config(tmp_path, steps=5), resume=True)
    assert [r["step"] for r in again] == [4, 5]


def test_refuses_to_overwrite_a_run(tmp_path, fashion_small):
    train(fresh(), fashion_small, run_config(tmp_path, steps=2))
    before = (tmp_path / "checkpoints" / "last.pt").read_bytes()
    with pytest.raises(GanLabError, match="already holds a run"):
        train(fresh(), fashion_small, run_config(tmp_path, steps=2))
    assert (tmp_path / "checkpoints" / "last.pt").read_bytes() == before


def test_resume_without_checkpoint(tmp_path, fashion_small):
    with pytest.raises(GanLabError, match="cannot resume"):
        train(fresh(), fashion_small, run_config(tmp_path), resume=True)


def test_checkpoint_of_another_family_or_shape(tmp_path, fashion_small):
    train(fresh("vanilla"), fashion_small, run_config(tmp_path, steps=1))
    path = tmp_path / "checkpoints" / "last.pt"
    with pytest.raises(GanLabError, match="holds a 'vanilla' model"):
        load_checkpoint(path, dcgan.Model(dcgan.Config.tiny()))
    with pytest.raises(GanLabError, match="another vanilla config"):
        load_checkpoint(path, vanilla.Model(vanilla.Config.tiny(latent_dim=32)))
    model, payload = load_checkpoint(path)
    assert isinstance(model, vanilla.Model) and payload["step"] == 1


def test_corrupt_checkpoint(tmp_path):
    path = tmp_path / "last.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(GanLabError, match="not a readable gan-lab checkpoint"):
        load_file(path)
    torch.save({"weights": torch.zeros(1)}, path)
    with pytest.raises(GanLabError, match="not a gan-lab checkpoint"):
        load_file(path)


@pytest.mark.parametrize("bad", [dict(steps=0), dict(batch_size=0), dict(sample_every=-1)])
def test_bad_train_config(bad):
    with pytest.raises(GanLabError):
        TrainConfig(**bad)


def test_memory_needed_counts_parameters_by_hand():
    from gan_lab.models import vanilla
    from gan_lab.train import memory_needed

    c = vanilla.Config.tiny() if hasattr(vanilla.Config, "tiny") else vanilla.Config(**vanilla.Config.PRESETS["tiny"])
    assert (c.latent_dim, c.g_hidden, c.d_hidden, c.image_size, c.channels) == (16, (32, 64), (64, 32), 28, 1)
    # G: Linear(16,32) + BN(32) + Linear(32,64) + BN(64) + Linear(64,784); D: Linear(784,64) + Linear(64,32) + Linear(32,1)
    g = (16 * 32 + 32) + 2 * 32 + (32 * 64 + 64) + 2 * 64 + (64 * 784 + 784)
    d = (784 * 64 + 64) + (64 * 32 + 32) + (32 + 1)
    assert (g, d) == (53808, 52353)
    parameters, needed = memory_needed(vanilla.Model, c, batch_size=16)
    assert parameters == g + d
    assert needed == 4 * (4 * (g + d) + 4 * 16 * 784)       # weight, grad, 2 Adam moments; 4 image batches


def test_cli_refuses_a_run_larger_than_memory(tmp_path, capsys):
    from gan_lab.cli import main

    assert main(["train", "--model", "vanilla", "--image-size", "10000", "--out", str(tmp_path / "r"),
                 "--no-progress", "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "this run needs at least" in err and "GiB free" in err and "lower --image-size" in err
    assert not (tmp_path / "r" / "checkpoints").exists()
