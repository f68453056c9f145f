"""The one training loop every family runs on.

One *training step* is ``config.n_critic`` discriminator updates, each on a fresh real batch,
followed by one generator update (and an EMA update of G when the family keeps one)::

    for step in range(start, steps):
        for _ in range(n_critic):
            logs_d = model.d_step(next real batch)
        logs_g = model.g_step(next real batch)
        model.update_ema()

Everything the loop writes goes into the run directory (``TrainConfig.out``, a
:class:`gan_lab.run.RunDir`: config.json, history.csv, samples/, checkpoints/).

Resuming is exact: data batches are a function of (seed, batch index), the RNG states are in
the checkpoint, so a run stopped at step k and resumed to n ends with the same parameters as a
run straight to n (on the CPU; cuDNN's autotuned kernels are not bitwise deterministic).
"""
from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from torch.nn.parallel import DistributedDataParallel as DDP

from gan_lab.callbacks import SampleGrid
from gan_lab.data import Augment, BatchStream
from gan_lab.run import RunDir
from gan_lab.utils import PRECISIONS, GanLabError, pick_device, resolve_precision, seed_everything


class NonFiniteLossError(GanLabError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 1000
    batch_size: int = 64
    seed: int = 0
    out: str = "runs/default"
    data: str = "fashion-mnist"     # what the run trained on (recorded; the loop is given the data)
    data_root: str | None = None    # where that dataset was found (None: looked up)
    limit: int | None = None        # only the first N training images (2048 with gan-lab train --fast)
    preset: str | None = None       # the family Config preset the model was built from ("tiny" with --fast)
    augment: bool = False           # rotation/shift/flip of real images (dcgan-thesis-mnist-afhq §4)
    device: str = "auto"
    precision: str = "auto"         # "fp32", "bf16" (autocast) or "auto"; the loop records the one it used
    amp: bool = False               # the old switch for bf16 autocast: amp=True means precision "bf16"
    channels_last: bool = False     # NHWC memory format for convolutional nets (CUDA or CPU)
    sample_every: int = 500
    checkpoint_every: int = 1000
    keep_every: int = 0             # also keep checkpoints/step_XXXXXX.pt every N steps (0: only last.pt)
    log_every: int = 25             # rows are checked for NaN and written in groups of this size
    n_samples: int = 64
    progress: bool = True

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise GanLabError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.amp:
            if self.precision == "fp32":
                raise GanLabError("amp=True (bf16 autocast) contradicts precision 'fp32'; give one of them")
            object.__setattr__(self, "precision", "bf16")
        for name in ("steps", "batch_size", "log_every", "n_samples"):
            if getattr(self, name) < 1:
                raise GanLabError(f"{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("sample_every", "checkpoint_every", "keep_every"):
            if getattr(self, name) < 0:
                raise GanLabError(f"{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")

    @classmethod
    def fast(cls, **overrides) -> "TrainConfig":
        """A few steps with small batches: for smoke tests and notebooks in fast mode."""
        values = dict(steps=20, batch_size=16, sample_every=10, checkpoint_every=10, log_every=5,
                      n_samples=16, progress=False)
        values.update(overrides)
        return cls(**values)


@dataclass
class TrainState:
    """What callbacks may read about the run in progress."""

    run: RunDir
    device: torch.device
    total_steps: int
    step: int = 0
    batches_seen: int = 0
    rank: int = 0
    world_size: int = 1
    history: list = field(default_factory=list)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def run_dir(self) -> Path:
        return self.run.path


def memory_needed(model_class, model_config, batch_size: int) -> tuple[int, int]:
    """``(parameters, bytes)``: a lower bound on the memory that training ``model_class(model_config)`` needs.

    The model is built on the ``meta`` device, which records shapes without allocating, to count
    its parameters. Each trainable parameter holds a weight, a gradient and Adam's two moments
    (4 tensors of its size); a frozen one (an EMA copy of G) only its weight. On top come four
    image batches (real, fake, the gradient flowing into the fake one, D's input copy):
    ``4 * B * C * H * W`` numbers. Feature maps inside the nets come on top of that, so the true
    need is larger; a run this bound does not fit certainly does not fit.
    """
    with torch.device("meta"):
        model = model_class(model_config)
    parameters = trainable = 0
    size = 4
    for p in model.parameters():
        parameters += p.numel()
        trainable += p.numel() if p.requires_grad else 0
        size = p.element_size()
    c = model_config
    batches = 4 * batch_size * c.channels * c.image_size ** 2
    return parameters, size * (parameters + 3 * trainable + batches)


def memory_available(device: torch.device) -> int | None:
    """Free bytes on ``device`` (CUDA: free GPU memory; CPU: MemAvailable), None where unknown."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    if device.type != "cpu":
        return None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(model_class, model_config, batch_size: int, device: torch.device) -> None:
    """Refuse, before anything is allocated, a run whose :func:`memory_needed` exceeds what ``device`` has."""
    parameters, needed = memory_needed(model_class, model_config, batch_size)
    available = memory_available(device)
    if available is not None and needed > available:
        raise GanLabError(
            f"this run needs at least {needed / 2**30:.1f} GiB ({parameters:,} parameters with their gradients and "
            f"Adam states, and the image batches) but {device.type} has {available / 2**30:.1f} GiB free; "
            f"lower --image-size or --batch-size, choose smaller nets with --set, or use a larger device")


def init_distributed(device_name: str = "auto") -> tuple[int, int, torch.device]:
    """Join the process group that ``torchrun`` describes in the environment, if any.

    Returns ``(rank, world_size, device)``. Without torchrun: ``(0, 1, pick_device(...))``.
    One process per GPU (NCCL), or several CPU processes (gloo) for testing.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return 0, 1, pick_device(device_name)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_name)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return rank, world_size, device


def _wrap_ddp(model, device) -> None:
    """Wrap the trained nets (not G_ema) in DistributedDataParallel, in place.

    Checkpoints strip the wrappers (see gan_lab.checkpoint), and weights are loaded before
    wrapping, so a run may resume on another number of processes.
    """
    ids = [device.index] if device.type == "cuda" else None
    for name, child in list(model.named_children()):
        if name == "G_ema" or not any(p.requires_grad for p in child.parameters()):
            continue
        # BatchNorm statistics stay per process; rank 0's are broadcast before each forward.
        model._bare[name] = child
        setattr(model, name, DDP(child, device_ids=ids))


def _to_floats(rows: list[dict]) -> list[dict]:
    """Turn the steps' 0-dim tensors into floats with a single device sync."""
    keys = [(i, k) for i, row in enumerate(rows) for k, v in row.items() if torch.is_tensor(v)]
    if keys:
        values = torch.stack([rows[i][k].detach().float().reshape(()) for i, k in keys]).cpu().tolist()
        for (i, k), v in zip(keys, values):
            rows[i][k] = v
    return rows


def _mean_logs(logs: list[dict]) -> dict:
    if len(logs) == 1:
        return dict(logs[0])
    return {k: sum(log[k] for log in logs) / len(logs) for k in logs[0]}


def saved_precision(train_config: dict) -> str:
    """The precision a checkpoint's run trained in (runs from before the choice existed: from ``amp``)."""
    precision = train_config.get("precision")
    if precision in ("fp32", "bf16"):
        return precision
    return "bf16" if train_config.get("amp") else "fp32"


def model_precision(model, precision: str, device: torch.device) -> tuple[str, str | None]:
    """``(precision, note)``: what ``model`` trains in on ``device`` when ``precision`` is asked for.

    :func:`gan_lab.utils.resolve_precision` with the family's measurements (``auto`` is bf16 only
    with ``bf16_parity`` and ``bf16_faster``); a family without a bf16 path stays fp32 under ``auto``
    and refuses an explicit bf16.
    """
    resolved, note = resolve_precision(precision, device, parity=model.bf16_parity and model.bf16_faster)
    if resolved == "bf16" and not model.autocast_ok:
        if precision != "auto":
            raise GanLabError(f"{model.family} does not train under bf16 autocast; use --precision fp32")
        resolved = "fp32"
    return resolved, note


def _settle_precision(model, config: TrainConfig, device: torch.device, saved: dict | None = None,
                      checkpoint: Path | None = None) -> TrainConfig:
    """``config`` with its precision resolved to fp32 or bf16 for ``model`` on ``device``.

    On resume (``saved``: the checkpoint's train config) the run keeps the precision it was started
    in: ``auto`` becomes that one, and an explicit other precision is refused (bf16 and fp32 steps
    differ, so the resumed run would not be the one started).
    """
    precision = config.precision
    if saved is not None:
        before = saved_precision(saved)
        if precision == "auto":
            precision = before
        elif precision != before:
            raise GanLabError(f"{checkpoint} was trained in {before}; resuming it in {precision} would not continue "
                              f"the same run. Use --precision {before} (or leave --precision out)")
    precision, note = model_precision(model, precision, device)
    if note:
        warnings.warn(note, stacklevel=3)
    return replace(config, precision=precision, amp=precision == "bf16")


def train(model, data, config: TrainConfig, callbacks=(), resume: bool = False, allow_history_gap: bool = False):
    """Train ``model`` on ``data`` as ``config`` says.

    ``data`` is an ImageData (or an image tensor), batched here by a :class:`BatchStream`, or any
    object with ``batch(index) -> Tensor`` (a BatchStream, or a family's own stream of real batches).

    Returns the history (list of dicts, one per step of this call). Ctrl-C (or SIGTERM) finishes
    the step, saves a checkpoint and raises :class:`TrainingInterrupted`; a non-finite loss raises
    :class:`NonFiniteLossError` after keeping the last good checkpoint untouched.

    On resume, history.csv is checked against the checkpoint (see
    :meth:`gan_lab.run.HistoryWriter.resume_at`); ``allow_history_gap`` goes on when rows the
    checkpoint trained are lost, instead of refusing.
    """
    rank, world_size, device = init_distributed(config.device)
    run = RunDir(config.out)
    last = run.last_checkpoint
    if not resume and run.has_checkpoint():
        raise GanLabError(f"{run.path} already holds a run ({last}); resume it with --resume, "
                          f"or choose a new --out directory")
    if resume and not run.has_checkpoint():
        raise GanLabError(f"cannot resume: {last} does not exist; train without --resume first")
    run.ensure_writable()

    if world_size > 1 and not model.data_parallel:
        raise GanLabError(f"{model.family} trains in one process; run it without torchrun")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    state = TrainState(run=run, device=device, total_steps=config.steps, rank=rank, world_size=world_size)
    model.to(device)
    if resume:
        _, payload = run.load(model, map_location=device, restore_rng=True)
        state.step, state.batches_seen = payload["step"], payload["batches_seen"]
        if state.step >= config.steps:
            raise GanLabError(f"{last} is already at step {state.step}; ask for more --steps than that to go on")
        config = _settle_precision(model, config, device, payload.get("train_config", {}), last)
    else:
        config = _settle_precision(model, config, device)
        seed_everything(config.seed + rank)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    model.amp = config.precision == "bf16"
    if world_size > 1:
        _wrap_ddp(model, device)

    if hasattr(data, "batch"):          # a BatchStream, or any stream of real batches (SinGAN's scales)
        stream = data
    else:
        stream = BatchStream(data, config.batch_size, seed=config.seed, device=device,
                             augment=_augment(config), rank=rank, world_size=world_size,
                             memory_format=torch.channels_last if config.channels_last else torch.contiguous_format)
    history_writer = run.history_writer()
    if state.is_main:
        if resume:
            for note in history_writer.resume_at(state.step, allow_gap=allow_history_gap):
                print(f"gan-lab: note: {note}", file=sys.stderr)
        else:
            history_writer.reset()   # a fresh run in a folder without a checkpoint starts a new history
        run.write_config(model.family, model.config.to_dict(), asdict(config), model.init_kwargs())

    callbacks = [SampleGrid(config.sample_every, config.n_samples, config.seed), *callbacks]
    for cb in callbacks:
        if hasattr(cb, "on_train_start"):
            cb.on_train_start(model, state)

    def checkpoint(step: int) -> None:
        if not state.is_main:
            return
        run.save_checkpoint(model, step, asdict(config), state.batches_seen,
                            keep=bool(config.keep_every and step % config.keep_every == 0))

    pending: list[dict] = []

    def flush() -> None:
        """Check and write the buffered rows; raise before anything non-finite is saved."""
        if not pending:
            return
        rows = _to_floats(pending)
        for row in rows:
            bad = [k for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)]
            if bad:
                raise NonFiniteLossError(
                    f"{', '.join(bad)} became {row[bad[0]]} at step {row['step']}; the last good checkpoint "
                    f"({last}) is kept. Lower the learning rates or resume from it with another seed")
        if state.is_main:
            history_writer.write(rows)
        state.history.extend(rows)
        pending.clear()

    n_critic, g_steps = model.config.n_critic, model.config.g_steps
    progress = tqdm(total=config.steps, initial=state.step, disable=not (config.progress and state.is_main),
                    desc=f"{model.family}", dynamic_ncols=True)
    with _StopRequest() as stop:
        try:
            while state.step < config.steps and not stop.requested:
                started = time.perf_counter()
                model.begin_step(state.step)
                d_logs, g_logs = [], []
                for _ in range(n_critic):
                    d_logs.append(model.d_step(stream.batch(state.batches_seen)))
                    state.batches_seen += 1
                for _ in range(g_steps):
                    g_logs.append(model.g_step(stream.batch(state.batches_seen)))
                    state.batches_seen += 1
                model.update_ema()
                model.end_step(state.step)
                state.step += 1
                row = {"step": state.step, **_mean_logs(d_logs), **_mean_logs(g_logs)}
                row["seconds"] = time.perf_counter() - started
                pending.append(row)

                due_checkpoint = config.checkpoint_every and state.step % config.checkpoint_every == 0
                if len(pending) >= config.log_every or due_checkpoint or state.step == config.steps:
                    flush()
                    progress.set_postfix({k: f"{v:.3f}" for k, v in state.history[-1].items()
                                          if k in ("loss_d", "loss_g", "d_real", "d_fake")}, refresh=False)
                if due_checkpoint:
                    checkpoint(state.step)
                for cb in callbacks:
                    if hasattr(cb, "on_step_end"):
                        cb.on_step_end(model, state, row)
                progress.update(1)
        finally:
            progress.close()

    flush()   # raises on a non-finite loss before the final checkpoint could overwrite a good one
    checkpoint(state.step)
    if stop.requested and state.is_main:
        print(f"interrupted: saved step {state.step} to {last}; continue with --resume")
    for cb in callbacks:
        if hasattr(cb, "on_train_end"):
            cb.on_train_end(model, state)
    _unwrap_ddp(model)
    if stop.requested:
        raise TrainingInterrupted(state.step, last, state.history, stop.signum)
    return state.history


