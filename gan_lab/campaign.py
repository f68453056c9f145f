"""A campaign: every family of a comparison trained into one folder, evaluated, and summed up in one table.

The DNFM thesis compares DNFM-GAN with ImprovedDCGAN, VAE-GAN and WGAN-GP on CelebA at 128 px
(its Tables 4.8 and 4.9: FID and Inception Score per model). :func:`run_campaign` trains such a
comparison from a small JSON *plan* (families, image sizes, seeds, steps, data, batch size, FID
sample count) and writes::

    OUT/
      plan.json                     the plan the folder was started with
      campaign.json                 per run: status, error of the last attempt, seconds
      dcgan-64px-seed0/ ...         one run directory per (family, size, seed) (gan_lab.run.RunDir)
      summary.csv, summary.md       one row per run: scores, volatility, errors

It is idempotent and resumable: a run whose ``checkpoints/last.pt`` holds the planned steps is
skipped, a run with an earlier checkpoint resumes from it (the loop's resume is exact), and a run
that raises is recorded with its error while the others go on. Scores are kept in each run's
``metrics.json`` with their protocol and read back when the protocol matches, so a second call
trains and measures nothing. Under ``torchrun`` every process runs the same plan: the runs train
data-parallel (:func:`gan_lab.train.train`), rank 0 evaluates and writes the summary.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist

from gan_lab.book import inception_features
from gan_lab.data import default_shape, downloads_allowed, load_data, registry
from gan_lab.data.celeba import find_celeba
from gan_lab.metrics.evaluate import evaluate_cached
from gan_lab.metrics.evaluate import feature_label as metric_label
from gan_lab.metrics.stability import stability_summary
from gan_lab.models import FAMILIES, get_family, make_config
from gan_lab.nn import SUPPORTED_SIZES
from gan_lab.run import RunDir
from gan_lab.train import TrainConfig, TrainingInterrupted, init_distributed, train
from gan_lab.utils import GanLabError, atomic_write_text, read_json_dict, seed_everything, stable_hash

#: The families of the DNFM thesis's comparison, in the order of its tables (plus the two baselines).
THESIS_FAMILIES = ("vanilla", "dcgan", "wgan-gp", "vaegan", "improved-dcgan", "dnfm")

#: How the summary names each family (the thesis's spelling where it has one).
DISPLAY_NAMES = {"vanilla": "Vanilla GAN", "dcgan": "DCGAN", "wgan-gp": "WGAN-GP", "wgan-clip": "WGAN (clipping)",
                 "vaegan": "VAE-GAN", "improved-dcgan": "ImprovedDCGAN", "dnfm": "DNFM-GAN"}

PLAN_FILE, STATE_FILE, SUMMARY_CSV, SUMMARY_MD = "plan.json", "campaign.json", "summary.csv", "summary.md"

#: The columns of summary.csv, in order.
SUMMARY_COLUMNS = ("run", "family", "model", "image_size", "seed", "steps_done", "steps_planned", "status",
                   "train_seconds", "fid", "fid_n", "fid_features", "fd_classifier", "g_volatility", "d_volatility",
                   "d_near_zero_share", "g_spikes", "error")


@dataclass(frozen=True)
class Plan:
    """What a campaign trains: every family at every size for every seed, with one set of settings.

    ``steps`` is one number for all families, or a dict ``{family: steps}`` (families not named
    take ``steps["default"]``). ``channels`` None takes the data set's own (3 for CelebA and image
    folders, 1 for the MNIST sets). ``fid_n`` generated and real images per FID (0: no FID);
    ``preset`` a Config preset every family has (``"tiny"``) or None for the families' defaults;
    ``width`` the base number of channels of every convolutional net (``ngf``, ``ndf``, and ``nef`` where
    a family has an encoder) over the preset, or None for the families' own (the MLP GAN has none).
    """

    data: str = "celeba"
    data_root: str | None = None
    families: tuple[str, ...] = THESIS_FAMILIES
    sizes: tuple[int, ...] = (64, 128)
    seeds: tuple[int, ...] = (0,)
    steps: int | dict = 20000
    batch_size: int = 64
    channels: int | None = None
    preset: str | None = None
    width: int | None = None
    limit: int | None = None
    precision: str = "auto"
    channels_last: bool = False
    fid_n: int = 10000
    fid_split: str = "test"
    fid_dims: int = 2048                # 2048: the FID; 64, 192, 768: an earlier Inception block (cheap, not FID)
    sample_every: int = 1000
    checkpoint_every: int = 1000
    stability_window: int = 50

    def __post_init__(self):
        for name in ("families", "sizes", "seeds"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        if isinstance(self.steps, dict):
            object.__setattr__(self, "steps", dict(self.steps))

    # -- files -----------------------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "Plan":
        """Read and check a plan file (JSON); any bad value is one GanLabError naming the file and key."""
        path = Path(path)
        try:
            values = json.loads(path.read_text())
        except FileNotFoundError:
            raise GanLabError(f"no plan file at {path}; write the default one with "
                              f"`gan-lab campaign --write-plan {path}` and edit it") from None
        except (OSError, ValueError) as exc:
            raise GanLabError(f"plan {path} is not readable JSON ({exc}); fix it or write a fresh one with "
                              f"--write-plan") from None
        return cls.from_dict(values, where=f"plan {path}")

    @classmethod
    def from_dict(cls, values, where: str = "plan") -> "Plan":
        if not isinstance(values, dict):
            raise GanLabError(f"{where}: expected a JSON object with keys like \"families\", \"sizes\", got "
                              f"{type(values).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise GanLabError(f"{where}: unknown key {unknown[0]!r}; the keys are {', '.join(sorted(known))}")
        plan = cls(**values)
        plan.check(where)
        return plan

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    def write(self, path: str | os.PathLike) -> Path:
        return atomic_write_text(path, self.to_json())

    # -- checks ----------------------------------------------------------------------------------
    def check(self, where: str = "plan") -> None:
        """Every field's type and range; a GanLabError that says which key and what is allowed."""
        def bad(key, value, allowed):
            raise GanLabError(f"{where}: {key} = {json.dumps(value)} is not valid; {allowed}")

        def whole(key, value, low=1):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                bad(key, value, f"give a whole number >= {low}")

        for key in ("families", "sizes", "seeds"):
            value = getattr(self, key)
            if not isinstance(value, tuple) or not value:
                bad(key, value, "give a non-empty list, e.g. [64, 128]" if key != "families" else
                    f"give a non-empty list of {', '.join(f for f in FAMILIES if f != 'singan')}")
        if not isinstance(self.data, str) or not self.data:
            bad("data", self.data, "give a data set name (celeba, fashion-mnist, mnist) or an image folder")
        if self.data_root is not None and not isinstance(self.data_root, str):
            bad("data_root", self.data_root, "give a folder path or null")
        if not all(isinstance(f, str) and f in FAMILIES and f != "singan" for f in self.families):
            bad("families", list(self.families),
                f"give a list of {', '.join(f for f in FAMILIES if f != 'singan')}")
        if len(set(self.families)) != len(self.families):
            bad("families", list(self.families), "name each family once")
        if not all(isinstance(s, int) and not isinstance(s, bool) and s in SUPPORTED_SIZES for s in self.sizes):
            bad("sizes", list(self.sizes),
                f"give a list of sizes from {', '.join(map(str, SUPPORTED_SIZES))}")
        if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in self.seeds):
            bad("seeds", list(self.seeds),
                "give a list of whole numbers >= 0")
        if isinstance(self.steps, dict):
            for key, value in self.steps.items():
                if key != "default" and key not in self.families:
                    bad("steps", self.steps, f"its keys are families of the plan or \"default\", not {key!r}")
                whole(f"steps[{key!r}]", value)
            missing = [f for f in self.families if f not in self.steps]
            if missing and "default" not in self.steps:
                bad("steps", self.steps, f"say how many steps {missing[0]} trains, or give a \"default\"")
        else:
            whole("steps", self.steps)
        whole("batch_size", self.batch_size)
        if self.channels is not None and self.channels not in (1, 3):
            bad("channels", self.channels, "give 1, 3 or null (the data set's own)")
        if self.preset is not None and not isinstance(self.preset, str):
            bad("preset", self.preset, "give a preset name every family has (\"tiny\") or null")
        if self.preset is not None:
            for f in self.families:
                if self.preset not in get_family(f).Config.PRESETS:
                    bad("preset", self.preset, f"{f} has no such preset (it has "
                                               f"{', '.join(sorted(get_family(f).Config.PRESETS))})")
        if self.width is not None:
            whole("width", self.width)
        if self.limit is not None:
            whole("limit", self.limit)
        if self.precision not in ("auto", "fp32", "bf16"):
            bad("precision", self.precision, "give auto, fp32 or bf16")
        if not isinstance(self.channels_last, bool):
            bad("channels_last", self.channels_last, "give true or false")
        whole("fid_n", self.fid_n, low=0)
        if self.fid_n == 1:
            bad("fid_n", self.fid_n, "give 0 (no FID) or at least 2 (thousands for a meaningful FID)")
        if self.fid_dims not in (64, 192, 768, 2048):
            bad("fid_dims", self.fid_dims, "give 2048 (the FID) or 64, 192, 768 (earlier Inception features, not FID)")
        if not isinstance(self.fid_split, str):
            bad("fid_split", self.fid_split, "give a split name such as test")
        whole("sample_every", self.sample_every, low=0)
        whole("checkpoint_every", self.checkpoint_every, low=0)
        whole("stability_window", self.stability_window, low=2)

    # -- what it trains --------------------------------------------------------------------------
    def steps_of(self, family: str) -> int:
        return self.steps.get(family, self.steps.get("default")) if isinstance(self.steps, dict) else self.steps

    def image_channels(self) -> int:
        return self.channels if self.channels is not None else default_shape(self.data)[1]

    def runs(self) -> list["RunSpec"]:
        """Every (family, size, seed) of the plan, sizes outermost (the small runs finish first)."""
        return [RunSpec(f, s, seed, self.steps_of(f)) for s in self.sizes for seed in self.seeds for f in self.families]

    def model_config(self, spec: "RunSpec"):
        try:
            return make_config(spec.family, self.preset, width=self.width, image_size=spec.image_size,
                               channels=self.image_channels())
        except (ValueError, TypeError) as exc:
            raise GanLabError(f"{spec.name}: {exc}") from None

    def train_config(self, spec: "RunSpec", out: Path, device: str, progress: bool) -> TrainConfig:
        info = registry.resolve(self.data)
        return TrainConfig(steps=spec.steps, batch_size=self.batch_size, seed=spec.seed, out=str(out),
                           data=info.name if info else str(self.data), data_root=self.data_root, limit=self.limit,
                           preset=self.preset, device=device, precision=self.precision,
                           channels_last=self.channels_last,
                           sample_every=min(self.sample_every, spec.steps) if self.sample_every else 0,
                           checkpoint_every=self.checkpoint_every, log_every=min(25, spec.steps),
                           progress=progress)


