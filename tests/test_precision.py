"""The precision choice: fp32 or bf16 autocast, resolved once per run, recorded, and kept on resume."""
import json
import math
from dataclasses import replace

import pytest
import torch

from gan_lab import losses
from gan_lab.checkpoint import load_file
from gan_lab.cli import main
from gan_lab.models import get_family
from gan_lab.train import TrainConfig, train
from gan_lab.utils import GanLabError, cpu_has_native_bf16, resolve_precision, seed_everything

CPU = torch.device("cpu")


def fresh(name="dcgan", seed=0):
    seed_everything(seed)
    family = get_family(name)
    return family.Model(family.Config.tiny())


def run_config(out, **overrides):
    values = dict(steps=6, batch_size=8, seed=0, out=str(out), sample_every=0, checkpoint_every=3,
                  log_every=2, n_samples=4, progress=False, device="cpu")
    values.update(overrides)
    return TrainConfig(**values)


@pytest.mark.parametrize("native, parity, expected", [
    ("1", True, "bf16"), ("1", False, "fp32"), ("0", True, "fp32"), ("0", False, "fp32")])
def test_auto_is_bf16_only_on_native_hardware_with_parity(monkeypatch, native, parity, expected):
    monkeypatch.setenv("GAN_LAB_CPU_BF16", native)
    assert resolve_precision("auto", CPU, parity=parity) == (expected, None)


def test_explicit_bf16_on_an_emulating_cpu_says_it_is_slow(monkeypatch):
    monkeypatch.setenv("GAN_LAB_CPU_BF16", "0")
    precision, note = resolve_precision("bf16", CPU)
    assert precision == "bf16" and "slower than fp32" in note
    monkeypatch.setenv("GAN_LAB_CPU_BF16", "1")
    assert resolve_precision("bf16", CPU) == ("bf16", None)
    assert resolve_precision("fp32", CPU) == ("fp32", None)


def test_bad_precision_values():
    with pytest.raises(GanLabError, match="precision must be one of"):
        resolve_precision("fp16", CPU)
    with pytest.raises(GanLabError, match="precision must be one of"):
        TrainConfig(precision="half")
    with pytest.raises(GanLabError, match="contradicts precision 'fp32'"):
        TrainConfig(amp=True, precision="fp32")
    assert TrainConfig(amp=True).precision == "bf16"


def test_cpu_flag_detection_reads_cpuinfo(monkeypatch):
    monkeypatch.delenv("GAN_LAB_CPU_BF16", raising=False)
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        pytest.skip("no /proc/cpuinfo")
    assert cpu_has_native_bf16() == any(f in flags.split() for f in ("avx512_bf16", "amx_bf16", "bf16"))


def test_features_and_losses_stay_fp32_under_autocast():
    f_real = torch.randn(8, 32).bfloat16()
    f_fake = torch.randn(8, 32).bfloat16().requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fm = losses.feature_matching(f_real, f_fake, std_weight=1.0)
        kl = losses.kl_normal(torch.randn(4, 3).bfloat16(), torch.randn(4, 3).bfloat16())
        ll = losses.llike_loss(f_real, f_fake)
    for value in (fm.total, fm.mean, fm.std, kl, ll):
        assert value.dtype == torch.float32


@pytest.mark.parametrize("name", ["dcgan", "wgan-gp", "dnfm", "vaegan", "improved-dcgan", "vanilla"])
def test_bf16_training_keeps_fp32_weights_and_records_precision(tmp_path, fashion_small, name):
    model = fresh(name)
    history = train(model, fashion_small, run_config(tmp_path, precision="bf16", steps=2, checkpoint_every=2))
    assert model.amp
    for p in model.parameters():
        assert p.dtype == torch.float32
    for opt in model.optimizers.values():
        for state in opt.state.values():
            assert all(v.dtype == torch.float32 for v in state.values() if torch.is_tensor(v) and v.is_floating_point())
    assert all(math.isfinite(v) for row in history for v in row.values())   # logged as plain finite numbers
    assert json.loads((tmp_path / "config.json").read_text())["train_config"]["precision"] == "bf16"
    assert load_file(tmp_path / "checkpoints" / "last.pt")["train_config"]["precision"] == "bf16"


