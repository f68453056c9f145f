"""The one-command GPU check: every family trains, in bf16 + channels_last and in fp32, and FID runs.

On a CUDA machine, for every model family at 64 px (3 channels): ``--steps`` training steps of the
shared loop in fp32 and in bf16 autocast with channels_last (SinGAN, which has no bf16 path: fp32
only, on one 64 px image), timed after ``--warmup`` steps; then FID of ``--fid-n`` samples of one
trained model against as many real images; with two or more GPUs visible, a 2-process torchrun of
DCGAN. It prints one table: images/s per family and precision (real images consumed per second),
peak GPU memory, and bf16's throughput as a multiple of fp32's. Without CUDA it says so and exits 0.

    bash benchmarks/gpu_check.sh                       # Fashion-MNIST, resized to 64 px RGB
    bash benchmarks/gpu_check.sh --data celeba --steps 100

The numbers are this machine's: rerun before quoting them. Step times are medians of the timed
steps (the loop's own per-step clock, synchronised with the GPU at each step here).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

FAMILIES = ("vanilla", "dcgan", "wgan-gp", "wgan-clip", "vaegan", "improved-dcgan", "dnfm", "singan")


class CudaSync:
    """A loop callback that waits for the GPU at the end of each step, so the loop's clock is honest."""

    def on_step_end(self, model, state, row):
        torch.cuda.synchronize()


