"""Every family through the one loop, the command line, sampling and exact resume."""
import csv

import pytest
import torch

from gan_lab.checkpoint import load_checkpoint
from gan_lab.cli import main
from gan_lab.models import FAMILIES, get_family, make_config
from gan_lab.train import TrainConfig, train
from gan_lab.utils import seed_everything

IMAGE_FAMILIES = [name for name in FAMILIES if name != "singan"]


def build(name, seed=0):
    seed_everything(seed)
    return get_family(name).Model(make_config(name, preset="tiny"))


def settings(tmp_path, steps):
    return TrainConfig(steps=steps, batch_size=8, seed=0, out=str(tmp_path), sample_every=3, checkpoint_every=3,
                       log_every=2, n_samples=4, progress=False)


def _history(path):
    with open(path / "history.csv") as fh:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(fh)]


@pytest.mark.parametrize("name", IMAGE_FAMILIES)
def test_resume_three_then_six_equals_six_straight(tmp_path, fashion_small, name):
    straight = build(name)
    train(straight, fashion_small, settings(tmp_path / "a", 6))

    first = build(name)
    train(first, fashion_small, settings(tmp_path / "b", 3))
    torch.manual_seed(4321)                         # nothing between the two calls may matter
    resumed = build(name, seed=99)                  # another init: all of it must come from the checkpoint
    history = train(resumed, fashion_small, settings(tmp_path / "b", 6), resume=True)
    assert [row["step"] for row in history] == [4, 5, 6]

    a, b = straight.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), f"{name}: {key} differs after resume"
    for opt_name, opt in straight.optimizers.items():
        state_a, state_b = opt.state_dict()["state"], resumed.optimizers[opt_name].state_dict()["state"]
        for index in state_a:
            for field, value in state_a[index].items():
                assert torch.equal(torch.as_tensor(value), torch.as_tensor(state_b[index][field])), (opt_name, field)
    assert _history(tmp_path / "a") == _history(tmp_path / "b")
    assert sorted(p.name for p in (tmp_path / "b" / "samples").iterdir()) == [
        "step_000000.png", "step_000003.png", "step_000006.png"]


@pytest.mark.parametrize("name", IMAGE_FAMILIES)
def test_cli_train_resume_sample(tmp_path, name, capsys):
    out = tmp_path / "run"
    common = ["--batch-size", "4", "--limit", "64", "--no-progress", "--out", str(out)]
    assert main(["train", "--model", name, "--fast", "--steps", "2", *common]) == 0
    assert main(["train", "--resume", "--steps", "3", "--out", str(out), "--no-progress"]) == 0
    model, payload = load_checkpoint(out / "checkpoints" / "last.pt")
    assert payload["step"] == 3 and payload["family"] == model.family
    grid = tmp_path / "grid.png"
    assert main(["sample", "--checkpoint", str(out / "checkpoints" / "last.pt"), "--n", "4", "--out", str(grid)]) == 0
    assert grid.stat().st_size > 0
    assert f"at step 3 -> {grid}" in capsys.readouterr().out


@pytest.mark.parametrize("name", IMAGE_FAMILIES)
def test_sampling_is_deterministic_and_in_range(name):
    model = build(name)
    a, b = model.preview(6, seed=3), model.preview(6, seed=3)
    assert torch.equal(a, b) and a.shape == (6, model.config.channels, 28, 28)
    assert a.min() >= -1 and a.max() <= 1
    assert not torch.equal(a, model.preview(6, seed=4))


def test_every_family_is_tested_here():
    assert set(IMAGE_FAMILIES) | {"singan"} >= set(FAMILIES)
    assert len(IMAGE_FAMILIES) == 7


def test_sample_accepts_a_run_directory_and_its_seed_fixes_the_images(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--model", "vanilla", "--fast", "--steps", "1", "--limit", "32", "--batch-size", "4",
                 "--out", str(out), "--no-progress"]) == 0
    grids = []
    for seed in (1, 1, 2):
        grid = tmp_path / f"grid{len(grids)}.png"
        assert main(["sample", "--checkpoint", str(out), "--n", "4", "--seed", str(seed), "--out", str(grid)]) == 0
        grids.append(grid.read_bytes())
    assert grids[0] == grids[1] != grids[2]


def test_singan_is_refused_by_the_image_set_commands(tmp_path, capsys):
    assert main(["train", "--model", "singan", "--out", str(tmp_path / "r")]) == 2
    assert "gan-lab singan train --image" in capsys.readouterr().err


def test_singan_refuses_autocast(tmp_path):
    from gan_lab.models import singan
    from gan_lab.utils import GanLabError

    model = singan.Model(singan.Config.tiny(), height=30, width=40)
    with pytest.raises(GanLabError, match="autocast"):
        train(model, model.stream(), TrainConfig(steps=1, batch_size=1, out=str(tmp_path), amp=True, progress=False))