def test_bf16_steps_differ_from_fp32(tmp_path, fashion_small):
    """The switch is real: the same seed trained in bf16 ends with other weights than in fp32."""
    a, b = fresh(), fresh()
    train(a, fashion_small, run_config(tmp_path / "a", precision="fp32", steps=2))
    train(b, fashion_small, run_config(tmp_path / "b", precision="bf16", steps=2))
    assert not all(torch.equal(p, q) for p, q in zip(a.G.parameters(), b.G.parameters()))


def test_auto_records_what_it_chose(tmp_path, fashion_small):
    train(fresh(), fashion_small, run_config(tmp_path, steps=2))
    assert json.loads((tmp_path / "config.json").read_text())["train_config"]["precision"] in ("fp32", "bf16")


def test_bf16_resume_is_bitwise(tmp_path, fashion_small):
    straight, split = tmp_path / "straight", tmp_path / "split"
    a = fresh()
    train(a, fashion_small, run_config(straight, precision="bf16"))
    b = fresh()
    train(b, fashion_small, run_config(split, precision="bf16", steps=3))
    c = fresh(seed=123)                  # other initial weights: all must come from the checkpoint
    train(c, fashion_small, run_config(split, precision="auto"), resume=True)   # auto keeps the run's bf16
    sa, sc = a.state_dict(), c.state_dict()
    assert sa.keys() == sc.keys() and all(torch.equal(sa[k], sc[k]) for k in sa)


def test_resume_in_another_precision_is_refused(tmp_path, fashion_small):
    train(fresh(), fashion_small, run_config(tmp_path, precision="bf16", steps=3))
    with pytest.raises(GanLabError, match="was trained in bf16; resuming it in fp32"):
        train(fresh(), fashion_small, run_config(tmp_path, precision="fp32"), resume=True)
    assert load_file(tmp_path / "checkpoints" / "last.pt")["step"] == 3


def test_cli_precision_flags(tmp_path, capsys):
    out = tmp_path / "run"
    common = ["--model", "dcgan", "--fast", "--no-progress", "--device", "cpu", "--out", str(out)]
    assert main(["train", "--steps", "2", "--precision", "bf16", *common]) == 0
    assert load_file(out / "checkpoints" / "last.pt")["train_config"]["precision"] == "bf16"
    capsys.readouterr()
    assert main(["train", "--resume", "--steps", "3", "--out", str(out), "--precision", "fp32", "--no-progress"]) == 2
    assert "--precision: the run has 'bf16', you gave 'fp32'" in capsys.readouterr().err
    assert main(["train", "--resume", "--steps", "3", "--out", str(out), "--no-progress"]) == 0
    assert load_file(out / "checkpoints" / "last.pt")["step"] == 3
    assert main(["train", "--amp", "--precision", "fp32", "--steps", "1", "--model", "dcgan", "--fast",
                 "--out", str(tmp_path / "x")]) == 2
    assert "--amp means --precision bf16" in capsys.readouterr().err
    for precision in ("auto", "bf16", "fp32"):
        png = tmp_path / f"s_{precision}.png"
        assert main(["sample", "--checkpoint", str(out), "--n", "4", "--out", str(png), "--precision", precision,
                     "--device", "cpu"]) == 0
        assert png.stat().st_size > 0


def test_book_run_key_names_the_precision_this_machine_would_use(monkeypatch, tmp_path, fashion_small):
    from gan_lab import book

    config = run_config(tmp_path, steps=2)
    monkeypatch.setenv("GAN_LAB_CPU_BF16", "1")
    native = book.run_key(fresh("dcgan"), config)
    assert native == book.run_key(fresh("dcgan"), replace(config, precision="bf16"))
    monkeypatch.setenv("GAN_LAB_CPU_BF16", "0")
    emulated = book.run_key(fresh("dcgan"), config)
    assert emulated == book.run_key(fresh("dcgan"), replace(config, precision="fp32")) != native
    run = book.run_or_load("dcgan", fresh("dcgan"), fashion_small, replace(config, precision="bf16"), root=tmp_path)
    assert run.precision == "bf16"