@dataclass(frozen=True)
class RunSpec:
    family: str
    image_size: int
    seed: int
    steps: int

    @property
    def name(self) -> str:
        return f"{self.family}-{self.image_size}px-seed{self.seed}"


def default_plan() -> Plan:
    """The thesis's comparison on CelebA: six families at 64 and 128 px, 20,000 steps of batch 64, FID on 10,000."""
    return Plan()


def fast_plan(root: str | os.PathLike) -> Plan:
    """The default plan shrunk for a smoke run on the CelebA-format fixture in ``root``: every family's
    ``tiny`` preset, 4 steps of batch 8, the Fréchet distance of 10 samples on 64-d Inception features (a number
    that only shows the code path works; the network's first block is the cheapest Inception pass)."""
    return replace(default_plan(), data_root=str(root), preset="tiny", steps=4, batch_size=8, fid_n=10, fid_dims=64,
                   sample_every=2, checkpoint_every=2, stability_window=2)


def standin_plan() -> Plan:
    """The default plan on a stand-in a 2-core CPU trains and scores in about 12 minutes:
    Fashion-MNIST at its native 28 px (one channel), nets of width 32 and batch 64 (as in the book's part
    II b studies) for 500 steps per family, the FID and the classifier distance of 200 samples."""
    return replace(default_plan(), data="fashion-mnist", sizes=(28,), steps=500, batch_size=64, width=32,
                   fid_n=200, fid_dims=2048, sample_every=100, checkpoint_every=100)


