"""The ``gan-lab`` command line (also ``python -m gan_lab``).

Flags map onto the same frozen dataclasses the library uses: ``--model`` picks the family's
``Config``, ``--set key=value`` overrides any of its fields, and the run settings fill a
:class:`gan_lab.train.TrainConfig`. Wrong values get one clear line and exit status 2.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
import threading
import warnings
from pathlib import Path

from gan_lab.cli import campaign as campaign_cli
from gan_lab.cli import metrics as metrics_cli
from gan_lab.cli import singan as singan_cli
from gan_lab.cli.common import parse_overrides, positive_int

# Nothing above imports torch or the library: main() sets up Ctrl-C and SIGTERM first (see _exit_at_once).


def build_parser() -> argparse.ArgumentParser:
    from gan_lab.data import registry
    from gan_lab.models import FAMILIES

    parser = argparse.ArgumentParser(prog="gan-lab", description="Train, sample and evaluate GANs.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train a model; writes a run directory")
    t.add_argument("--model", choices=list(FAMILIES), default=None, help="model family (default: dcgan)")
    t.add_argument("--data", default=None,
                   help=f"{', '.join(registry.names())} (or an alias such as fmnist), an image folder or a "
                        f"single image (default: fashion-mnist)")
    t.add_argument("--data-root", default=None, help="where the dataset lives (default: look it up)")
    t.add_argument("--image-size", type=positive_int, default=None,
                   help="pixels per side (default: 28 for (fashion-)mnist, 64 otherwise)")
    t.add_argument("--channels", type=int, choices=(1, 3), default=None)
    t.add_argument("--steps", type=positive_int, default=None, help="generator steps (default 1000; 20 with --fast)")
    t.add_argument("--batch-size", type=positive_int, default=None)
    t.add_argument("--seed", type=int, default=None, help="(default 0)")
    t.add_argument("--out", default=None, help="run directory (default: runs/<model>)")
    t.add_argument("--preset", default=None, help="a Config preset of the family, e.g. classic64, fashion_mnist")
    t.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a field of the family's Config, e.g. --set lr_g=1e-4 (repeatable)")
    t.add_argument("--augment", action="store_true", help="rotation ±10°, shift 0.1, horizontal flip")
    t.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cpu, cuda, cuda:N, mps")
    t.add_argument("--precision", choices=("auto", "fp32", "bf16"), default=None,
                   help="auto (default): bf16 autocast where the device runs it natively and the family kept "
                        "fp32's quality in bf16, else fp32")
    t.add_argument("--amp", action="store_true", help="the same as --precision bf16")
    t.add_argument("--channels-last", action="store_true", help="NHWC memory format (convolutional nets)")
    t.add_argument("--sample-every", type=int, default=None)
    t.add_argument("--checkpoint-every", type=int, default=None)
    t.add_argument("--keep-every", type=int, default=0)
    t.add_argument("--limit", type=positive_int, default=None, help="use only the first N training images")
    t.add_argument("--fast", action="store_true", help="the family's tiny preset and a short run (smoke test)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from checkpoints/last.pt")
    t.add_argument("--allow-history-gap", action="store_true",
                   help="with --resume: go on when history.csv lost rows the checkpoint trained (they stay lost)")
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help="a grid of images from a checkpoint")
    s.add_argument("--checkpoint", required=True, help="a .pt file written by gan-lab train, or its run directory")
    s.add_argument("--n", type=positive_int, default=64)
    s.add_argument("--out", default="samples.png")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default="auto")
    s.add_argument("--no-ema", action="store_true", help="sample from G even if the run kept an EMA copy")
    s.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="auto (default): the precision the run trained in, where the device runs it natively")
    s.set_defaults(func=cmd_sample)

    # the subcommands of the other command-line modules; they import the library when run
    for module in (metrics_cli, singan_cli, campaign_cli):
        module.register_cli(sub)
    from gan_lab.cli import assignments as assignments_cli      # nbgrader is imported only when it runs
    assignments_cli.register_cli(sub)
    return parser


def model_config(family_name: str, args) -> object:
    """The family's Config from --fast / --preset / --image-size / --channels / --set."""
    from gan_lab.data import default_shape
    from gan_lab.models import get_family, make_config
    from gan_lab.utils import GanLabError

    family = get_family(family_name)
    values = parse_overrides(family.Config, args.overrides)
    image_size, channels = default_shape(args.data or "fashion-mnist")   # the native size: 28 px grey for MNIST sets
    values.setdefault("image_size", args.image_size or image_size)
    values.setdefault("channels", args.channels or channels)
    preset = args.preset or ("tiny" if args.fast else None)
    try:
        return make_config(family_name, preset, **values)
    except (ValueError, TypeError) as exc:
        raise GanLabError(f"{family_name} config: {exc}") from None


