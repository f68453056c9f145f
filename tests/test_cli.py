"""The command line end to end in a temporary folder, and its one-line errors."""
import os
import signal
import subprocess
import sys
import time
import warnings

import pytest

from gan_lab.checkpoint import load_file
from gan_lab.cli import main
from gan_lab.utils import GanLabError


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "gan_lab", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


@pytest.mark.parametrize("model", ["vanilla", "dcgan"])
def test_train_sample_resume(tmp_path, model):
    out = tmp_path / "run"
    res = run_cli("train", "--model", model, "--fast", "--steps", "4", "--out", str(out), "--no-progress")
    assert res.returncode == 0, res.stderr
    assert "run directory" in res.stdout
    assert load_file(out / "checkpoints" / "last.pt")["step"] == 4

    res = run_cli("train", "--out", str(out), "--steps", "6", "--resume", "--no-progress")
    assert res.returncode == 0, res.stderr
    assert load_file(out / "checkpoints" / "last.pt")["step"] == 6

    grid = tmp_path / "grid.png"
    res = run_cli("sample", "--checkpoint", str(out / "checkpoints" / "last.pt"), "--n", "9", "--out", str(grid))
    assert res.returncode == 0, res.stderr
    from PIL import Image
    assert Image.open(grid).size[0] > 28 * 3


def test_set_and_preset(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--model", "dcgan", "--preset", "fashion_mnist", "--set", "lr_g=5e-4",
                 "--set", "betas=0.5,0.99", "--steps", "2", "--batch-size", "4", "--limit", "64",
                 "--out", str(out), "--no-progress"]) == 0
    config = load_file(out / "checkpoints" / "last.pt")["model_config"]
    assert config["lr_g"] == 5e-4 and tuple(config["betas"]) == (0.5, 0.99) and config["g_project"] == "linear"


@pytest.mark.parametrize("args, message", [
    (["--batch-size", "0"], "must be at least 1"),
    (["--model", "nope"], "invalid choice"),
])
def test_argparse_errors_exit_2(tmp_path, args, message):
    res = run_cli("train", "--out", str(tmp_path / "r"), *args)
    assert res.returncode == 2
    assert message in res.stderr


@pytest.mark.parametrize("args, message", [
    (["--model", "dcgan", "--image-size", "48"], "build 28, 32, 64, 128 px images, not 48"),
    (["--set", "nonsense=1"], "expected KEY=VALUE"),
    (["--set", "lr_g=fast"], "not a valid float"),
    (["--preset", "huge"], "has no preset"),
    (["--data", "/no/such/folder"], "/no/such/folder"),
])
def test_bad_values_one_line_exit_2(tmp_path, capsys, args, message):
    code = main(["train", "--fast", "--out", str(tmp_path / "r"), "--no-progress", *args])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_resume_errors(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "none"), "--resume"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_sample_bad_checkpoint(tmp_path, capsys):
    bad = tmp_path / "x.pt"
    bad.write_text("garbage")
    assert main(["sample", "--checkpoint", str(bad)]) == 2
    assert "not a readable gan-lab checkpoint" in capsys.readouterr().err


@pytest.mark.parametrize("data, name", [("fmnist", "fashion-mnist"), ("FashionMNIST", "fashion-mnist"),
                                        ("fashion_mnist", "fashion-mnist"), ("MNIST", "mnist")])
def test_dataset_aliases_train_at_native_size(tmp_path, data, name):
    out = tmp_path / "run"
    assert main(["train", "--model", "dcgan", "--data", data, "--fast", "--steps", "1", "--limit", "32",
                 "--batch-size", "4", "--out", str(out), "--no-progress"]) == 0
    config = load_file(out / "checkpoints" / "last.pt")
    assert (config["model_config"]["image_size"], config["model_config"]["channels"]) == (28, 1)
    assert config["train_config"]["data"] == name                 # recorded under the registry's name


def test_unknown_dataset_lists_the_known_names(tmp_path, capsys):
    assert main(["train", "--data", "fashon-mnist", "--fast", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "fashion-mnist, mnist, celeba" in err and "Traceback" not in err


def test_sample_folder_without_checkpoint(tmp_path, capsys):
    assert main(["sample", "--checkpoint", str(tmp_path), "--out", str(tmp_path / "g.png")]) == 2
    err = capsys.readouterr().err
    assert "is a folder without checkpoints/last.pt" in err and "does not exist" not in err


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_during_start_up_is_one_line(tmp_path, capsys, monkeypatch, signum, code):
    import gan_lab.data

    def interrupted(*args, **kwargs):           # the signal arrives while the data loads
        os.kill(os.getpid(), signum)
        time.sleep(1)

    monkeypatch.setattr(gan_lab.data, "load_data", interrupted)
    # a shell starts background jobs with SIGINT ignored (as a CI runner may): give Ctrl-C its usual meaning
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        status = main(["train", "--model", "vanilla", "--fast", "--out", str(tmp_path / "r"), "--no-progress"])
    finally:
        signal.signal(signal.SIGINT, previous)
    assert status == code
    err = capsys.readouterr().err
    assert err.startswith("gan-lab: interrupted") and "Traceback" not in err

    # the real entry point, signalled at moments from the first line of gan_lab's code (Python's own
    # start-up before it, site and .pth files, is not ours to handle) through the imports into the loading
    for delay in (0.05, 0.1, 0.2, 0.4, 0.7, 1.0, 1.5):
        proc = subprocess.Popen([sys.executable, "-X", "importtime", "-m", "gan_lab", "train", "--model", "vanilla",
                                 "--fast", "--steps", "100000", "--out", str(tmp_path / f"p{delay}"), "--no-progress"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        for line in proc.stderr:                # -X importtime reports the package once it is imported
            if line.rstrip().endswith("| gan_lab"):
                break
        time.sleep(delay)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
        err = "".join(line for line in err.splitlines(True) if not line.startswith("import time:"))
        assert proc.returncode == code, (delay, err)
        assert "Traceback" not in err and "Exception ignored" not in err, (delay, err)
        assert err.strip().splitlines()[-1].startswith("gan-lab: interrupted"), (delay, err)


def test_sigterm_during_training_exits_143(tmp_path):
    out = tmp_path / "r"
    proc = subprocess.Popen([sys.executable, "-m", "gan_lab", "train", "--model", "vanilla", "--fast", "--steps",
                             "100000", "--out", str(out), "--no-progress"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (out / "history.csv").exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "Traceback" not in err and load_file(out / "checkpoints" / "last.pt")["step"] > 0


def test_warnings_are_one_line(tmp_path, capsys, monkeypatch):
    import gan_lab.data

    def warn(*args, **kwargs):
        warnings.warn("something odd")
        raise GanLabError("stop here")

    monkeypatch.setattr(gan_lab.data, "load_data", warn)
    main(["train", "--model", "vanilla", "--fast", "--out", str(tmp_path / "r"), "--no-progress"])
    err = capsys.readouterr().err
    assert "gan-lab: warning: something odd\n" in err and "warnings.warn" not in err
