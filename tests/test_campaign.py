"""gan-lab campaign: the whole default plan on the CelebA-format fixture end to end, skipping finished
runs, resuming an interrupted one, going on past a failed one, and one-line errors for a bad plan and
for missing CelebA."""
import csv
import json
import math
from dataclasses import replace

import pytest
import torch

from gan_lab import campaign
from gan_lab.campaign import Plan, fast_plan, make_fixture, run_campaign
from gan_lab.cli import main
from gan_lab.run import RunDir
from gan_lab.utils import GanLabError


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch):
    """Data caches and statistics in a folder of this module; no downloads; no CelebA from the environment."""
    monkeypatch.setenv("GAN_LAB_CACHE", str(tmp_path_factory.getbasetemp() / "campaign-cache"))
    monkeypatch.setenv("GAN_LAB_OFFLINE", "1")
    monkeypatch.delenv("GAN_LAB_DATA", raising=False)


def _rows(out):
    with (out / "summary.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def _checkpoint_times(out):
    return {p.parent.parent.name: p.stat().st_mtime_ns for p in out.glob("*/checkpoints/last.pt")}


@pytest.fixture(scope="module")
def fast_campaign(tmp_path_factory):
    """``gan-lab campaign --fast --out DIR``, run once for the module."""
    mp = pytest.MonkeyPatch()
    base = tmp_path_factory.mktemp("fast")
    mp.setenv("GAN_LAB_CACHE", str(base / "cache"))
    mp.setenv("GAN_LAB_OFFLINE", "1")
    mp.delenv("GAN_LAB_DATA", raising=False)
    out = base / "campaign"
    code = main(["campaign", "--fast", "--out", str(out)])
    yield out, code, mp
    mp.undo()


def test_fast_campaign_trains_and_scores_the_whole_default_plan(fast_campaign):
    out, code, _ = fast_campaign
    assert code == 0
    rows = _rows(out)
    default = campaign.default_plan()
    expected = {f"{f}-{s}px-seed0" for f in default.families for s in default.sizes}
    assert {r["run"] for r in rows} == expected and len(expected) == 12
    for row in rows:
        assert row["status"] == "finished", row
        assert int(row["steps_done"]) == int(row["steps_planned"]) == 4
        assert math.isfinite(float(row["fid"])) and float(row["fid"]) > 0, row
        assert row["fd_classifier"] == ""           # CelebA has no classifier
        assert math.isfinite(float(row["g_volatility"])) and row["error"] == ""
    md = (out / "summary.md").read_text().splitlines()
    assert md[0].startswith("| run | family |") and len(md) == 2 + 12
    # every score is in its run's metrics.json with the protocol it was measured under
    metrics = RunDir(out / "dnfm-128px-seed0").read_metrics()
    (entry,) = [e for e in metrics.values() if e["metric"] == "fid"]
    assert entry["protocol"]["n_fake"] == 10 and entry["protocol"]["step"] == 4
    assert entry["protocol"]["reference"]["size"] == [3, 128, 128]
    # --fast scores on 64-d Inception features, and says so (the 2048-d FID costs a 2048 x 2048 square root a run)
    assert entry["protocol"]["feature_network_id"] == "inception-64d" and "not FID" in entry["label"]
    assert {r["fid_features"] for r in rows} == {"inception-64d"}
    assert json.loads((out / "plan.json").read_text())["families"] == list(default.families)


def test_second_invocation_trains_and_measures_nothing(fast_campaign, capsys):
    out, _, mp = fast_campaign
    before = _checkpoint_times(out)
    metrics_before = {p: p.stat().st_mtime_ns for p in out.glob("*/metrics.json")}
    capsys.readouterr()
    assert main(["campaign", "--fast", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.count("skipped") >= 12 and "12 skipped" in printed and "0 trained" in printed
    assert _checkpoint_times(out) == before
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/metrics.json")} == metrics_before   # no Inception pass


def _small_plan(tmp_path, **changes):
    root = make_fixture(tmp_path / "fixture", n=20)
    plan = replace(fast_plan(root), families=("dcgan",), sizes=(32,), fid_n=0, **changes)
    plan.check()
    return plan


def test_an_interrupted_run_resumes_from_its_checkpoint(tmp_path):
    plan = _small_plan(tmp_path, steps=3)
    out = tmp_path / "c"
    run_campaign(plan, out, device="cpu", log=lambda s: None)    # leaves a checkpoint at step 3, as a stop would
    lines = []
    report = run_campaign(replace(plan, steps=6), out, device="cpu", log=lines.append)
    assert report.status == {"dcgan-32px-seed0": "resumed"}
    assert any("resuming at step 3" in line for line in lines)
    run = RunDir(out / "dcgan-32px-seed0")
    assert [r["step"] for r in run.history()] == [1, 2, 3, 4, 5, 6]
    # the resumed run is the straight run: same parameters as 6 steps in one go
    straight = tmp_path / "straight"
    run_campaign(replace(plan, steps=6), straight, device="cpu", log=lambda s: None)
    a = run.checkpoint_payload()["state"]
    b = RunDir(straight / "dcgan-32px-seed0").checkpoint_payload()["state"]
    for key in a:
        if torch.is_tensor(a[key]):
            assert torch.equal(a[key], b[key]), key


def test_a_failing_run_is_reported_and_the_others_go_on(tmp_path, monkeypatch):
    from gan_lab.models import vanilla

    plan = replace(_small_plan(tmp_path), families=("vanilla", "dcgan"))

    def broken(self, x_real):
        raise RuntimeError("boom in the critic")

    monkeypatch.setattr(vanilla.Model, "d_step", broken)
    out = tmp_path / "c"
    lines = []
    report = run_campaign(plan, out, device="cpu", log=lines.append)
    assert report.status == {"vanilla-32px-seed0": "failed", "dcgan-32px-seed0": "trained"}
    rows = {r["run"]: r for r in _rows(out)}
    assert rows["vanilla-32px-seed0"]["status"] == "failed"
    assert rows["vanilla-32px-seed0"]["error"] == "RuntimeError: boom in the critic"
    assert rows["dcgan-32px-seed0"]["status"] == "finished"
    assert any("FAILED: RuntimeError: boom" in line for line in lines)
    assert any("1 failed" in line for line in lines)
    # fixed, the next call trains only the failed run
    monkeypatch.undo()
    report = run_campaign(plan, out, device="cpu", log=lambda s: None)
    assert report.status == {"vanilla-32px-seed0": "trained", "dcgan-32px-seed0": "skipped"}
    assert {r["run"]: r["status"] for r in _rows(out)} == {"vanilla-32px-seed0": "finished",
                                                           "dcgan-32px-seed0": "finished"}


@pytest.mark.parametrize("values, message", [
    ({"sizes": [64, 100]}, "sizes = [64, 100] is not valid; give a list of sizes from 28, 32, 64, 128"),
    ({"families": ["dcgan", "stylegan"]}, "families = [\"dcgan\", \"stylegan\"] is not valid"),
    ({"steps": 0}, "steps = 0 is not valid; give a whole number >= 1"),
    ({"steps": {"dcgan": 100}}, "say how many steps vanilla trains"),
    ({"batch_size": "64"}, "batch_size = \"64\" is not valid"),
    ({"fid_n": 1}, "fid_n = 1 is not valid"),
    ({"width": 0}, "width = 0 is not valid; give a whole number >= 1"),
    ({"sizes": 64}, "sizes = 64 is not valid"),
    ({"famillies": ["dcgan"]}, "unknown key 'famillies'"),
])
def test_a_bad_plan_value_is_one_clear_line(tmp_path, capsys, values, message):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(values))
    assert main(["campaign", "--plan", str(path), "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"gan-lab: error: plan {path}: ") and message in err, err
    assert "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "c").exists()                 # nothing started


def test_unreadable_plan_and_write_plan(tmp_path, capsys):
    path = tmp_path / "plan.json"
    path.write_text("{families: [dcgan]}")
    assert main(["campaign", "--plan", str(path)]) == 2
    assert "is not readable JSON" in capsys.readouterr().err
    assert main(["campaign", "--write-plan", str(path)]) == 0
    assert Plan.from_file(path) == campaign.default_plan()
    written = json.loads(path.read_text())
    assert written["families"] == ["vanilla", "dcgan", "wgan-gp", "vaegan", "improved-dcgan", "dnfm"]
    assert written["sizes"] == [64, 128] and written["data"] == "celeba"


def test_missing_celeba_says_where_it_was_looked_up_and_how_to_get_it(tmp_path, capsys):
    out = tmp_path / "c"
    assert main(["campaign", "--out", str(out), "--data-root", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert "CelebA not found" in err and str(tmp_path / "nowhere") in err and "$GAN_LAB_DATA" in err
    assert "img_align_celeba.zip" in err and "list_eval_partition.txt" in err and "--data fashion-mnist" in err
    assert not (out / "vanilla-64px-seed0").exists()
    with pytest.raises(GanLabError, match="CelebA not found"):
        campaign.check_data(campaign.default_plan())


def test_the_stand_in_flags_take_the_data_sets_own_size(tmp_path):
    from argparse import Namespace

    from gan_lab.cli.campaign import build_plan

    args = Namespace(out=str(tmp_path), fast=False, plan=None, data="fashion-mnist", data_root=None,
                     families="dcgan,dnfm", sizes=None, steps=50, fid_n=0)
    plan = build_plan(args)
    assert plan.sizes == (28,) and plan.image_channels() == 1 and plan.families == ("dcgan", "dnfm")
    assert [s.name for s in plan.runs()] == ["dcgan-28px-seed0", "dnfm-28px-seed0"]


def test_a_plan_width_sets_every_convolutional_nets_channels():
    """width = 32 gives ngf = ndf = 32 (and nef = 32 where there is an encoder); the MLP GAN keeps its layers."""
    plan = replace(campaign.standin_plan(), families=("vanilla", "dcgan", "vaegan", "dnfm"))
    assert plan.width == 32
    configs = {spec.family: plan.model_config(spec) for spec in plan.runs()}
    assert (configs["dcgan"].ngf, configs["dcgan"].ndf) == (32, 32)
    assert (configs["vaegan"].ngf, configs["vaegan"].ndf, configs["vaegan"].nef) == (32, 32, 32)
    assert configs["dnfm"].nef == 32
    assert configs["vanilla"] == replace(campaign.default_plan(), data="fashion-mnist").model_config(
        campaign.RunSpec("vanilla", 28, 0, 1))
    assert replace(plan, width=None).model_config(campaign.RunSpec("dcgan", 28, 0, 1)).ngf != 32
