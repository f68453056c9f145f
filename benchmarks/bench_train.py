"""Training speed: gan_lab's loop against a plain loop written the way the PyTorch DCGAN tutorial
writes it, with the same nets (DCGAN 64 px, ngf = ndf = 64, z = 100), batch 128, real data in memory.

Each variant runs in its own process (so each has its own peak memory), several times,
interleaved (A B A B ...), and the script reports medians and the ratio plain / gan_lab.

    python benchmarks/bench_train.py                      # CPU: plain vs gan_lab (fp32, bf16, bf16 + NHWC)
    python benchmarks/bench_train.py --device cuda

The bf16 variants (``--precision bf16``, with and without channels_last) run where the device has
native bf16 (CUDA, or a CPU with avx512_bf16/amx_bf16: see ``gan_lab.utils.native_bf16``); the plain
loop stays in fp32, as the tutorial writes it.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import torch


def real_batches(device, batch_size, image_size=64, n_images=1024):
    from gan_lab.data import load_data, to_float

    data = load_data("fashion-mnist", image_size=image_size, channels=3, limit=n_images)
    return data, to_float(data.images[:n_images]).to(device)   # (N, 3, 64, 64) in [-1, 1]


def run_plain(device, steps, batch_size, warmup):
    """The tutorial's loop: D on real (label 1), D on G(z).detach() (label 0), then G on D(G(z)) (label 1).

    The tutorial's D ends in a Sigmoid and uses BCELoss; we keep our nets (logits) and use
    BCEWithLogitsLoss, which is the same loss computed stably, so only the loop differs.
    """
    from gan_lab.models import dcgan

    model = dcgan.Model(dcgan.Config.preset("classic64")).to(device)
    netG, netD = model.G, model.D
    _, images = real_batches(device, batch_size)
    criterion = torch.nn.BCEWithLogitsLoss()
    optimizerD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizerG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        idx = torch.randint(0, images.shape[0], (batch_size,), device=device)
        real = images[idx]
        netD.zero_grad()
        label = torch.full((batch_size,), 1.0, device=device)
        errD_real = criterion(netD(real).view(-1), label)
        errD_real.backward()
        noise = torch.randn(batch_size, 100, device=device)
        fake = netG(noise)
        label.fill_(0.0)
        errD_fake = criterion(netD(fake.detach()).view(-1), label)
        errD_fake.backward()
        optimizerD.step()
        netG.zero_grad()
        label.fill_(1.0)
        errG = criterion(netD(fake).view(-1), label)
        errG.backward()
        optimizerG.step()
        float(errD_real + errD_fake), float(errG)   # the tutorial logs these every step
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def run_gan_lab(device, steps, batch_size, warmup, precision="fp32", channels_last=False):
    from gan_lab.models import dcgan
    from gan_lab.train import TrainConfig, train

    model = dcgan.Model(dcgan.Config.preset("classic64"))
    data, _ = real_batches(torch.device("cpu"), batch_size)
    with tempfile.TemporaryDirectory() as out:
        config = TrainConfig(steps=warmup + steps, batch_size=batch_size, out=out, device=str(device), precision=precision,
                             channels_last=channels_last, sample_every=0, checkpoint_every=0, log_every=25,
                             progress=False)
        history = train(model, data, config)
    # per-step wall time as the loop measured it; on CUDA the loop syncs only when it logs,
    # so use the total instead
    if device.type == "cuda":
        total = sum(row["seconds"] for row in history[warmup:])
        return [total / steps] * steps
    return [row["seconds"] for row in history[warmup:]]


def child(args) -> None:
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.variant == "plain":
        times = run_plain(device, args.steps, args.batch_size, args.warmup)
    else:
        precision = "bf16" if args.variant.startswith("gan_lab_bf16") else "fp32"
        times = run_gan_lab(device, args.steps, args.batch_size, args.warmup, precision=precision,
                            channels_last=args.variant.endswith("_cl"))
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps({"variant": args.variant, "ms_per_step": 1000 * statistics.median(times), "peak_mib": peak}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5, help="measured steps per process")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="processes per variant, interleaved")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        return child(args)

    from gan_lab.utils import native_bf16

    bf16 = native_bf16(torch.device(args.device))
    variants = ["plain", "gan_lab"] + (["gan_lab_bf16", "gan_lab_bf16_cl"] if bf16 else [])
    if not bf16:
        print(f"{args.device}: no native bf16, the bf16 variants are left out", flush=True)
    results = {v: [] for v in variants}
    for r in range(args.repeats):
        for v in variants:
            cmd = [sys.executable, __file__, "--variant", v, "--device", args.device, "--batch-size",
                   str(args.batch_size), "--steps", str(args.steps), "--warmup", str(args.warmup),
                   "--threads", str(args.threads)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            results[v].append(json.loads(out))
            print(f"repeat {r + 1}/{args.repeats} {v:16s} {results[v][-1]['ms_per_step']:8.1f} ms/step", flush=True)

    print(f"\nDCGAN 64 px, batch {args.batch_size}, {args.device}, {args.repeats} processes x {args.steps} steps "
          f"(medians)")
    print(f"{'variant':18s} {'ms/step':>9s} {'images/s':>9s} {'peak MiB':>9s}")
    summary = {}
    for v in variants:
        ms = statistics.median(r["ms_per_step"] for r in results[v])
        peak = statistics.median(r["peak_mib"] for r in results[v])
        summary[v] = ms
        print(f"{v:18s} {ms:9.1f} {1000 * args.batch_size / ms:9.1f} {peak:9.0f}")
    for v in variants[1:]:
        print(f"speed-up of {v} over the plain loop: {summary['plain'] / summary[v]:.2f}x")


if __name__ == "__main__":
    main()