def train_family(name: str, data, args, precision: str, out: Path) -> dict:
    from gan_lab.models import get_family, make_config
    from gan_lab.train import TrainConfig, train
    from gan_lab.utils import seed_everything

    family = get_family(name)
    seed_everything(0)
    channels_last = precision == "bf16"
    steps = args.warmup + args.steps
    if name == "singan":           # the whole pyramid of one 64 px image, the steps spread over its scales
        from gan_lab.data import to_float
        probe = family.Model(make_config(name, image_size=64), height=64, width=64)
        config = make_config(name, image_size=64, steps_per_scale=max(1, -(-steps // probe.num_scales)))
        model = family.Model.from_image(to_float(data.images[0:1]), config)
        stream, batch, steps = model.stream(), 1, model.total_steps
    else:
        config = make_config(name, image_size=64, channels=3)
        model = family.Model(config)
        stream, batch = data, args.batch_size
    cuda = args.device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    tconfig = TrainConfig(steps=steps, batch_size=batch, out=str(out), device=args.device,
                          precision=precision, channels_last=channels_last and name != "singan",
                          sample_every=0, checkpoint_every=0, progress=False)
    history = train(model, stream, tconfig, callbacks=[CudaSync()] if cuda else [])
    timed = [row["seconds"] for row in history[args.warmup:]]
    step = statistics.median(timed)
    batches = getattr(model.config, "n_critic", 1) + getattr(model.config, "g_steps", 1)
    return {"family": name, "precision": precision, "channels_last": tconfig.channels_last,
            "ms_per_step": 1000 * step, "images_per_s": batch * batches / step,
            "peak_mib": torch.cuda.max_memory_allocated() / 2**20 if cuda else float("nan"), "model": model}


def fid_check(model, args) -> dict:
    from gan_lab.metrics.evaluate import evaluate

    start = time.perf_counter()
    try:
        score = evaluate(model, ("fid",), n=args.fid_n, data=args.data, split=args.split, root=args.data_root,
                         cache=False)[0]
    except Exception as exc:     # report and go on: the training table is the main result
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"value": score["value"], "seconds": time.perf_counter() - start, "n": args.fid_n}


def torchrun_check(args, out: Path) -> dict:
    torchrun = shutil.which("torchrun")
    cmd = ([torchrun] if torchrun else [sys.executable, "-m", "torch.distributed.run"]) + [
        "--standalone", "--nproc_per_node", "2", "-m", "gan_lab", "train", "--model", "dcgan",
        "--data", args.data, "--image-size", "64", "--channels", "3", "--steps", str(args.warmup + args.steps),
        "--batch-size", str(args.batch_size), "--precision", "bf16", "--channels-last", "--limit",
        str(args.limit), "--sample-every", "0", "--checkpoint-every", "0", "--no-progress", "--out", str(out)]
    if args.data_root:
        cmd += ["--data-root", args.data_root]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    from gan_lab.run import read_history
    rows = read_history(out / "history.csv")[args.warmup:]
    step = statistics.median(r["seconds"] for r in rows)
    return {"ms_per_step": 1000 * step, "images_per_s": 2 * 2 * args.batch_size / step,
            "wall_s": time.perf_counter() - start}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--data-root", default=None)
    p.add_argument("--split", default="train")
    p.add_argument("--limit", type=int, default=4096, help="real images loaded (the check needs few)")
    p.add_argument("--steps", type=int, default=50, help="timed steps per family and precision")
    p.add_argument("--warmup", type=int, default=10, help="untimed steps first (cuDNN autotuning)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--fid-n", type=int, default=1000)
    p.add_argument("--fid-family", default="dcgan")
    p.add_argument("--json", default=None, help="also write the results to this file")
    p.add_argument("--device", default="cuda", help=argparse.SUPPRESS)   # "cpu": a dry run of the script's logic
    args = p.parse_args(argv)

    if args.device == "cuda" and not torch.cuda.is_available():
        print("gpu_check: no CUDA device on this machine; nothing measured (run it on a machine with a GPU)")
        return 0
    from gan_lab.data import load_data

    started = time.perf_counter()
    name = torch.cuda.get_device_name(0) if args.device == "cuda" else args.device
    print(f"gpu_check: {name}, {torch.cuda.device_count()} GPU(s), torch {torch.__version__}, "
          f"{args.steps} timed steps after {args.warmup}, batch {args.batch_size}, 64 px RGB, data {args.data}",
          flush=True)
    data = load_data(args.data, image_size=64, channels=3, split=args.split, root=args.data_root, limit=args.limit)
    rows, fid = [], None
    with tempfile.TemporaryDirectory(prefix="gpu_check.") as tmp:
        for name in args.families:
            for precision in (("fp32",) if name == "singan" else ("fp32", "bf16")):
                try:
                    r = train_family(name, data, args, precision, Path(tmp) / f"{name}-{precision}")
                except Exception as exc:
                    print(f"  {name} {precision}: FAILED {type(exc).__name__}: {exc}", flush=True)
                    rows.append({"family": name, "precision": precision, "error": str(exc)})
                    continue
                model = r.pop("model")
                rows.append(r)
                print(f"  {name:<15} {precision}: {r['ms_per_step']:7.1f} ms/step  {r['images_per_s']:8.0f} img/s  "
                      f"peak {r['peak_mib']:7.0f} MiB", flush=True)
                if name == args.fid_family and precision == "bf16" and args.fid_n:
                    fid = fid_check(model, args)
                del model
                if args.device == "cuda":
                    torch.cuda.empty_cache()
        ddp = torchrun_check(args, Path(tmp) / "ddp") if torch.cuda.device_count() >= 2 else None

    print("\n| family | fp32 img/s | bf16+CL img/s | bf16 / fp32 | peak MiB fp32 | peak MiB bf16 |")
    print("|---|---|---|---|---|---|")
    for name in args.families:
        got = {r["precision"]: r for r in rows if r["family"] == name and "error" not in r}
        a, b = got.get("fp32"), got.get("bf16")
        fmt = lambda r, k, f: (f % r[k]) if r else "n/a"   # noqa: E731
        ratio = f"{b['images_per_s'] / a['images_per_s']:.2f}×" if a and b else "n/a"
        print(f"| {name} | {fmt(a, 'images_per_s', '%.0f')} | {fmt(b, 'images_per_s', '%.0f')} | {ratio} | "
              f"{fmt(a, 'peak_mib', '%.0f')} | {fmt(b, 'peak_mib', '%.0f')} |")
    if fid is not None:
        if "error" in fid:
            print(f"\nFID ({args.fid_family}, bf16 run): not measured: {fid['error']}")
        else:
            print(f"\nFID ({args.fid_family} after {args.warmup + args.steps} bf16 steps, {fid['n']} samples vs "
                  f"{fid['n']} real, fp32 Inception): {fid['value']:.1f} in {fid['seconds']:.1f} s")
    if ddp is not None:
        print(f"torchrun, 2 processes, DCGAN bf16+CL: {ddp}")
    else:
        print("torchrun: one GPU visible, 2-process run skipped")
    total = time.perf_counter() - started
    print(f"gpu_check: done in {total:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "fid": fid, "ddp": ddp, "seconds": total,
                                               "device": name}, indent=2))
    failed = [r for r in rows if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
