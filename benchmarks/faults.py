"""Fault injection: the real command line against every way a run can be hurt, with a table of results.

    python benchmarks/faults.py              # the fast part (about 1.5 minutes on 2 cores; tests/test_faults.py runs it)
    python benchmarks/faults.py --long       # also: N >= 20 SIGKILLs with resume, and a 20k-step soak with RSS sampled
    python benchmarks/faults.py --only sigkill,disk   # probes whose name contains one of the words

Each probe in :data:`PROBES` is data: a name, what it does, the outcome expected and a check
that returns what was observed and whether that is the outcome. Probes that stop or kill a run
drive ``python -m gan_lab`` in subprocesses; probes of bad input call the same entry point,
``gan_lab.cli.main(argv)``, in this process (its stdout and stderr captured; an exception that
escapes it is a failure), which saves a torch import per probe. A probe that needs what the
machine does not allow (mounting a tmpfs) is reported as skipped, with the reason.
The table ``probe | expected | observed | pass`` is printed at the end; the exit status is 1 if a
probe failed.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
#: the run every signal probe trains (and the straight run it must equal): small, but long enough to hit
RUN = ["train", "--model", "vanilla", "--fast", "--no-progress", "--sample-every", "1000", "--checkpoint-every", "10"]


# -- fuzzed image files (item 7 of issue 11) ---------------------------------------------------------------
def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(path: Path, width: int = 20000, height: int = 20000) -> Path:
    """A PNG whose header declares ``width x height`` grey pixels, with a few bytes of image data.

    PIL judges a decompression bomb by the declared size when it opens the file, so this is one
    without the gigabytes: 400 million pixels by default (PIL refuses over 179 million and warns
    over 89 million).
    """
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)            # 8-bit grey
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
                     + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + _png_chunk(b"IEND", b""))
    return path


def make_image(kind: str, path: Path, size: int = 8, seed: int = 0) -> Path:
    """Write one image file of ``kind`` (see :data:`IMAGE_KINDS`) at ``path``; returns the path written."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    rgb = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    if kind == "rgb":
        Image.fromarray(rgb).save(path)
    elif kind == "other-size":
        Image.fromarray(rng.integers(0, 256, (size + 5, size + 2, 3), dtype=np.uint8)).save(path)
    elif kind == "grey":
        Image.fromarray(rgb[..., 0]).save(path)
    elif kind == "palette":
        Image.fromarray(rgb).quantize(16).save(path)
    elif kind == "rgba":
        Image.fromarray(np.dstack([rgb, rng.integers(0, 256, (size, size), dtype=np.uint8)])).save(path)
    elif kind == "16-bit":
        Image.fromarray(rng.integers(0, 65536, (size, size), dtype=np.uint16)).save(path)   # mode I;16
    elif kind == "truncated":
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif kind == "zero-byte":
        path.write_bytes(b"")
    elif kind == "random-bytes":
        path.write_bytes(rng.integers(0, 256, 300, dtype=np.uint8).tobytes())
    elif kind == "bomb":
        bomb_png(path)
    elif kind == "bomb-warning":                 # over PIL's warning limit, under its error limit
        bomb_png(path, 10000, 10000)
    else:
        raise ValueError(f"unknown image kind {kind!r}")
    return path


#: Image kinds and what GAN Lab must do with them: "read" (converted the documented way) or "refuse".
IMAGE_KINDS = {
    "rgb": "read", "other-size": "read", "grey": "read", "palette": "read", "rgba": "read", "16-bit": "read",
    "truncated": "refuse", "zero-byte": "refuse", "random-bytes": "refuse", "bomb": "refuse",
    "bomb-warning": "refuse",
}


# -- running the command line ---------------------------------------------------------------------------------
def child_env() -> dict:
    """The environment of every CLI subprocess: this checkout's gan_lab, one thread (bitwise CPU results)."""
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return dict(os.environ, PYTHONPATH=path, OMP_NUM_THREADS="1")


def _default_sigint():
    signal.signal(signal.SIGINT, signal.SIG_DFL)       # a background shell starts children with Ctrl-C ignored