def plan_key(plan: Plan) -> str:
    """A short hash of everything in ``plan``: the book keeps one campaign folder per plan."""
    return stable_hash(asdict(plan))[:12]


def make_fixture(root: str | os.PathLike, n: int = 40) -> Path:
    """The CelebA-format fixture of ``data/make_celeba_fixture.py`` under ``root`` (drawn shapes, not faces)."""
    import importlib.util

    script = registry.REPO_DATA_DIR / "make_celeba_fixture.py"
    if not script.is_file():
        raise GanLabError(f"--fast needs the CelebA-format fixture script {script}, which only a source checkout "
                          f"of gan-lab has; run from a clone of the repository")
    root = Path(root)
    if not (root / "celeba" / "list_eval_partition.txt").is_file():
        spec = importlib.util.spec_from_file_location("make_celeba_fixture", script)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.make_celeba_fixture(root, n=n, seed=0)
    return root


CELEBA_HELP = ("CelebA is looked up in --data-root (the plan's data_root), then $GAN_LAB_DATA, then the cache "
               "{cache}/datasets, each as DIR/celeba/img_align_celeba/ with DIR/celeba/list_eval_partition.txt. "
               "Get it: download img_align_celeba.zip (1.4 GB, 202,599 aligned faces) and list_eval_partition.txt "
               "from the CelebA site (mmlab.ie.cuhk.edu.hk/projects/CelebA.html, or its Kaggle mirror), unzip into "
               "DIR/celeba/ and pass --data-root DIR; or run the same plan on a stand-in: --data fashion-mnist")


