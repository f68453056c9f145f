"""``gan-lab eval`` and ``gan-lab fid``."""
from __future__ import annotations

from pathlib import Path

from gan_lab.cli.common import positive_int


def register_cli(subparsers) -> None:
    e = subparsers.add_parser(
        "eval", help="score a checkpoint: FID, Inception Score, classifier-feature distance",
        description="Generate images from a checkpoint's generator (in memory, in batches) and score them. "
                    "Scores are added to the run directory's metrics.json with their protocol.")
    e.add_argument("--checkpoint", required=True, help="a .pt file written by gan-lab train")
    e.add_argument("--metrics", default="fid", help="comma-separated: fid, is, fd-classifier (default: fid)")
    e.add_argument("--n", type=positive_int, default=1000, help="generated images (default 1000)")
    e.add_argument("--n-real", type=positive_int, default=None,
                   help="real images for FID (default: --n); fd-classifier uses the whole split by default")
    e.add_argument("--data", default=None, help="reference data (default: what the run trained on)")
    e.add_argument("--data-root", default=None, help="where the reference data lives")
    e.add_argument("--split", default="test", help="reference split (default: test)")
    e.add_argument("--seed", type=int, default=0, help="seed of the latent codes (default 0)")
    e.add_argument("--batch-size", type=positive_int, default=50)
    e.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cpu, cuda, cuda:N, mps")
    e.add_argument("--no-ema", action="store_true", help="score G even if the run kept an EMA copy")
    e.add_argument("--no-cache", action="store_true", help="recompute the real-data statistics")
    e.add_argument("--out", default=None, help="metrics.json to add the scores to (default: the run directory's)")
    e.add_argument("--no-progress", action="store_true")
    e.set_defaults(func=cmd_eval)

    f = subparsers.add_parser(
        "fid", help="FID between two image folders (same result as python -m pytorch_fid)",
        description="FID between two folders of images (or pytorch-fid .npz statistics files), with "
                    "pytorch-fid's Inception network and distance.")
    f.add_argument("paths", nargs=2, metavar="DIR", help="two image folders (or .npz files with mu, sigma)")
    f.add_argument("--batch-size", type=positive_int, default=50)
    f.add_argument("--device", default="auto")
    f.add_argument("--dims", type=int, default=2048, choices=(64, 192, 768, 2048),
                   help="Inception features (as pytorch-fid's --dims); only 2048 gives the FID")
    f.add_argument("--no-progress", action="store_true")
    f.set_defaults(func=cmd_fid)


def cmd_eval(args) -> int:
    from gan_lab.checkpoint import load_checkpoint
    from gan_lab.metrics.evaluate import evaluate, format_score, parse_metrics
    from gan_lab.run import RunDir, read_metrics, save_scores
    from gan_lab.utils import GanLabError, pick_device

    metrics = parse_metrics(args.metrics)
    checkpoint = Path(args.checkpoint)
    out = Path(args.out) if args.out else RunDir.of_checkpoint(checkpoint).metrics_path
    read_metrics(out)                                  # a broken metrics.json stops us before any work
    device = pick_device(args.device)
    model, payload = load_checkpoint(checkpoint, map_location=device)
    data = args.data or payload.get("train_config", {}).get("data")
    if data is None:
        raise GanLabError(f"{checkpoint} does not say what data it was trained on; pass --data")
    scores = evaluate(model, metrics, n=args.n, data=data, n_real=args.n_real, split=args.split, seed=args.seed,
                      batch_size=args.batch_size, use_ema=not args.no_ema, root=args.data_root,
                      cache=not args.no_cache, step=payload.get("step"), checkpoint=str(checkpoint.resolve()),
                      progress=not args.no_progress)
    path = save_scores(out, scores)
    print(f"{payload['family']} at step {payload.get('step')} vs {data} ({args.split}):")
    for score in scores:
        print("  " + format_score(score))
    print(f"saved to {path}")
    return 0


def cmd_fid(args) -> int:
    from gan_lab.metrics.frechet import fid_folders
    from gan_lab.utils import pick_device

    score = fid_folders(args.paths[0], args.paths[1], device=pick_device(args.device),
                        batch_size=args.batch_size, progress=not args.no_progress, dims=args.dims)
    p = score["protocol"]
    print(f"{score['label']}: {score['value']}")
    print(f"  ({p['n_a']} vs {p['n_b']} images; weights: {p['weights']})")
    if score.get("note"):
        print(f"  note: {score['note']}")
    return 0
