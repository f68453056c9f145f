"""Does every family learn? Short CPU runs on real Fashion-MNIST at 28 px, one per family.

Each run uses the shared loop (``gan_lab.train.train``), writes an ordinary run directory
(``history.csv``, ``samples/step_*.png``, ``checkpoints/last.pt``) and is scored with the
classifier-feature Fréchet distance (``gan_lab.metrics.classifier``; NOT the FID: features of a small
Fashion-MNIST classifier, 1,000 generated images against the 10,000 test images) at step 0 and
every ``--every`` steps. The table printed at the end (and ``summary.json``) gives, per run:
seconds per step, the distance at step 0 and at the end, and the last 100 steps' mean of the
logged losses.

    python benchmarks/families_fmnist.py --steps 2000 --out runs/families
    python benchmarks/families_fmnist.py --runs dnfm-ablation --steps 1000 --out runs/dnfm-study

``--runs`` names a group below or single entries (``dcgan``, ``dnfm-l1=0.5`` ...). All nets use
ngf = ndf = 32 to keep a CPU run in minutes; the rest are each family's defaults at 28 px.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from gan_lab.metrics.classifier import ClassifierFDTracker, classifier_frechet_distance, load_classifier
from gan_lab.data import load_data
from gan_lab.models import get_family, make_config
from gan_lab.train import TrainConfig, train
from gan_lab.utils import seed_everything

WIDTH = dict(ngf=32, ndf=32)
S05 = dict(WIDTH, nef=32, noise_std=0.5)

#: run name -> (family, Config overrides beyond image_size=28, channels=1)
RUNS: dict[str, tuple[str, dict]] = {
    "vanilla": ("vanilla", {}),
    "dcgan": ("dcgan", WIDTH),
    "wgan-gp": ("wgan-gp", WIDTH),
    "wgan-clip": ("wgan-clip", WIDTH),
    "vaegan": ("vaegan", dict(WIDTH, nef=32)),
    "improved-dcgan": ("improved-dcgan", WIDTH),
    "improved-dcgan-ns": ("improved-dcgan", dict(WIDTH, g_loss="nonsaturating")),   # minibatch disc. + -log D
    "dnfm": ("dnfm", dict(WIDTH, nef=32)),
    # the thesis's ablation (switch the three parts on one by one) and the weights around them,
    # at sigma = 0.5, the setting of the DNFM table in benchmarks/README.md; "dnfm" is the default
    # (sigma = 0.1)
    "dnfm-none": ("dnfm", dict(S05, denoise=False, augment_d=False, std_weight=0.0)),
    "dnfm-denoise": ("dnfm", dict(S05, denoise=True, augment_d=False, std_weight=0.0)),
    "dnfm-denoise-aug": ("dnfm", dict(S05, denoise=True, augment_d=True, std_weight=0.0)),
    "dnfm-sigma=0.5": ("dnfm", S05),
    "dnfm-sigma=1": ("dnfm", dict(S05, noise_std=1.0)),
    "dnfm-l1=0.005": ("dnfm", dict(S05, noise_weight=0.005)),
    "dnfm-l1=0.5": ("dnfm", dict(S05, noise_weight=0.5)),
    "dnfm-l2=5": ("dnfm", dict(S05, std_weight=5.0)),
}
GROUPS = {
    "families": ["vanilla", "dcgan", "wgan-gp", "wgan-clip", "vaegan", "improved-dcgan", "improved-dcgan-ns", "dnfm"],
    "dnfm-ablation": ["dnfm-none", "dnfm-denoise", "dnfm-denoise-aug", "dnfm-sigma=0.5"],
    "dnfm-weights": ["dnfm-l1=0.005", "dnfm-sigma=0.5", "dnfm-l1=0.5", "dnfm-l2=5", "dnfm", "dnfm-sigma=1"],
}


def expand(names: list[str]) -> list[str]:
    out: list[str] = []
    for name in names:
        for run in GROUPS.get(name, [name]):
            if run not in RUNS:
                sys.exit(f"unknown run {run!r}; choose from {', '.join([*GROUPS, *RUNS])}")
            if run not in out:
                out.append(run)
    return out


def tail_means(history: list[dict], n: int = 100) -> dict:
    rows = history[-n:]
    keys = [k for k in rows[0] if k not in ("step", "seconds")] if rows else []
    return {k: sum(float(r[k]) for r in rows) / len(rows) for k in keys}


def run_one(name: str, args, data, classifier) -> dict:
    family_name, overrides = RUNS[name]
    config = make_config(family_name, image_size=28, channels=1, **overrides)
    seed_everything(args.seed)
    model = get_family(family_name).Model(config)
    out = Path(args.out) / name
    fd0 = classifier_frechet_distance(model, n=args.n, classifier=classifier)["value"]
    tracker = ClassifierFDTracker(every=args.every, n=args.n)
    tconfig = TrainConfig(steps=args.steps, batch_size=args.batch_size, seed=args.seed, out=str(out),
                          device=getattr(args, "device", "cpu"), sample_every=args.every, checkpoint_every=args.steps,
                          progress=not args.quiet, precision=getattr(args, "precision", "fp32"))
    start = time.perf_counter()
    history = train(model, data, tconfig, callbacks=[tracker])
    seconds = time.perf_counter() - start
    result = {"run": name, "family": family_name, "config": config.to_dict(), "steps": args.steps,
              "precision": "bf16" if model.amp else "fp32",
              "batch_size": args.batch_size, "s_per_step": seconds / args.steps,
              "fd_classifier": {"0": fd0, **{str(s): v for s, v in zip(tracker.steps, tracker.values)}},
              "last100": tail_means(history)}
    (out / "result.json").write_text(json.dumps(result, indent=2))
    return result


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", nargs="+", default=["families"], help="groups or run names (default: families)")
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--every", type=int, default=500, help="distance and sample grid every N steps")
    p.add_argument("--n", type=int, default=1000, help="generated images per distance")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--out", default="runs/families")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    names = expand(args.runs)
    data = load_data("fashion-mnist", image_size=28, channels=1)
    classifier = load_classifier("fashion-mnist")
    results = []
    for name in names:
        results.append(run_one(name, args, data, classifier))
        r = results[-1]
        print(f"{name}: {r['s_per_step'] * 1000:.0f} ms/step, fd-classifier "
              + " -> ".join(f"{v:.1f}" for v in r["fd_classifier"].values()), flush=True)
    summary = Path(args.out) / "summary.json"
    previous = json.loads(summary.read_text()) if summary.exists() else {}
    previous.update({r["run"]: r for r in results})
    summary.write_text(json.dumps(previous, indent=2))
    print(f"\n{'run':<18} {'ms/step':>8} {'FD(step 0)':>11} {'FD(end)':>9}  last-100 means")
    for r in results:
        fds = list(r["fd_classifier"].values())
        means = ", ".join(f"{k} {v:.3f}" for k, v in r["last100"].items())
        print(f"{r['run']:<18} {r['s_per_step'] * 1000:>8.0f} {fds[0]:>11.1f} {fds[-1]:>9.1f}  {means}")
    print(f"\nrun directories and summary.json in {args.out} (fd-classifier is not FID)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
