"""Does bf16 autocast train as well as fp32? DCGAN, WGAN-GP and DNFM-GAN on Fashion-MNIST 28 px.

For each family, each seed and each precision: one run of ``--steps`` steps (the settings of
``families_fmnist.py``: batch 64, ngf = ndf = 32, CPU), scored at the end by the classifier
distance (Fréchet distance of a small Fashion-MNIST classifier's features, 1,000 generated
images against the 10,000 test images; not FID). The table gives, per family, the mean ± std
over seeds of each precision, the seconds per step, and whether bf16's mean lies inside fp32's
seed spread (|mean_bf16 - mean_fp32| <= std_fp32, and, more leniently, inside fp32's min-max range).
A family whose bf16 mean is inside the spread gets ``bf16_parity = True``: then
``precision="auto"`` trains it in bf16 where the hardware runs bf16 natively.

    python benchmarks/precision_parity.py --steps 2000 --seeds 0 1 2 --out runs/parity

Runs already finished in ``--out`` (their result.json exists) are read, not rerun, so an
interrupted sweep goes on where it stopped. Writes ``summary.json`` and ``summary.md`` there.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from families_fmnist import RUNS, run_one  # noqa: E402

from gan_lab.data import load_data  # noqa: E402
from gan_lab.metrics.classifier import load_classifier  # noqa: E402
from gan_lab.utils import cpu_has_native_bf16  # noqa: E402

FAMILIES = ("dcgan", "wgan-gp", "dnfm")


def final_distance(result: dict) -> float:
    return list(result["fd_classifier"].values())[-1]


def summarise(results: dict, families, seeds) -> list[dict]:
    rows = []
    for family in families:
        row = {"family": family}
        for precision in ("fp32", "bf16"):
            runs = [results.get(f"{family}/{precision}/seed{s}") for s in seeds]
            runs = [r for r in runs if r is not None]
            values = [final_distance(r) for r in runs]
            row[precision] = {
                "values": values,
                "mean": statistics.fmean(values) if values else float("nan"),
                "std": statistics.stdev(values) if len(values) > 1 else float("nan"),
                "ms_per_step": 1000 * statistics.median(r["s_per_step"] for r in runs) if runs else float("nan"),
            }
        a, b = row["fp32"], row["bf16"]
        row["inside_std"] = bool(abs(b["mean"] - a["mean"]) <= a["std"])
        row["inside_range"] = bool(a["values"] and min(a["values"]) <= b["mean"] <= max(a["values"]))
        row["speedup"] = a["ms_per_step"] / b["ms_per_step"]
        rows.append(row)
    return rows


def device_label(device: str) -> str:
    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name(torch.device(device))} (CUDA)"
    return f"CPU ({torch.get_num_threads()} threads, native bf16: {cpu_has_native_bf16()})"


def markdown(rows: list[dict], args) -> str:
    lines = [f"Fashion-MNIST 28 px, {args.steps} steps, batch {args.batch_size}, seeds {' '.join(map(str, args.seeds))}, "
             f"{device_label(args.device)}. Classifier distance "
             f"at the end (lower is better), mean ± std over seeds.", "",
             "| family | fp32 | bf16 | bf16 inside fp32 mean ± std | inside fp32 min-max | ms/step fp32 | ms/step bf16 | speed-up |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        a, b = r["fp32"], r["bf16"]
        lines.append(f"| {r['family']} | {a['mean']:.0f} ± {a['std']:.0f} | {b['mean']:.0f} ± {b['std']:.0f} | "
                     f"{'yes' if r['inside_std'] else 'no'} | {'yes' if r['inside_range'] else 'no'} | "
                     f"{a['ms_per_step']:.0f} | {b['ms_per_step']:.0f} | {r['speedup']:.2f}× |")
    lines += ["", "Per seed (fp32 / bf16): " + "; ".join(
        f"{r['family']}: " + ", ".join(f"{x:.0f}/{y:.0f}" for x, y in zip(r['fp32']['values'], r['bf16']['values']))
        for r in rows)]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--families", nargs="+", default=list(FAMILIES), choices=sorted(RUNS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--n", type=int, default=1000, help="generated images per distance")
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"],
                   help="train only these (e.g. one per process to run the sweep in parallel on a GPU)")
    p.add_argument("--summary-only", action="store_true", help="train nothing: tabulate the finished runs in --out")
    p.add_argument("--device", default="cpu", help="cpu (the default, the setting of the table) or cuda")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--limit", type=int, default=None, help=argparse.SUPPRESS)   # smoke tests only
    p.add_argument("--out", default="runs/parity")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    out = Path(args.out)
    if not args.summary_only:
        data = load_data("fashion-mnist", image_size=28, channels=1, limit=args.limit)
        classifier = load_classifier("fashion-mnist")
    results = {}
    for family in args.families:
        for seed in args.seeds:
            for precision in ("fp32", "bf16"):
                key = f"{family}/{precision}/seed{seed}"
                done = out / key / family / "result.json"
                if done.exists():
                    results[key] = json.loads(done.read_text())
                    continue
                if precision not in args.precisions or args.summary_only:
                    continue
                run_args = argparse.Namespace(steps=args.steps, batch_size=args.batch_size, every=args.steps,
                                              n=args.n, seed=seed, out=str(out / key), quiet=args.quiet,
                                              precision=precision, device=args.device)
                results[key] = run_one(family, run_args, data, classifier)
                print(f"{key}: {final_distance(results[key]):.0f} "
                      f"({results[key]['s_per_step'] * 1000:.0f} ms/step)", flush=True)
    rows = summarise(results, args.families, args.seeds)
    (out / "summary.json").write_text(json.dumps(rows, indent=2))
    text = markdown(rows, args)
    (out / "summary.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