def spawn(args: list[str], kill_in_save: tuple[int, float] | None = None) -> subprocess.Popen:
    """``python -m gan_lab ARGS`` (or through :func:`cli_killing_in_save`), stdout/stderr piped."""
    if kill_in_save is None:
        cmd = [sys.executable, "-m", "gan_lab", *args]
    else:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--cli-killing-in-save", str(kill_in_save[0]),
               str(kill_in_save[1]), "--", *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env(),
                            preexec_fn=_default_sigint)


def cli_killing_in_save(nth: int, fraction: float, args: list[str]) -> None:
    """Run the CLI in this process, SIGKILLing it inside its ``nth`` checkpoint write.

    ``torch.save`` of a checkpoint writes ``fraction`` of its bytes into the temporary file, then
    the process kills itself: the moment a power cut or the OOM killer would hit mid-write,
    reached every time (the CLI is unchanged; only ``torch.save`` is wrapped).
    """
    import runpy

    import torch

    real_save, calls = torch.save, [0]

    def save(obj, f, *a, **k):
        if isinstance(obj, dict) and "format_version" in obj and hasattr(f, "write"):
            calls[0] += 1
            if calls[0] == nth:
                buf = io.BytesIO()
                real_save(obj, buf, *a, **k)
                data = buf.getvalue()
                f.write(data[: int(len(data) * fraction)])
                f.flush()
                os.kill(os.getpid(), signal.SIGKILL)
        return real_save(obj, f, *a, **k)

    torch.save = save
    sys.argv = ["gan_lab", *args]
    runpy.run_module("gan_lab", run_name="__main__", alter_sys=True)


@dataclass
class Called:
    """What one in-process CLI call did."""

    code: int | None
    out: str
    err: str

    @property
    def clean(self) -> bool:
        return "Traceback" not in self.err and "Exception ignored" not in self.err

    def one_line_error(self, *words: str) -> tuple[str, bool]:
        lines = [line for line in self.err.strip().splitlines() if not line.startswith("gan-lab: warning:")]
        last = lines[-1] if lines else ""
        ok = (self.code == 2 and self.clean and len(lines) == 1 and last.startswith("gan-lab: error:")
              and all(w.lower() in last.lower() for w in words))
        return f"exit {self.code}: {short(last or self.err)}", ok


def short(text: str, width: int = 110) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def call(*argv: str) -> Called:
    """``gan_lab.cli.main(argv)`` in this process; an exception escaping it is recorded as a traceback."""
    from gan_lab.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:                # argparse's usage errors
            code = exc.code if isinstance(exc.code, int) else 2
        except BaseException:                    # noqa: BLE001 - exactly what must never happen
            code = None
            err.write(traceback.format_exc())
    return Called(code, out.getvalue(), err.getvalue())


def weights(run: Path) -> dict:
    from gan_lab.checkpoint import load_file

    return load_file(run / "checkpoints" / "last.pt")


def same(a, b) -> bool:
    import torch

    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if torch.is_tensor(a):
        return torch.equal(a, b)
    return a == b


def checkpoint_step(run: Path) -> int | None:
    """The step of ``last.pt``, or None if there is none; a GanLabError if it does not load."""
    return weights(run)["step"] if (run / "checkpoints" / "last.pt").exists() else None


def temp_files(run: Path) -> list[str]:
    return sorted(p.name for p in (run / "checkpoints").glob(".*.tmp")) if (run / "checkpoints").exists() else []


def history_rows(run: Path) -> int:
    try:
        return max(0, len((run / "history.csv").read_text().splitlines()) - 1)
    except OSError:
        return 0