def check_data(plan: Plan) -> None:
    """Fail before any training when the plan's data is missing (CelebA: where it was looked for, how to get it)."""
    info = registry.resolve(plan.data)
    if info is not None and info.name == "celeba":
        try:
            find_celeba(info, plan.data_root, downloads_allowed())
        except GanLabError as exc:
            raise GanLabError(f"{exc}. {CELEBA_HELP.format(cache=registry.cache_dir())}") from None


# -- the state file ------------------------------------------------------------------------------
def read_state(out: Path) -> dict:
    """The campaign's record of its runs (``campaign.json``; empty before the first run)."""
    return read_json_dict(Path(out) / STATE_FILE, "delete it (the runs themselves are kept) and run the campaign again")


def _write_state(out: Path, state: dict) -> None:
    atomic_write_text(Path(out) / STATE_FILE, json.dumps(state, indent=2, sort_keys=True) + "\n")


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, GanLabError) else f"{type(exc).__name__}: {text}"


# -- running ---------------------------------------------------------------------------------------
@dataclass
class Report:
    """What :func:`run_campaign` did: per run its status (``skipped``, ``trained``, ``resumed``, ``failed``)."""

    out: Path
    status: dict = field(default_factory=dict)
    rows: list = field(default_factory=list)

    @property
    def trained(self) -> list[str]:
        return [n for n, s in self.status.items() if s in ("trained", "resumed")]

    @property
    def failed(self) -> list[str]:
        return [n for n, s in self.status.items() if s == "failed"]


