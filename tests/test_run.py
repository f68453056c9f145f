"""The run directory (gan_lab.run) and the book's run helper (gan_lab.book)."""
import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from gan_lab import book
from gan_lab.models import vanilla
from gan_lab.run import HistoryWriter, RunDir, read_history, read_metrics, save_scores
from gan_lab.train import TrainConfig, train
from gan_lab.utils import GanLabError, atomic_write, seed_everything


def test_layout_and_paths(tmp_path):
    run = RunDir(tmp_path / "r")
    assert run.config_path == tmp_path / "r" / "config.json"
    assert run.last_checkpoint == tmp_path / "r" / "checkpoints" / "last.pt"
    assert run.checkpoint_path(1200).name == "step_001200.pt"
    assert run.sample_path(7).name == "step_000007.png"
    assert RunDir.of_checkpoint(tmp_path / "r" / "checkpoints" / "last.pt").path == (tmp_path / "r").resolve()
    assert RunDir.of_checkpoint(tmp_path / "elsewhere.pt").path == tmp_path.resolve()
    assert not run.has_checkpoint() and run.history() == [] and run.read_metrics() == {}


def test_config_round_trip_and_errors(tmp_path):
    run = RunDir(tmp_path)
    with pytest.raises(GanLabError, match="not a run directory"):
        run.read_config()
    run.write_config("dcgan", {"ngf": 8, "betas": (0.5, 0.9)}, {"steps": 3}, {"height": 5})
    assert run.read_config() == {"family": "dcgan", "model_config": {"ngf": 8, "betas": [0.5, 0.9]},
                                 "init_kwargs": {"height": 5}, "train_config": {"steps": 3}}
    run.config_path.write_text("{broken")
    with pytest.raises(GanLabError, match="not readable JSON"):
        run.read_config()


def test_history_writer_truncates_and_keeps_columns(tmp_path):
    writer = HistoryWriter(tmp_path / "history.csv")
    writer.write([{"step": s, "loss_d": s / 10, "loss_g": -s} for s in (1, 2, 3, 4)])
    writer.truncate_after(2)
    HistoryWriter(tmp_path / "history.csv").write([{"step": 3, "loss_g": 9.0, "loss_d": 0.5, "extra": 1}])
    rows = read_history(tmp_path)
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert rows[2] == {"step": 3, "loss_d": 0.5, "loss_g": 9.0}       # columns in the header's order, extra dropped
    writer.reset()
    assert not (tmp_path / "history.csv").exists()
    with pytest.raises(GanLabError, match="no history"):
        read_history(tmp_path)


def test_samples_are_pngs_in_step_order(tmp_path):
    run = RunDir(tmp_path)
    for step in (10, 0, 5):
        run.save_samples(torch.linspace(-1, 1, 4 * 3 * 2 * 2).reshape(4, 3, 2, 2), step)
    steps = run.sample_steps()
    assert list(steps) == [0, 5, 10]
    image = Image.open(steps[5])
    assert image.size == (2 * 2 + 3 * 2, 2 * 2 + 3 * 2)              # 2 x 2 grid of 2 px images, padding 2
    assert not list(tmp_path.rglob("*.tmp"))


def test_scores_merge_and_broken_file_is_kept(tmp_path):
    a = {"metric": "fid", "value": 11.0, "protocol": {"step": 1, "n_fake": 10}}
    b = {"metric": "fid", "value": 9.0, "protocol": {"step": 2, "n_fake": 10}}
    save_scores(tmp_path, [a])
    save_scores(tmp_path / "metrics.json", [b, dict(a, value=12.0)])
    assert sorted(e["value"] for e in read_metrics(tmp_path).values()) == [9.0, 12.0]
    (tmp_path / "metrics.json").write_text("[1, 2]")
    with pytest.raises(GanLabError, match="move it aside"):
        save_scores(tmp_path, [a])
    assert (tmp_path / "metrics.json").read_text() == "[1, 2]"


def test_records_round_trip_and_resume_cut(tmp_path):
    run = RunDir(tmp_path)
    run.write_records("probe", [{"step": s, "g": s * 2.0} for s in (1, 5, 9)])
    assert run.read_records("probe", upto_step=5) == [{"step": 1, "g": 2.0}, {"step": 5, "g": 10.0}]
    assert run.read_records("absent") == []
    with pytest.raises(GanLabError, match="record name"):
        run.write_records("../escape", [])


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path):
    path = tmp_path / "f.bin"
    atomic_write(path, lambda fh: fh.write(b"old"))

    def fails(fh):
        fh.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(path, fails)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def _book_run(tmp_path, steps, callbacks=()):
    seed_everything(0)
    model = vanilla.Model(vanilla.Config.tiny())
    data = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    config = TrainConfig(steps=steps, batch_size=8, sample_every=0, checkpoint_every=2, log_every=1, progress=False)
    return book.run_or_load("toy", model, lambda: data, config, root=tmp_path, callbacks=callbacks)


