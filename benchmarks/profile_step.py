"""Where a training step's time goes: the nets, or the loop around them (torch.profiler, CPU).

Runs gan_lab's loop (``gan_lab.train.train``) on Fashion-MNIST at 28 px under ``torch.profiler`` and
labels each part of a step from outside the library (the methods are wrapped in
``torch.profiler.record_function`` here, so the loop itself is unchanged): the discriminator and
generator steps (the nets, their losses and optimisers), fetching a batch, the EMA update, the
schedulers, writing the history (converting logged tensors to numbers, the CSV), the sample grid,
checkpoints. What the labels do not cover is the loop's own bookkeeping. Prints each part's share
of the wall time and the profiler's top operators by self CPU time.

    python benchmarks/profile_step.py --model dcgan --steps 200
    python benchmarks/profile_step.py --model dcgan --precision bf16 --sample-every 50
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time

import torch
from torch.profiler import ProfilerActivity, profile, record_function

PARTS = ("d_step", "g_step", "batch", "ema", "end_step", "history", "samples", "checkpoint")


def labelled(label: str, fn):
    def wrapper(*args, **kwargs):
        with record_function(f"gl::{label}"):
            return fn(*args, **kwargs)
    return wrapper


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="dcgan")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--precision", default="fp32", choices=("fp32", "bf16"))
    p.add_argument("--sample-every", type=int, default=500, help="as TrainConfig's default")
    p.add_argument("--checkpoint-every", type=int, default=1000)
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--top", type=int, default=12)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    import gan_lab.callbacks as callbacks
    import gan_lab.run as run
    import gan_lab.train as train_module
    from gan_lab.data import BatchStream, load_data
    from gan_lab.models import get_family, make_config
    from gan_lab.utils import seed_everything

    family = get_family(args.model)
    seed_everything(0)
    model = family.Model(make_config(args.model, image_size=28, channels=1))
    for name, label in (("d_step", "d_step"), ("g_step", "g_step"), ("update_ema", "ema"), ("end_step", "end_step")):
        setattr(model, name, labelled(label, getattr(model, name)))
    BatchStream.batch = labelled("batch", BatchStream.batch)
    run.HistoryWriter.write = labelled("history", run.HistoryWriter.write)
    train_module._to_floats = labelled("history", train_module._to_floats)
    callbacks.SampleGrid.on_step_end = labelled("samples", callbacks.SampleGrid.on_step_end)
    run.RunDir.save_checkpoint = labelled("checkpoint", run.RunDir.save_checkpoint)

    data = load_data("fashion-mnist", image_size=28, channels=1)
    with tempfile.TemporaryDirectory() as out:
        config = train_module.TrainConfig(steps=args.steps, batch_size=args.batch_size, out=out, device="cpu",
                                          precision=args.precision, sample_every=args.sample_every,
                                          checkpoint_every=args.checkpoint_every, log_every=args.log_every,
                                          progress=False)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            start = time.perf_counter()
            with record_function("gl::train"):
                train_module.train(model, data, config)
            wall = time.perf_counter() - start

    events = {e.key: e for e in prof.key_averages()}
    total_us = events["gl::train"].cpu_time_total
    print(f"{args.model}, 28 px, batch {args.batch_size}, {args.precision}, {args.steps} steps, "
          f"{args.threads} threads: {1000 * wall / args.steps:.1f} ms/step (wall, under the profiler)\n")
    print(f"{'part':<12} {'ms/step':>8} {'share':>7}")
    covered = 0.0
    for part in PARTS:
        e = events.get(f"gl::{part}")
        us = e.cpu_time_total if e else 0.0
        covered += us
        print(f"{part:<12} {us / 1000 / args.steps:8.2f} {100 * us / total_us:6.1f}%")
    rest = total_us - covered
    print(f"{'loop, rest':<12} {rest / 1000 / args.steps:8.2f} {100 * rest / total_us:6.1f}%   "
          f"(set-up, bookkeeping, progress bar; includes loading the nets' first step)")
    print(f"\ntop {args.top} operators by self CPU time:")
    ops = sorted((e for e in prof.key_averages() if not e.key.startswith("gl::")),
                 key=lambda e: e.self_cpu_time_total, reverse=True)[:args.top]
    for e in ops:
        print(f"  {e.key:<45} {e.self_cpu_time_total / 1000 / args.steps:8.2f} ms/step "
              f"{100 * e.self_cpu_time_total / total_us:6.1f}%  x{e.count // args.steps}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