def _barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def rank_timeout() -> float:
    """Seconds a rank waits for the others after a run (``$GAN_LAB_RANK_TIMEOUT``, default 600).

    Healthy ranks are at most one training step and rank 0's checkpoint write apart, since every
    step synchronises the gradients; a rank still missing after this long is stuck in a
    collective that a failed rank left."""
    value = os.environ.get("GAN_LAB_RANK_TIMEOUT", "600")
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise GanLabError(f"GAN_LAB_RANK_TIMEOUT={value!r} is not valid; give a number of seconds > 0")
    return seconds


class RankOutcomes:
    """After every run, the ranks of a torchrun campaign agree on whether it failed anywhere.

    A run that fails on every rank (a bad setting, missing data) is reported and the campaign goes
    on, as on one process. A run that fails on some ranks only cannot go on: the others are waiting
    inside DistributedDataParallel's gradient exchange for a rank that left it. The agreement runs
    on its own gloo group with a timeout (:func:`rank_timeout`), so the failed rank finds this out,
    raises a :class:`GanLabError` that names the run and the cause, and exits; torchrun then stops
    the other ranks (rank 0 saves its step on the way out), and running the same command again
    resumes. Without torchrun it only counts this process's failure.
    """

    def __init__(self, world_size: int):
        self.group = dist.new_group(backend="gloo", timeout=timedelta(seconds=rank_timeout())) if world_size > 1 else None

    def failures(self, name: str, rank: int, error: BaseException | None) -> int:
        """How many ranks' run ``name`` failed (``error`` is this rank's); raises when some rank never arrives."""
        if self.group is None:
            return int(error is not None)
        flag = torch.tensor([int(error is not None)], dtype=torch.int64)
        try:
            dist.all_reduce(flag, group=self.group)
        except RuntimeError as exc:
            cause = f"it failed here: {_one_line(error)}" if error is not None else f"{_one_line(exc)}"
            raise GanLabError(
                f"run {name} stopped on rank {rank} while other ranks did not reach the end of the run ({cause}). "
                f"Distributed training cannot go on with a rank missing, so the campaign stops here; the "
                f"finished runs and the last checkpoints are kept: fix the cause and run the same command "
                f"again to resume") from exc
        return int(flag.item())