def cmd_train(args) -> int:
    from gan_lab.checkpoint import build_from_payload, load_file
    from gan_lab.data import load_data
    from gan_lab.models import get_family
    from gan_lab.run import RunDir
    from gan_lab.train import check_memory, train
    from gan_lab.utils import GanLabError, pick_device, seed_everything

    if args.model == "singan":
        raise GanLabError("SinGAN learns from one image: train it with "
                          "`gan-lab singan train --image FILE --out DIR` (see gan-lab singan train --help)")
    out = Path(args.out or f"runs/{args.model or 'dcgan'}")
    run = RunDir(out)
    if not args.resume:
        run.ensure_writable()       # before the data loads
    if args.resume:
        if not run.has_checkpoint():
            raise GanLabError(f"cannot resume: {run.last_checkpoint} does not exist; train without --resume first")
        payload = load_file(run.last_checkpoint)
        if payload.get("family") == "singan":
            raise GanLabError(f"{out} holds a SinGAN run: continue it with `gan-lab singan train --out {out} --resume`")
        if args.model and args.model != payload["family"]:
            raise GanLabError(f"{out} holds a {payload['family']} run, not --model {args.model}; leave out --model "
                              f"to continue it")
        config = _resume_config(args, out, payload)
        seed_everything(config.seed)
        model = build_from_payload(payload)
    else:
        config = _train_config(args, out)
        seed_everything(config.seed)
        name = args.model or "dcgan"
        c = model_config(name, args)
        check_memory(get_family(name).Model, c, config.batch_size, pick_device(config.device))
        model = get_family(name).Model(c)
    c = model.config
    data = load_data(config.data, image_size=c.image_size, channels=c.channels, root=config.data_root,
                     limit=config.limit)
    history = train(model, data, config, resume=args.resume, allow_history_gap=args.allow_history_gap)
    import torch.distributed as dist
    if dist.is_initialized():
        rank = dist.get_rank()
        dist.destroy_process_group()
        if rank != 0:
            return 0
    if history:
        last = history[-1]
        parts = ", ".join(f"{k} {v:.4f}" for k, v in last.items() if k not in ("step", "seconds"))
        print(f"step {last['step']}: {parts}")
    print(f"run directory: {out}  (checkpoint: {run.last_checkpoint})")
    return 0