def _augment(config: TrainConfig):
    return Augment() if config.augment else None


def _unwrap_ddp(model) -> None:
    for name, bare in model._bare.items():
        setattr(model, name, bare)
    model._bare.clear()


class TrainingInterrupted(KeyboardInterrupt):
    """Raised by :func:`train` after a Ctrl-C/SIGTERM stop, once the checkpoint is saved.

    A stopped run is not a finished one, so a script that trains several models in a row stops
    too instead of going on to the next. ``step``, ``checkpoint`` and ``history`` say what was kept.
    """

    def __init__(self, step: int, checkpoint, history: list, signum: int = signal.SIGINT):
        super().__init__(f"stopped at step {step}; checkpoint {checkpoint}")
        self.step, self.checkpoint, self.history = step, checkpoint, history
        self.signum = int(signum)     # SIGINT or SIGTERM: the CLI exits 128 + signum


class _StopRequest:
    """Ctrl-C (SIGINT) or SIGTERM ask the loop to stop after the step in progress.

    The step finishes, so the checkpoint written on the way out is a consistent one. A second
    Ctrl-C stops at once (the last checkpoint on disk is left as it was).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.requested = False
        self.signum = signal.SIGINT
        self._previous = {}

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self.signum = signum
        print("\nstopping after this step; Ctrl-C again to stop at once", flush=True)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        return False


__all__ = ["TrainConfig", "TrainState", "train", "memory_needed", "check_memory", "NonFiniteLossError",
           "init_distributed"]