def run_campaign(plan: Plan, out: str | os.PathLike, *, device: str = "auto", progress: bool = False,
                 evaluate_runs: bool = True, log=print) -> Report:
    """Train every run of ``plan`` into ``out`` (skipping finished ones, resuming interrupted ones),
    evaluate the finished ones and write ``summary.csv`` / ``summary.md``. ``log`` gets one line per
    run and an overall one. Ctrl-C stops the campaign after saving the run in progress."""
    out = Path(out)
    plan.check()
    rank, world_size, dev = init_distributed(device)
    main = rank == 0
    check_data(plan)
    RunDir(out).ensure_writable()
    saved = out / PLAN_FILE
    if main:
        if saved.is_file():
            before = Plan.from_file(saved)
            if before != plan:
                log(f"note: {out} was started with another plan ({saved}); runs whose settings changed are "
                    f"trained again under their names only if their checkpoints still match")
        plan.write(saved)
    state = read_state(out)
    report = Report(out)
    outcomes = RankOutcomes(world_size)
    specs = plan.runs()
    started = time.perf_counter()
    data_cache: dict = {}
    for i, spec in enumerate(specs, 1):
        run = RunDir(out / spec.name)
        done = run.finished_steps() if run.has_checkpoint() else 0
        prefix = f"[{i}/{len(specs)}] {spec.name}"
        if done >= spec.steps:
            report.status[spec.name] = "skipped"
            if main:
                log(f"{prefix}: finished ({done} steps), skipped")
            continue
        what = "resumed" if done else "trained"
        if main:
            log(f"{prefix}: {'resuming at step ' + str(done) if done else 'training'} to {spec.steps} steps ...")
        t0 = time.perf_counter()
        error = None
        try:
            seed_everything(spec.seed)          # before the nets are built: their initial weights come from the seed
            model = get_family(spec.family).Model(plan.model_config(spec))
            data = _data(plan, spec.image_size, data_cache, world_size, rank)
            train(model, data, plan.train_config(spec, run.path, device, progress), resume=bool(done))
        except TrainingInterrupted:
            if main:
                state[spec.name] = {"status": "interrupted", "error": None}
                _write_state(out, state)
            raise
        except Exception as exc:          # one failed run is reported; the others go on
            error = exc
        try:
            failed_ranks = outcomes.failures(spec.name, rank, error)
        except GanLabError:
            if main:
                seen = f" (rank 0 saw: {_one_line(error)})" if error is not None else ""
                state[spec.name] = {"status": "failed", "error": "a rank failed or did not reach the end of the run; "
                                                                 f"the campaign stopped{seen}"}
                _write_state(out, state)
            raise
        if failed_ranks:
            report.status[spec.name] = "failed"
            message = _one_line(error) if error is not None else f"failed on {failed_ranks} other rank(s)"
            state[spec.name] = {"status": "failed", "error": message}
            if main:
                log(f"{prefix}: FAILED: {message}")
        else:
            report.status[spec.name] = what
            state[spec.name] = {"status": "finished", "error": None, "seconds": round(time.perf_counter() - t0, 1)}
            if main:
                log(f"{prefix}: {what} in {time.perf_counter() - t0:.1f} s")
        if main:
            _write_state(out, state)
    if main:
        report.rows = summarize(plan, out, device=dev, evaluate_runs=evaluate_runs, log=log)
        n = len(specs)
        counts = {k: sum(1 for s in report.status.values() if s == k) for k in ("trained", "resumed", "skipped", "failed")}
        log(f"campaign: {n} runs in {time.perf_counter() - started:.1f} s: {counts['trained']} trained, "
            f"{counts['resumed']} resumed, {counts['skipped']} skipped, {counts['failed']} failed; "
            f"summary: {out / SUMMARY_CSV}, {out / SUMMARY_MD}")
    # the other ranks do not wait for the scoring: a barrier would time out while rank 0 computes FIDs
    return report


def _data(plan: Plan, image_size: int, cache: dict, world_size: int, rank: int):
    """The plan's data at ``image_size``, loaded once per size (rank 0 first: it builds the folder cache)."""
    if image_size not in cache:
        def load():
            return load_data(plan.data, image_size=image_size, channels=plan.image_channels(), root=plan.data_root,
                             limit=plan.limit)
        if world_size > 1 and rank != 0:
            _barrier()
            cache[image_size] = load()
        else:
            cache[image_size] = load()
            if world_size > 1:
                _barrier()
    return cache[image_size]


# -- evaluation and the summary ----------------------------------------------------------------------
def feature_label(plan: Plan) -> str:
    """What the summary's ``fid`` column holds under ``plan``."""
    return metric_label(plan.fid_dims)


def run_scores(plan: Plan, run: RunDir, model, step: int, device) -> dict:
    """``{"fid": ..., "fd-classifier": ...}`` of a finished run, read from its metrics.json when a score
    with this protocol (plan's data and split, ``fid_n``, seed 0, this step) is there, measured otherwise."""
    if plan.fid_n == 0:
        return {}
    info = registry.resolve(plan.data)
    wanted = ["fid"] + (["fd-classifier"] if info is not None and info.has_classifier else [])
    return evaluate_cached(model, run, wanted, n=plan.fid_n, data=info.name if info else str(plan.data), step=step,
                           n_real=plan.fid_n, split=plan.fid_split, seed=0, dims=plan.fid_dims, root=plan.data_root,
                           checkpoint=str(run.last_checkpoint.resolve()), stamp={"campaign_split": plan.fid_split},
                           extractor=lambda: inception_features(device, plan.fid_dims))