class _Counter:
    def __init__(self):
        self.steps = 0

    def on_step_end(self, model, state, row):
        self.steps += 1


def test_run_or_load_trains_once_then_loads(tmp_path):
    counter = _Counter()
    first = _book_run(tmp_path, 4, [counter])
    assert first.trained and counter.steps == 4 and [r["step"] for r in first.history] == [1, 2, 3, 4]
    again = _book_run(tmp_path, 4, [counter])
    assert not again.trained and counter.steps == 4                   # nothing retrained
    assert again.dir.path == first.dir.path and not again.model.training
    for key, value in first.model.state_dict().items():
        assert torch.equal(value, again.model.state_dict()[key]), key
    more = _book_run(tmp_path, 6)                                      # other settings: another run folder
    assert more.trained and more.dir.path != first.dir.path
    assert len(list(tmp_path.iterdir())) == 2


def test_run_or_load_resumes_an_interrupted_run(tmp_path):
    straight = _book_run(tmp_path / "a", 4)
    seed_everything(0)
    model = vanilla.Model(vanilla.Config.tiny())
    data = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    config = TrainConfig(steps=4, batch_size=8, sample_every=0, checkpoint_every=2, log_every=1, progress=False)
    out = tmp_path / "b" / f"toy-{book.run_key(model, config)}"
    train(model, data, replace(config, steps=2, out=str(out)))        # a run stopped at step 2
    resumed = _book_run(tmp_path / "b", 4)
    assert resumed.trained and resumed.dir.path == out
    assert [r["step"] for r in resumed.history] == [1, 2, 3, 4]
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key


def test_fast_and_full_runs_are_kept_apart(monkeypatch, tmp_path):
    monkeypatch.setenv("GAN_LAB_BOOK_RUNS", str(tmp_path))
    monkeypatch.setenv("GAN_LAB_FAST", "1")
    assert book.runs_root() == tmp_path / "fast"
    monkeypatch.setenv("GAN_LAB_FAST", "0")
    assert book.runs_root() == tmp_path / "full"


def test_run_scores_read_back_in_step_order(tmp_path):
    run = _book_run(tmp_path, 2)
    run.dir.save_scores([{"metric": "fd-classifier", "value": v, "protocol": {"step": s, "n_fake": 4}}
                         for s, v in ((2, 5.0), (1, 7.0))])
    assert run.scores("fd-classifier") == ([1, 2], [7.0, 5.0])
    assert json.loads(run.dir.metrics_path.read_text())


def _history(path, steps, header="step,loss_d,loss_g"):
    lines = [header] + [f"{s},0.5,0.25" for s in steps]
    path.write_text("\n".join(lines) + "\n")
    return HistoryWriter(path)


def test_history_resume_drops_a_torn_row_and_later_rows(tmp_path):
    path = tmp_path / "history.csv"
    writer = _history(path, range(1, 13))
    path.write_text(path.read_text() + "13,0.")                    # a write cut short
    notes = writer.resume_at(10)
    assert any("torn last row" in n for n in notes) and any("dropped 2 rows after step 10" in n for n in notes)
    assert [r["step"] for r in read_history(path)] == list(range(1, 11))
    writer.write([{"step": 11, "loss_d": 1.0, "loss_g": 2.0}])
    assert read_history(path)[-1] == {"step": 11, "loss_d": 1.0, "loss_g": 2.0}


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.unlink(), "is missing"),
    (lambda p: p.write_text(""), "is empty"),
    (lambda p: p.write_text("step,loss_d,loss_g\n"), "has no rows up to step 10"),
    (lambda p: p.write_bytes(b"\x00\xff garbage \x89PNG\n\x01\x02"), "is not readable as a history"),
    (lambda p: p.write_text(p.read_text().replace("step,loss_d,loss_g", "stp;;loss")), "no valid header"),
    (lambda p: p.write_text(p.read_text().replace("\n5,", "\nfive,")), "unreadable rows (row 6"),
    (lambda p: p.write_text(p.read_text().replace("5,0.5,0.25\n", "")), "lacks steps 5"),
])
def test_history_resume_refuses_lost_steps(tmp_path, damage, message):
    path = tmp_path / "history.csv"
    before = _history(path, range(1, 11))
    damage(path)
    kept = path.read_bytes() if path.exists() else None
    with pytest.raises(GanLabError, match="--allow-history-gap") as info:
        before.resume_at(10)
    assert message in str(info.value) and "10 steps" in str(info.value)
    assert (path.read_bytes() if path.exists() else None) == kept          # nothing was touched