def _train_config(args, out: Path):
    from gan_lab.data import registry
    from gan_lab.train import TrainConfig

    base = TrainConfig.fast if args.fast else TrainConfig
    data = args.data or "fashion-mnist"
    info = registry.resolve(data)      # a dataset is recorded by its name, a folder by its path
    values = dict(out=str(out), seed=args.seed or 0, data=info.name if info else str(data),
                  data_root=args.data_root, limit=args.limit or (2048 if args.fast else None),
                  preset=args.preset or ("tiny" if args.fast else None), augment=args.augment, device=args.device,
                  precision=_given_precision(args) or "auto", channels_last=args.channels_last,
                  keep_every=args.keep_every,
                  progress=not args.no_progress)
    for key in ("steps", "batch_size", "sample_every", "checkpoint_every"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    return base(**values)


def _given_precision(args) -> str | None:
    """The precision the flags ask for (``--amp`` is ``bf16``), or None when they leave it to the run."""
    from gan_lab.utils import GanLabError

    if args.amp and args.precision not in (None, "bf16"):
        raise GanLabError(f"--amp means --precision bf16, which contradicts --precision {args.precision}; give one")
    if args.amp:
        return "bf16"
    return None if args.precision in (None, "auto") else args.precision


def _resume_config(args, out: Path, payload: dict):
    """The TrainConfig of the run in ``out``, from its checkpoint; a flag that contradicts it is an error.

    Everything that defines the run (data, limit, batch size, seed, the model's Config) comes from the
    run itself. Only ``--steps`` may grow; ``--device``, ``--data-root``, ``--no-progress`` and when to save
    (``--sample-every``, ``--checkpoint-every``, ``--keep-every``) are free.
    """
    from gan_lab.data import registry
    from gan_lab.models import get_family
    from gan_lab.train import TrainConfig, saved_precision
    from gan_lab.utils import GanLabError

    known = {f.name for f in dataclasses.fields(TrainConfig)}
    saved = {k: v for k, v in payload["train_config"].items() if k in known}   # an old run: missing fields default
    model_saved = payload["model_config"]
    given = []          # (flag, saved value, given value)
    if args.batch_size is not None:
        given.append(("--batch-size", saved.get("batch_size", 64), args.batch_size))
    if args.seed is not None:
        given.append(("--seed", saved.get("seed", 0), args.seed))
    for flag in ("augment", "channels_last"):
        if getattr(args, flag):
            given.append((f"--{flag.replace('_', '-')}", saved.get(flag, False), True))
    if _given_precision(args):
        given.append(("--precision", saved_precision(saved), _given_precision(args)))
    if args.limit is not None or args.fast:
        given.append(("--limit" if args.limit is not None else "--fast (limit)", saved.get("limit"),
                      args.limit or 2048))
    if args.preset is not None or args.fast:
        given.append(("--preset" if args.preset is not None else "--fast (preset)", saved.get("preset"),
                      args.preset or "tiny"))
    if args.data is not None:
        info = registry.resolve(args.data)
        name = info.name if info else str(args.data)
        if name != saved.get("data", "fashion-mnist"):
            given.append(("--data", saved.get("data", "fashion-mnist"), name))
    if args.image_size is not None:
        given.append(("--image-size", model_saved.get("image_size"), args.image_size))
    if args.channels is not None:
        given.append(("--channels", model_saved.get("channels"), args.channels))
    if args.overrides:
        values = parse_overrides(get_family(payload["family"]).Config, args.overrides)
        for key, value in values.items():
            old = model_saved.get(key)
            if isinstance(value, tuple) and isinstance(old, list):
                old = tuple(old)
            given.append((f"--set {key}", old, value))
    conflicts = [f"{flag}: the run has {old!r}, you gave {new!r}" for flag, old, new in given if old != new]
    if conflicts:
        raise GanLabError(f"--resume continues the run in {out} as it was started; "
                          f"{'; '.join(conflicts)}. Leave out these flags, or start a new run with another --out")
    saved.update(out=str(out), progress=not args.no_progress, device=args.device)
    if args.data_root is not None:
        saved["data_root"] = args.data_root
    for key in ("sample_every", "checkpoint_every"):          # when to save, not what is trained
        if getattr(args, key) is not None:
            saved[key] = getattr(args, key)
    if args.keep_every:
        saved["keep_every"] = args.keep_every
    if args.steps:
        saved["steps"] = args.steps
    return TrainConfig(**saved)


def cmd_sample(args) -> int:
    from torchvision.utils import save_image

    from gan_lab.checkpoint import load_checkpoint
    from gan_lab.run import RunDir
    from gan_lab.utils import GanLabError, pick_device

    device = pick_device(args.device)
    checkpoint = Path(args.checkpoint)
    if checkpoint.is_dir():                                 # a run directory: its last checkpoint
        run = RunDir(checkpoint)
        if not run.has_checkpoint():
            raise GanLabError(f"--checkpoint {checkpoint} is a folder without checkpoints/{run.last_checkpoint.name}; "
                              f"give the --out folder of a gan-lab train run or a .pt file")
        checkpoint = run.last_checkpoint
    model, payload = load_checkpoint(checkpoint, map_location=device)
    model.amp = _sample_precision(args.precision, payload, model, device) == "bf16"
    images = model.preview(args.n, args.seed, use_ema=not args.no_ema)   # fixed noise from --seed
    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise GanLabError(f"--out {out}: give a .png or .jpg file name")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        save_image(images, out, nrow=max(1, int(args.n ** 0.5)), normalize=True, value_range=(-1, 1))
    except OSError as exc:
        raise GanLabError(f"cannot write --out {out} ({exc.strerror or exc}); choose a file in a folder you can "
                          f"write to") from None
    print(f"{args.n} samples of {payload['family']} at step {payload['step']} -> {out}")
    return 0


def _sample_precision(asked: str, payload: dict, model, device) -> str:
    """fp32 or bf16 for sampling: ``auto`` is the run's own precision where ``device`` runs bf16 natively."""
    from gan_lab.train import saved_precision
    from gan_lab.utils import GanLabError, native_bf16, resolve_precision

    if not model.autocast_ok:
        if asked == "bf16":
            raise GanLabError(f"{model.family} has no bf16 path; sample with --precision fp32")
        return "fp32"
    if asked == "auto":
        trained = saved_precision(payload.get("train_config") or {})
        return "bf16" if trained == "bf16" and native_bf16(device) else "fp32"
    precision, note = resolve_precision(asked, device)
    if note:
        warnings.warn(note)
    return precision


class Terminated(KeyboardInterrupt):
    """SIGTERM outside the training loop (the loop turns it into a clean stop)."""

    signum = signal.SIGTERM


def _terminate(signum, frame):
    raise Terminated


def _exit_at_once(signum, frame):
    """Ctrl-C or SIGTERM while the command line starts (imports, parsing): nothing to save, so one line and out.

    ``os._exit`` leaves at once: a KeyboardInterrupt raised inside an import half done could
    surface as an "Exception ignored" traceback on the way out.
    """
    os.write(2, b"gan-lab: interrupted\n")
    os._exit(128 + signum)


def start_up_signals() -> dict:
    """Install :func:`_exit_at_once` for SIGINT and SIGTERM (in the main thread); return the handlers replaced.

    A Ctrl-C that the shell started us ignoring (a background job, ``nohup``) stays ignored.
    """
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            if sig == signal.SIGINT and signal.getsignal(sig) is signal.SIG_IGN:
                continue
            previous[sig] = signal.signal(sig, _exit_at_once)
    return previous


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """A Python warning as one line, without the source line that raised it."""
    print(f"gan-lab: warning: {message}", file=file or sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run one command; errors are one line on stderr (exit 2), Ctrl-C exits 130 and SIGTERM 143."""
    previous = start_up_signals()               # before anything heavy is imported
    from gan_lab.utils import GanLabError       # imports torch
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            # PIL warns of a decompression bomb it will still open; gan_lab's reader refuses the file by name
            warnings.filterwarnings("ignore", message=r"Image size \(\d+ pixels\) exceeds limit")
            args = build_parser().parse_args(argv)
            # the command runs: Ctrl-C raises KeyboardInterrupt (the training loop saves and stops), SIGTERM too
            if signal.SIGINT in previous:
                signal.signal(signal.SIGINT, signal.default_int_handler)
            if signal.SIGTERM in previous:
                signal.signal(signal.SIGTERM, _terminate)
            return int(args.func(args) or 0)
    except GanLabError as exc:
        print(f"gan-lab: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:              # a file the command had to read or write
        where = f" {exc.filename}" if exc.filename else ""
        print(f"gan-lab: error: cannot use{where}: {exc.strerror or exc}; check the path and its permissions",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print("gan-lab: interrupted" + ("" if hasattr(exc, "step") else "; the last checkpoint on disk (if any) is "
                                        "unchanged"), file=sys.stderr)
        return 128 + int(getattr(exc, "signum", signal.SIGINT))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main())
