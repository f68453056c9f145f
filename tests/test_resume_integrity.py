"""A resumed run is the run that was started: same data selection, batch size and Config, or a clear error."""
import pytest
import torch

from gan_lab.checkpoint import load_file
from gan_lab.cli import main


def _weights(run):
    return load_file(run / "checkpoints" / "last.pt")["state"]


def _same(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if torch.is_tensor(a):
        return torch.equal(a, b)
    return a == b


def test_fast_resume_equals_straight_run(tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    common = ["--model", "vanilla", "--no-progress"]
    assert main(["train", "--fast", "--steps", "20", "--out", str(straight), *common]) == 0
    assert main(["train", "--fast", "--steps", "10", "--out", str(split), *common]) == 0
    assert main(["train", "--resume", "--steps", "20", "--out", str(split), "--no-progress"]) == 0
    assert load_file(split / "checkpoints" / "last.pt")["train_config"]["limit"] == 2048
    assert _same(_weights(straight), _weights(split))


@pytest.mark.parametrize("flags, named", [
    (["--batch-size", "32"], "--batch-size: the run has 16, you gave 32"),
    (["--set", "lr_g=0.1"], "--set lr_g"),
    (["--image-size", "32"], "--image-size: the run has 28, you gave 32"),
    (["--data", "mnist"], "--data: the run has 'fashion-mnist', you gave 'mnist'"),
    (["--limit", "100"], "--limit: the run has 2048, you gave 100"),
    (["--seed", "3"], "--seed: the run has 0, you gave 3"),
    (["--augment"], "--augment"),
    (["--amp"], "--precision: the run has 'fp32', you gave 'bf16'"),
    (["--precision", "bf16"], "--precision: the run has 'fp32', you gave 'bf16'"),
    (["--preset", "fashion_mnist"], "--preset: the run has 'tiny'"),
    (["--model", "dcgan"], "vanilla run, not --model dcgan"),
])
def test_resume_refuses_contradicting_flags(tmp_path, capsys, flags, named):
    out = tmp_path / "run"
    assert main(["train", "--model", "vanilla", "--fast", "--steps", "2", "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", "--steps", "4", "--out", str(out), "--no-progress", *flags]) == 2
    err = capsys.readouterr().err
    assert named in err and "Traceback" not in err
    assert load_file(out / "checkpoints" / "last.pt")["step"] == 2


def test_resume_accepts_agreeing_flags(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--model", "vanilla", "--fast", "--steps", "2", "--out", str(out), "--no-progress"]) == 0
    assert main(["train", "--resume", "--fast", "--batch-size", "16", "--steps", "3", "--out", str(out),
                 "--no-progress", "--device", "cpu", "--checkpoint-every", "1"]) == 0
    payload = load_file(out / "checkpoints" / "last.pt")
    assert payload["step"] == 3 and payload["train_config"]["checkpoint_every"] == 1


def test_old_checkpoint_without_new_fields_resumes(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--model", "vanilla", "--fast", "--steps", "2", "--out", str(out), "--no-progress"]) == 0
    path = out / "checkpoints" / "last.pt"
    payload = load_file(path)
    for key in ("limit", "preset", "data_root"):
        payload["train_config"].pop(key)
    torch.save(payload, path)
    assert main(["train", "--resume", "--steps", "3", "--out", str(out), "--no-progress"]) == 0