def wait_until(predicate, proc: subprocess.Popen | None = None, timeout: float = 300.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        if proc is not None and proc.poll() is not None:
            return predicate()
        time.sleep(0.01)
    return False


@contextlib.contextmanager
def tmpfs(path: Path, size: str, read_only: bool = False):
    """A tmpfs of ``size`` at ``path`` (read-only once the body's setup calls ``remount``); Skip if not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                              capture_output=True, text=True)
    except OSError as exc:                       # no mount command at all
        raise Skip(f"cannot run mount ({exc.strerror or exc})") from None
    if done.returncode != 0:
        raise Skip(f"cannot mount a tmpfs here ({short(done.stderr or done.returncode, 60)}); needs root "
                   f"with CAP_SYS_ADMIN")

    def remount_read_only():
        subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True, capture_output=True)

    try:
        yield remount_read_only
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


class Skip(Exception):
    """A probe that cannot run on this machine; the message says why."""


# -- the context shared by the probes -----------------------------------------------------------------------------
class Context:
    def __init__(self, root: Path, seed: int, steps: int):
        self.root, self.rng, self.steps = root, random.Random(seed), steps
        self._cache: dict = {}

    def once(self, key, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def straight(self, steps: int | None = None) -> dict:
        """The weights of a straight run of ``steps`` (default: the context's) with :data:`RUN`'s flags."""
        steps = steps or self.steps

        def make():
            out = self.root / f"straight-{steps}"
            proc = spawn([*RUN, "--steps", str(steps), "--out", str(out)])
            _, err = proc.communicate(timeout=1800)
            if proc.returncode != 0:
                raise RuntimeError(f"the straight run failed: {short(err)}")
            return weights(out)["state"]
        return self.once(("straight", steps), make)

    def base_run(self) -> Path:
        """A finished 4-step run to copy and damage."""
        def make():
            out = self.root / "base"
            done = call(*RUN, "--steps", "4", "--out", out)
            if done.code != 0:
                raise RuntimeError(f"the base run failed: {short(done.err)}")
            return out
        return self.once("base", make)

    def damaged(self, name: str, damage: Callable[[Path], object]) -> Path:
        run = self.root / f"damaged-{name}"
        shutil.copytree(self.base_run(), run)
        damage(run)
        return run

    def fid_folder(self, name: str, kinds: list[str]) -> Path:
        folder = self.root / "fid" / name
        folder.mkdir(parents=True)
        for i, kind in enumerate(kinds):
            make_image(kind, folder / f"{i:02d}-{kind}.png", seed=i)
        return folder

    # -- the chain of signals: one run stopped every way, resumed each time, then compared -------------------------
    def chain(self) -> dict:
        return self.once("chain", self._chain)

    def _chain(self) -> dict:
        out, steps, seen = self.root / "chain", self.steps, {}
        args = [*RUN, "--steps", str(steps), "--out", str(out)]
        resume = ["train", "--resume", "--steps", str(steps), "--out", str(out), "--no-progress"]

        def random_kill(key, command, wait_for_rows=True):
            proc = spawn(command)
            start = history_rows(out)
            wait_until(lambda: (out / "checkpoints" / "last.pt").exists() and history_rows(out) > start,
                       proc) if wait_for_rows else None
            time.sleep(self.rng.uniform(0.0, 0.4))
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=60)
            try:
                step = checkpoint_step(out)
                seen[key] = (f"killed {'(it had ended first)' if proc.returncode == 0 else ''}at history row "
                             f"{history_rows(out)}; last.pt loads, step {step}", step is not None)
            except Exception as exc:                                      # noqa: BLE001
                seen[key] = (f"last.pt does not load: {short(exc)}", False)

        def stop(key, sig, code):
            proc = spawn(resume)
            start = history_rows(out)
            wait_until(lambda: history_rows(out) > start + 5, proc)
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=120)
            lines = err.strip().splitlines()
            step = checkpoint_step(out)
            ok = (proc.returncode == code and "Traceback" not in err and lines
                  and lines[-1].startswith("gan-lab: interrupted") and step == history_rows(out))
            seen[key] = (f"exit {proc.returncode}, '{short(lines[-1] if lines else '', 40)}', saved at step {step} "
                         f"(history {history_rows(out)} rows)", bool(ok))

        random_kill("kill-1", args)
        before = checkpoint_step(out)
        proc = spawn(resume, kill_in_save=(1, 0.5))
        proc.communicate(timeout=300)
        try:
            after = checkpoint_step(out)
            leftover = temp_files(out)
            seen["kill-in-save"] = (f"died ({proc.returncode}) half way through writing; last.pt still loads "
                                    f"(step {before} -> {after}); temp file {'left' if leftover else 'absent'}",
                                    proc.returncode == -signal.SIGKILL and after == before)
        except Exception as exc:                                          # noqa: BLE001
            seen["kill-in-save"] = (f"last.pt does not load after a kill mid-write: {short(exc)}", False)
        stop("sigterm", signal.SIGTERM, 143)
        seen["temp-cleaned"] = (f"temp files after the next save: {temp_files(out) or 'none'}", not temp_files(out))
        stop("sigint", signal.SIGINT, 130)
        random_kill("kill-2", resume)
        proc = spawn(resume)
        _, err = proc.communicate(timeout=1800)
        if proc.returncode != 0:
            seen["equal"] = (f"the last resume failed: exit {proc.returncode}, {short(err)}", False)
        else:
            equal = same(weights(out)["state"], self.straight())
            seen["equal"] = (f"{'bitwise equal' if equal else 'DIFFERENT'} to a straight {steps}-step run", equal)
        return seen


def chain_probe(key):
    return lambda ctx: ctx.chain()[key]


# -- the probes ---------------------------------------------------------------------------------------------------
@dataclass
class Probe:
    name: str
    does: str
    expected: str
    check: Callable[[Context], tuple[str, bool]]


def error_probe(*argv_parts, words=(), setup=None):
    """A check: the CLI call ``argv_parts`` (callables get the context) is a one-line error naming ``words``."""
    def check(ctx):
        if setup is not None:
            setup(ctx)
        argv = [a(ctx) if callable(a) else a for a in argv_parts]
        return call(*argv).one_line_error(*words)
    return check


def _fid_refusal(kind):
    def check(ctx):
        folder = ctx.fid_folder(f"refuse-{kind}", ["rgb", "rgb", kind])
        bad = f"02-{kind}.png"
        return call("fid", folder, ctx.fid_folder(f"good-for-{kind}", ["rgb", "rgb"]), "--dims", "64", "--device",
                    "cpu", "--no-progress").one_line_error(bad)
    return check


def _fid_mixed(ctx):
    a = ctx.fid_folder("mixed", [k for k, v in IMAGE_KINDS.items() if v == "read"])
    b = ctx.fid_folder("plain", ["rgb", "rgb", "rgb"])
    done = call("fid", a, b, "--dims", "64", "--device", "cpu", "--no-progress")
    note = [line for line in done.out.splitlines() if line.strip().startswith("note:")]
    value = next((line for line in done.out.splitlines() if line.startswith(("FID", "FD "))), "")
    ok = done.code == 0 and done.clean and bool(note) and "rank" in note[0] and "Warning" not in done.err
    return f"exit {done.code}: {short(value, 60)}; {short(note[0] if note else 'no note', 50)}", ok


def _history_damage(name, damage, expect_ok, words=()):
    def check(ctx):
        run = ctx.damaged(name, damage)
        done = call("train", "--resume", "--steps", "5", "--out", run, "--no-progress")
        if expect_ok:
            notes = [line for line in (done.err + done.out).splitlines() if "history" in line.lower()]
            rows = history_rows(run)
            lines = (run / "history.csv").read_text().splitlines()
            whole = all(line.count(",") == lines[0].count(",") for line in lines)
            ok = done.code == 0 and done.clean and rows == 5 and whole and all(
                any(w in line for line in notes) for w in words)
            return f"exit {done.code}, {rows} rows; {short(notes[0] if notes else 'no note', 70)}", ok
        observed, ok = done.one_line_error(*words)
        return observed, ok and weights(run)["step"] == 4
    return check


def _write(rel, data):
    def damage(run):
        path = run / rel
        if data is None:
            path.unlink()
        elif callable(data):
            path.write_bytes(data(path.read_bytes()))
        else:
            path.write_bytes(data)
    return damage


def _torn_row(data: bytes) -> bytes:
    """history.csv as a kill during the write of step 5's row leaves it: every field there, the last one cut."""
    last = data.splitlines(True)[-1]
    return data + b"5," + last.split(b",", 1)[1][:-12]


def _torch_save(obj_of):
    def damage(run):
        import torch

        path = run / "checkpoints" / "last.pt"
        torch.save(obj_of(torch.load(path, weights_only=True)), path)
    return damage


class Pickled:
    """An object a checkpoint must never unpickle."""


def _disk_full(ctx):
    from gan_lab.checkpoint import load_file

    size = (ctx.base_run() / "checkpoints" / "last.pt").stat().st_size
    mount = ctx.root / "full"
    with tmpfs(mount, f"{int(size * 1.5) + 256 * 1024}"):            # room for one checkpoint, not two
        run = mount / "run"
        done = call(*RUN, "--steps", "60", "--out", run)
        observed, ok = done.one_line_error()
        step = load_file(run / "checkpoints" / "last.pt")["step"]
        left = temp_files(run)
        return f"{observed}; last.pt kept (step {step}); temp files: {left or 'none'}", ok and step >= 10 and not left


def _read_only(ctx):
    mount = ctx.root / "ro"
    with tmpfs(mount, "8m") as remount_read_only:
        if call(*RUN, "--steps", "2", "--out", mount / "run").code != 0:
            return "could not make the run before the remount", False
        remount_read_only()
        new = call(*RUN, "--steps", "2", "--out", mount / "new")
        resumed = call("train", "--resume", "--steps", "4", "--out", mount / "run", "--no-progress")
        o1, ok1 = new.one_line_error("read-only")
        o2, ok2 = resumed.one_line_error("read-only")
        return f"new run: {o1} | resume: {o2}", ok1 and ok2 and weights(mount / "run")["step"] == 2


def _out_is_file(ctx):
    target = ctx.root / "a-file"
    target.write_text("mine")
    observed, ok = call(*RUN, "--steps", "2", "--out", target).one_line_error("is a file")
    return observed, ok and target.read_text() == "mine"


SET_VALUES = ["lr_g=nan", "betas=0.5", "betas=2,3", "ngf=0"]

PROBES: list[Probe] = [
    # -- stopping and killing a run (subprocesses) --
    Probe("sigkill-random", "SIGKILL at a random moment after the first checkpoint",
          "last.pt loads", chain_probe("kill-1")),
    Probe("sigkill-in-save", "resume, SIGKILL half way through writing the next checkpoint",
          "the old last.pt loads, unchanged", chain_probe("kill-in-save")),
    Probe("sigterm", "resume, then SIGTERM during training", "exit 143, one line, checkpoint = history",
          chain_probe("sigterm")),
    Probe("stale-temp", "the temp file the killed writer left", "removed by the next save",
          chain_probe("temp-cleaned")),
    Probe("sigint", "resume, then SIGINT (Ctrl-C) during training", "exit 130, one line, checkpoint = history",
          chain_probe("sigint")),
    Probe("sigkill-random-2", "resume, SIGKILL at another random moment", "last.pt loads", chain_probe("kill-2")),
    Probe("resume-exact", "resume once more to the end", "weights bitwise equal to a straight run (CPU)",
          chain_probe("equal")),
    # -- where the output goes --
    Probe("disk-full", "train into a tmpfs with room for one checkpoint, not two",
          "exit 2, one line; the old last.pt kept; no temp file", _disk_full),
    Probe("read-only", "new run and resume on a read-only tmpfs", "exit 2, one line each; nothing changed",
          _read_only),
    Probe("out-is-a-file", "--out names an existing file", "exit 2, one line; the file untouched", _out_is_file),
    Probe("out-under-proc", "--out /proc/gan-lab-run", "exit 2, one line",
          error_probe(*RUN, "--steps", "2", "--out", "/proc/gan-lab-run")),
    Probe("sample-out-not-a-dir", "sample --out FILE/grid.png", "exit 2, one line",
          error_probe("sample", "--checkpoint", lambda ctx: ctx.base_run(), "--out",
                      lambda ctx: ctx.base_run() / "config.json" / "grid.png")),
    # -- bad values, contradicting flags --
    *[Probe(f"set-{v}", f"--set {v}", "exit 2, one line naming the field",
            error_probe(*RUN, "--model", "dcgan", "--steps", "1", "--set", v, "--out",
                        lambda ctx, v=v: ctx.root / f"set-{v}", words=(v.split("=")[0],)))
      for v in SET_VALUES],
    Probe("resume-batch-size", "--resume --batch-size 32 (the run has 16)", "exit 2 naming the conflict",
          error_probe("train", "--resume", "--steps", "5", "--batch-size", "32", "--out",
                      lambda ctx: ctx.base_run(), words=("--batch-size", "16", "32"))),
    Probe("resume-data", "--resume --data mnist (the run has fashion-mnist)", "exit 2 naming the conflict",
          error_probe("train", "--resume", "--steps", "5", "--data", "mnist", "--out",
                      lambda ctx: ctx.base_run(), words=("--data",))),
    # -- damaged run directories --
    Probe("history-garbage", "history.csv overwritten with binary garbage", "refused, one line",
          _history_damage("garbage", _write("history.csv", b"\x00\xff garbage \x89PNG\n\x01"), False,
                          ("history",))),
    Probe("history-header", "history.csv header garbled", "refused, one line",
          _history_damage("header", _write("history.csv", lambda b: b.replace(b"step,", b"stp;;", 1)), False,
                          ("header",))),
    Probe("history-empty", "history.csv emptied", "refused, one line",
          _history_damage("empty", _write("history.csv", b""), False, ("empty",))),
    Probe("history-deleted", "history.csv deleted", "refused, one line",
          _history_damage("deleted", _write("history.csv", None), False, ("missing",))),
    Probe("history-torn", "a row after the checkpoint cut short mid-number (no newline)", "repaired, said so, resumed",
          _history_damage("torn", _write("history.csv", _torn_row), True, ("torn",))),
    Probe("history-cut-at-checkpoint", "the row of the checkpoint's step cut mid-number (no newline)",
          "refused, one line (that step is lost)",
          _history_damage("cut", _write("history.csv", lambda b: b[:-12]), False, ("lacks steps 4",))),
    Probe("config-garbage", "config.json overwritten with garbage, then --resume", "exit 0 or one line",
          lambda ctx: _config_damage(ctx)),
    Probe("checkpoint-truncated", "last.pt cut in half, then sample", "exit 2, one line",
          error_probe("sample", "--checkpoint", lambda ctx: ctx.damaged(
              "ckpt-cut", _write("checkpoints/last.pt", lambda b: b[: len(b) // 2])), "--out",
              lambda ctx: ctx.root / "g1.png", words=("last.pt",))),
    Probe("checkpoint-random-bytes", "last.pt replaced by random bytes, then --resume", "exit 2, one line",
          error_probe("train", "--resume", "--steps", "5", "--no-progress", "--out", lambda ctx: ctx.damaged(
              "ckpt-random", _write("checkpoints/last.pt", os.urandom(4096))), words=("last.pt",))),
    Probe("checkpoint-version-only", "last.pt = {'format_version': 1}", "exit 2, one line",
          error_probe("sample", "--checkpoint", lambda ctx: ctx.damaged(
              "ckpt-v1", _torch_save(lambda p: {"format_version": 1})), "--out", lambda ctx: ctx.root / "g2.png",
              words=("no 'family'",))),
    Probe("checkpoint-pickled", "last.pt holding a pickled Python object", "refused without weights_only advice",
          lambda ctx: _pickled(ctx)),
    # -- FID inputs (item 7) --
    *[Probe(f"fid-{kind}", f"gan-lab fid, a {kind} file among good ones", "exit 2, one line naming the file",
            _fid_refusal(kind)) for kind, what in IMAGE_KINDS.items() if what == "refuse"],
    Probe("fid-mixed", "gan-lab fid on " + ", ".join(k for k, v in IMAGE_KINDS.items() if v == "read"),
          "a number and a rank note", _fid_mixed),
    Probe("fid-one-image", "gan-lab fid with a folder of one image", "exit 2, one line",
          error_probe("fid", lambda ctx: ctx.fid_folder("one", ["rgb"]), lambda ctx: ctx.fid_folder("two", ["rgb"] * 2),
                      "--no-progress", words=("1 image",))),
    Probe("fid-empty", "gan-lab fid with an empty folder", "exit 2, one line",
          error_probe("fid", lambda ctx: ctx.fid_folder("empty", []), lambda ctx: ctx.fid_folder("two-b", ["rgb"] * 2),
                      "--no-progress", words=("0 image",))),
]


def _config_damage(ctx):
    run = ctx.damaged("config", _write("config.json", b"{not json"))
    done = call("train", "--resume", "--steps", "5", "--out", run, "--no-progress")
    if done.code == 0:
        return f"exit 0: resumed from the checkpoint, {history_rows(run)} rows", done.clean and history_rows(run) == 5
    return done.one_line_error("config.json")


def _pickled(ctx):
    import torch

    run = ctx.damaged("pickled", lambda run: None)
    path = run / "checkpoints" / "last.pt"
    payload = torch.load(path, weights_only=True)
    payload["extra"] = Pickled()
    torch.save(payload, path)
    done = call("sample", "--checkpoint", path, "--out", ctx.root / "g3.png")
    observed, ok = done.one_line_error("pickled")
    return observed, ok and "weights_only" not in done.err and "\x1b" not in done.err


# -- the long part -------------------------------------------------------------------------------------------------
def long_kills(ctx: Context, n: int, steps: int) -> Probe:
    """N SIGKILLs, each followed by a check that last.pt loads and a resume; then the final weights.

    The moments cycle through: during training (a random 0-2 s after the process's first new
    history row), during start-up (a random 0.05-1.5 s after the process starts), during training
    again, and half way through a checkpoint write (a random fraction of the bytes, in one of the
    next three writes).
    """
    out = ctx.root / "kills"
    args = [*RUN, "--steps", str(steps), "--out", str(out), "--checkpoint-every", "5"]
    resume = ["train", "--resume", "--steps", str(steps), "--out", str(out), "--no-progress", "--checkpoint-every", "5"]
    good, notes, finished = 0, [], 0
    for i in range(n):
        if (out / "config.json").exists() and not (out / "checkpoints" / "last.pt").exists():
            shutil.rmtree(out)                   # killed before its first checkpoint: start again
        command = resume if (out / "checkpoints" / "last.pt").exists() else args
        before, rows = checkpoint_step(out), history_rows(out)
        where = ("in training", "in start-up", "in training", "in a checkpoint write")[i % 4]
        if where == "in a checkpoint write":
            proc = spawn(command, kill_in_save=(ctx.rng.randint(1, 3), ctx.rng.uniform(0.05, 0.95)))
        else:
            proc = spawn(command)
            if where == "in training":
                wait_until(lambda: history_rows(out) > rows, proc)
                time.sleep(ctx.rng.uniform(0.0, 2.0))
            else:
                time.sleep(ctx.rng.uniform(0.05, 1.5))
            proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=600)
        finished += proc.returncode == 0
        try:
            step = checkpoint_step(out)
            good += 1
            notes.append(f"{i + 1:2d}: {where}: history row {history_rows(out)}, last.pt step {before} -> {step}"
                         + (" (it finished first)" if proc.returncode == 0 else ""))
        except Exception as exc:                                          # noqa: BLE001
            notes.append(f"{i + 1:2d}: {where}: last.pt does not load ({short(exc, 60)})")
    proc = spawn(resume)
    _, err = proc.communicate(timeout=3600)
    equal = proc.returncode == 0 and same(weights(out)["state"], ctx.straight(steps))
    print("\n".join(notes), flush=True)
    return Probe(f"sigkill-x{n}", f"{n} SIGKILLs (training, start-up, training, mid-checkpoint, ...), resume after each",
                 f"{n} of {n} last.pt load; final weights = straight {steps}-step run",
                 lambda _: (f"{good} of {n} last.pt load ({finished} runs ended before their kill); final weights "
                            f"{'bitwise equal' if equal else 'DIFFERENT: ' + short(err, 40)}", good == n and equal))


def soak(ctx: Context, steps: int, every: float) -> Probe:
    """A long run with its resident memory (VmRSS) sampled every ``every`` seconds."""
    out = ctx.root / "soak"
    proc = spawn(["train", "--model", "dcgan", "--fast", "--steps", str(steps), "--out", str(out), "--no-progress",
                  "--sample-every", "1000", "--checkpoint-every", "1000"])
    samples = []                                  # (seconds, step, MB)
    start = time.time()
    wait_until(lambda: history_rows(out) > 0, proc)
    while proc.poll() is None:
        try:
            rss = next(int(line.split()[1]) for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines()
                       if line.startswith("VmRSS:")) / 1024
        except (OSError, StopIteration):
            break
        samples.append((time.time() - start, history_rows(out), rss))
        time.sleep(every)
    _, err = proc.communicate()
    mb = [s[2] for s in samples]
    if len(samples) < 3 or proc.returncode != 0:
        return Probe(f"soak-{steps}", "a long dcgan --fast run", "finishes, memory flat",
                     lambda _: (f"exit {proc.returncode}, {len(samples)} samples: {short(err, 60)}", False))
    warm = samples[len(samples) // 10:]           # after the first tenth (allocator warm-up)
    x = np.array([s[1] for s in warm], dtype=float)
    slope = float(np.polyfit(x, [s[2] for s in warm], 1)[0]) * 1000 if np.ptp(x) > 0 else 0.0
    minutes = samples[-1][0] / 60
    text = (f"{len(samples)} samples over {minutes:.1f} min: start {mb[0]:.0f} MB, median {statistics.median(mb):.0f}, "
            f"max {max(mb):.0f}; slope after warm-up {slope:+.2f} MB per 1,000 steps")
    print(text, flush=True)
    return Probe(f"soak-{steps}", f"dcgan --fast for {steps} steps, VmRSS every {every:g} s",
                 "finishes; resident memory flat (< 1 MB per 1,000 steps)", lambda _: (text, abs(slope) < 1.0))


# -- running and reporting -----------------------------------------------------------------------------------------
def run_probe(probe: Probe, ctx: Context) -> tuple[str, str]:
    try:
        observed, ok = probe.check(ctx)
        return observed, "yes" if ok else "NO"
    except Skip as exc:
        return f"skipped: {exc}", "skip"
    except Exception as exc:                                              # noqa: BLE001
        return f"the probe itself failed: {type(exc).__name__}: {short(exc, 80)}", "NO"


def table(rows: list[tuple[str, str, str, str]]) -> str:
    head = ("probe", "expected", "observed", "pass")
    lines = [f"| {' | '.join(head)} |", "|" + "---|" * 4]
    lines += [f"| {' | '.join(c.replace('|', '/') for c in row)} |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--long", action="store_true", help="add N SIGKILLs with resume and the soak")
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs in --long (default 20; 0: none)")
    parser.add_argument("--kill-steps", type=int, default=4000, help="steps of the run killed in --long")
    parser.add_argument("--soak-steps", type=int, default=20000, help="steps of the soak in --long (0: no soak)")
    parser.add_argument("--soak-every", type=float, default=5.0, help="seconds between RSS samples")
    parser.add_argument("--steps", type=int, default=300, help="steps of the signal chain (fast part)")
    parser.add_argument("--only", default="", help="comma-separated words: run the probes whose name has one")
    parser.add_argument("--seed", type=int, default=None, help="seed of the random moments (default: from the clock)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)

    os.environ["OMP_NUM_THREADS"] = "1"           # the in-process calls too: bitwise results need one thread count
    import torch

    torch.set_num_threads(1)
    seed = args.seed if args.seed is not None else int(time.time())
    root = Path(tempfile.mkdtemp(prefix="gan-lab-faults-"))
    ctx = Context(root, seed, args.steps)
    words = [w for w in args.only.split(",") if w]
    probes = [p for p in PROBES if not words or any(w in p.name for w in words)]
    print(f"fault probes: {len(probes)}{' + long' if args.long else ''}; seed {seed}; files in {root}", flush=True)
    rows, started = [], time.time()
    try:
        for probe in probes:
            t0 = time.time()
            observed, ok = run_probe(probe, ctx)
            rows.append((probe.name, probe.expected, observed, ok))
            print(f"  {probe.name}: {ok} ({time.time() - t0:.1f} s)", flush=True)
        if args.long:
            makers = [lambda: long_kills(ctx, args.kills, args.kill_steps)] if args.kills else []
            makers += [lambda: soak(ctx, args.soak_steps, args.soak_every)] if args.soak_steps else []
            for make in makers:
                try:
                    probe = make()
                except Exception as exc:                                  # noqa: BLE001
                    probe = Probe("long", "", "", lambda _, e=exc: (f"failed: {short(e)}", False))
                observed, ok = run_probe(probe, ctx)
                rows.append((probe.name, probe.expected, observed, ok))
                print(f"  {probe.name}: {ok}", flush=True)
    finally:
        if not args.keep:
            for mount in (root / "full", root / "ro"):
                if mount.is_mount():
                    subprocess.run(["umount", "-l", str(mount)], capture_output=True)
            shutil.rmtree(root, ignore_errors=True)
    print()
    print(table(rows))
    failed = [r[0] for r in rows if r[3] == "NO"]
    skipped = sum(r[3] == "skip" for r in rows)
    print(f"\n{len(rows) - len(failed) - skipped} passed, {len(failed)} failed, {skipped} skipped "
          f"in {time.time() - started:.0f} s" + (f": {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--cli-killing-in-save":
        cli_killing_in_save(int(sys.argv[2]), float(sys.argv[3]), sys.argv[5:])
    else:
        sys.exit(main())