def test_history_resume_allows_a_gap_when_asked(tmp_path):
    path = tmp_path / "history.csv"
    writer = _history(path, range(1, 11), header="stp;;loss")
    notes = writer.resume_at(10, allow_gap=True)
    assert "history.csv.damaged" in notes[0] and (tmp_path / "history.csv.damaged").exists()
    writer.write([{"step": 11, "loss_d": 1.0, "loss_g": 2.0}])
    assert HistoryWriter(path).resume_at(11) == [f"{path} starts at step 11; steps 1-10 are not in it"]


def test_resume_with_a_deleted_history_is_refused_by_the_cli(tmp_path, capsys):
    from gan_lab.cli import main

    out = tmp_path / "run"
    assert main(["train", "--model", "vanilla", "--fast", "--steps", "2", "--out", str(out), "--no-progress"]) == 0
    (out / "history.csv").unlink()
    capsys.readouterr()
    assert main(["train", "--resume", "--steps", "3", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "history.csv is missing; the checkpoint has trained 2 steps" in err and "Traceback" not in err
    assert main(["train", "--resume", "--steps", "3", "--out", str(out), "--no-progress", "--allow-history-gap"]) == 0
    assert [r["step"] for r in read_history(out)] == [3]


def test_run_evaluate_measures_once_then_reads_metrics_json(tmp_path, monkeypatch):
    """Run.evaluate: the first call runs the feature network, a rebuild's call reads metrics.json."""
    from PIL import Image

    from tests.test_metrics import MeanPool

    monkeypatch.setenv("GAN_LAB_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    folder = tmp_path / "real"
    folder.mkdir()
    for i in range(30):
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(folder / f"{i}.png")
    features = MeanPool()
    features.id = "inception-pool3"       # stands in for the pool3 network, whose FIDs Run.evaluate reads back
    monkeypatch.setattr(book, "inception_features", lambda device: features)
    run = _book_run(tmp_path / "runs", 2)
    first = run.evaluate(str(folder), ["fid"], n=20)
    calls = features.calls
    assert calls > 0 and set(first) == {"fid"} and first["fid"] > 0
    again = _book_run(tmp_path / "runs", 2)                            # a rebuild: loaded, not trained
    assert again.evaluate(str(folder), ["fid"], n=20) == first and features.calls == calls
    other = again.evaluate(str(folder), ["fid"], n=24)                  # another N: measured, both kept
    assert features.calls > calls and other["fid"] != first["fid"]
    assert sorted(e["protocol"]["n_fake"] for e in again.dir.read_metrics().values()) == [20, 24]
    # a saved FID of another feature network (say 192-d features) is not taken for this one
    entries = again.dir.read_metrics()
    for entry in entries.values():
        entry["protocol"]["feature_network_id"] = "inception-192d"
    again.dir.metrics_path.write_text(json.dumps(entries))
    calls = features.calls
    assert again.evaluate(str(folder), ["fid"], n=20) == first and features.calls > calls


def test_study_run_shares_one_run_per_family_seed_and_overrides(monkeypatch, tmp_path):
    """Chapters that ask for the same study run get the same trained networks; other overrides or
    seeds are other runs; a misspelt field is refused before anything trains."""
    loads = []

    def fake_load(spec, split="train", **kwargs):
        loads.append((spec, split))
        return torch.randint(0, 256, (128, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))

    monkeypatch.setattr(book, "load_data", fake_load)
    monkeypatch.setenv("GAN_LAB_BOOK_RUNS", str(tmp_path))
    monkeypatch.setenv("GAN_LAB_FAST", "1")
    first = book.study_run("vanilla", 0)
    assert first.trained and loads == [("fashion-mnist", "train")]
    assert first.dir.path.parent == tmp_path / "fast" and first.dir.path.name.startswith("study-vanilla-seed0-")
    assert len(first.history) == book.STUDY_STEPS_FAST                     # every step's losses
    kept = sorted(p.name for p in (first.dir.path / "checkpoints").glob("step_*.pt"))
    assert kept == [f"step_{s:06d}.pt" for s in range(book.STUDY_KEEP_EVERY_FAST, book.STUDY_STEPS_FAST + 1,
                                                      book.STUDY_KEEP_EVERY_FAST)]
    again = book.study_run("vanilla", 0)
    assert not again.trained and again.dir.path == first.dir.path and len(loads) == 1
    other = book.study_run("vanilla", 1, d_dropout=0.5)
    assert other.trained and other.dir.path.name.startswith("study-vanilla-d_dropout=0.5-seed1-")
    assert other.model.config.d_dropout == 0.5 and other.model.config == vanilla.Config.tiny(d_dropout=0.5)
    with pytest.raises(GanLabError, match="no config field dropout"):
        book.study_run("vanilla", 0, dropout=0.5)
    assert len(loads) == 2