def summarize(plan: Plan, out: str | os.PathLike, *, device="cpu", evaluate_runs: bool = True, log=print) -> list[dict]:
    """One row per run of ``plan`` in ``out`` (scores of the finished ones), written to summary.csv and .md."""
    out = Path(out)
    state = read_state(out)
    rows = []
    device = torch.device(device) if not isinstance(device, torch.device) else device
    for spec in plan.runs():
        run = RunDir(out / spec.name)
        entry = state.get(spec.name, {})
        row = {k: "" for k in SUMMARY_COLUMNS}
        row.update(run=spec.name, family=spec.family, model=DISPLAY_NAMES.get(spec.family, spec.family),
                   image_size=spec.image_size, seed=spec.seed, steps_planned=spec.steps)
        done = run.finished_steps() if run.has_checkpoint() else 0
        row["steps_done"] = done
        history = run.history()
        if history:
            row["train_seconds"] = round(sum(r.get("seconds", 0.0) for r in history
                                             if math.isfinite(r.get("seconds", math.nan))), 1)
        if entry.get("status") == "failed":
            row["status"], row["error"] = "failed", entry.get("error") or ""
        elif done >= spec.steps:
            row["status"] = "finished"
        else:
            row["status"] = "incomplete" if done else "not started"
        if history and len(history) >= 3:
            window = max(2, min(plan.stability_window, len(history) // 2))
            s = stability_summary(history, window=window)
            row.update(g_volatility=s["g_volatility"], d_volatility=s["d_volatility"],
                       d_near_zero_share=s["d_near_zero_share"], g_spikes=len(s["g_spike_steps"]))
        if row["status"] == "finished" and evaluate_runs and plan.fid_n:
            try:
                model, _ = run.load(map_location=device)
                scores = run_scores(plan, run, model.eval(), done, device)
                row["fid"] = scores.get("fid", "")
                row["fd_classifier"] = scores.get("fd-classifier", "")
                row["fid_n"] = plan.fid_n
                row["fid_features"] = "inception-pool3 (FID)" if plan.fid_dims == 2048 else f"inception-{plan.fid_dims}d"
            except Exception as exc:   # a run that trained but cannot be scored is reported, not fatal
                row["status"], row["error"] = "evaluation failed", _one_line(exc)
                log(f"{spec.name}: evaluation FAILED: {_one_line(exc)}")
        rows.append(row)
    write_summary(out, rows)
    return rows


def _cell(value) -> str:
    if isinstance(value, float):
        return "" if not math.isfinite(value) else f"{value:.4g}" if abs(value) < 1000 else f"{value:.1f}"
    return str(value)


def write_summary(out: Path, rows: list[dict]) -> tuple[Path, Path]:
    """``summary.csv`` (full precision) and ``summary.md`` (a Markdown table, 4 significant digits)."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=SUMMARY_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    path_csv = atomic_write_text(out / SUMMARY_CSV, text.getvalue())
    lines = ["| " + " | ".join(SUMMARY_COLUMNS) + " |", "|" + "---|" * len(SUMMARY_COLUMNS)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row[c]).replace("|", "/") for c in SUMMARY_COLUMNS) + " |")
    path_md = atomic_write_text(out / SUMMARY_MD, "\n".join(lines) + "\n")
    return path_csv, path_md


def read_summary(out: str | os.PathLike) -> list[dict]:
    """The rows of ``OUT/summary.csv`` (numbers as floats, empty cells as None)."""
    path = Path(out) / SUMMARY_CSV
    if not path.is_file():
        raise GanLabError(f"no {SUMMARY_CSV} in {out}; run `gan-lab campaign --out {out}` first")
    rows = []
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            parsed = {}
            for k, v in row.items():
                if v == "":
                    parsed[k] = None
                    continue
                try:
                    parsed[k] = float(v) if k not in ("run", "family", "model", "status", "error") else v
                except ValueError:
                    parsed[k] = v
            rows.append(parsed)
    return rows


__all__ = ["Plan", "RunSpec", "Report", "THESIS_FAMILIES", "DISPLAY_NAMES", "default_plan", "fast_plan", "standin_plan", "plan_key",
           "make_fixture", "check_data", "feature_label", "run_campaign", "summarize", "read_summary", "run_scores", "CELEBA_HELP"]
