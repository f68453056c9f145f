"""The Fréchet distance's two routes: symmetric eigenvalues (gan_lab's default) against pytorch-fid's
``scipy.linalg.sqrtm`` of the product, on the same statistics: seconds (medians) and the relative
difference of the values. With ``--features``, the route an FID from a run takes: ``n`` generated
feature vectors against cached-style reference statistics, by ``frechet_distance_from_features`` (an
``n x n`` eigenvalue problem when ``n <= d``) against both routes on the fitted statistics.

The statistics are the feature statistics FID uses (2048-d, Inception pool3) read from gan_lab's
cache (``~/.cache/gan_lab/stats/*inception-pool3*.npz``: every pair of cached files with the same
dimension, at most ``--pairs``), or, with ``--synthetic`` or when the cache holds fewer than two,
Gaussian features with a decaying spectrum at ``--n`` samples per side. This is a script, not a test.

    python benchmarks/bench_frechet.py --repeats 3
    python benchmarks/bench_frechet.py --synthetic --n 100 1000 5000
    python benchmarks/bench_frechet.py --features --n 100 500 2000
"""
from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gan_lab.metrics import frechet  # noqa: E402


def cached_pairs(limit: int):
    files = sorted((Path.home() / ".cache" / "gan_lab" / "stats").glob("*inception-pool3*.npz"))
    stats = [(f.name.split("-inception")[0], np.load(f)) for f in files]
    for (name_a, a), (name_b, b) in itertools.islice(itertools.combinations(stats, 2), limit):
        yield f"{name_a} / {name_b}", (a["mu"], a["sigma"], b["mu"], b["sigma"])


def synthetic_pairs(sizes, dims: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    scale = 1.0 / np.sqrt(1.0 + np.arange(dims))            # a decaying spectrum, as features have
    for n in sizes:
        a = rng.normal(size=(n, dims)) * scale
        b = rng.normal(size=(n, dims)) * scale * 1.1 + 0.05
        yield f"synthetic, {n} samples per side, {dims}-d", (*frechet.feature_statistics(a), *frechet.feature_statistics(b))


def timed(fn, repeats: int):
    times, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return value, statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=3, help="cached statistics pairs to compare")
    parser.add_argument("--synthetic", action="store_true", help="Gaussian features instead of the cache")
    parser.add_argument("--n", type=int, nargs="+", default=[100, 1000, 5000], help="samples per side (synthetic)")
    parser.add_argument("--dims", type=int, default=2048)
    parser.add_argument("--features", action="store_true",
                        help="n generated feature vectors against reference statistics (synthetic)")
    args = parser.parse_args()
    if args.features:
        return features_table(args)
    pairs = [] if args.synthetic else list(cached_pairs(args.pairs))
    if not pairs:
        pairs = list(synthetic_pairs(args.n, args.dims))
    print("| statistics | eigh (s) | sqrtm (s) | speed-up | relative difference |")
    print("|---|---|---|---|---|")
    for name, stats in pairs:
        fast, t_fast = timed(lambda: frechet.frechet_distance(*stats, method="eigh"), args.repeats)
        slow, t_slow = timed(lambda: frechet.frechet_distance(*stats, notes=[], method="pytorch-fid"), args.repeats)
        print(f"| {name} | {t_fast:.2f} | {t_slow:.2f} | {t_slow / t_fast:.1f}x | {abs(fast - slow) / abs(slow):.1e} |",
              flush=True)


def features_table(args) -> None:
    rng = np.random.default_rng(0)
    scale = 1.0 / np.sqrt(1.0 + np.arange(args.dims))
    mu_r, sigma_r = frechet.feature_statistics(rng.normal(size=(max(5000, 2 * args.dims), args.dims)) * scale)
    print(f"| generated samples ({args.dims}-d) | from features (s) | eigh (s) | sqrtm (s) | speed-up over eigh | "
          f"relative difference to sqrtm |")
    print("|---|---|---|---|---|---|")
    for n in args.n:
        fake = rng.normal(size=(n, args.dims)) * scale * 1.1 + 0.05
        stats = (*frechet.feature_statistics(fake), mu_r, sigma_r)
        value, t_features = timed(lambda: frechet.frechet_distance_from_features(fake, mu_r, sigma_r), args.repeats)
        _, t_eigh = timed(lambda: frechet.frechet_distance(*stats, method="eigh"), args.repeats)
        slow, t_slow = timed(lambda: frechet.frechet_distance(*stats, notes=[], method="pytorch-fid"), args.repeats)
        print(f"| {n} | {t_features:.2f} | {t_eigh:.2f} | {t_slow:.2f} | {t_eigh / t_features:.1f}x | "
              f"{abs(value - slow) / abs(slow):.1e} |", flush=True)


if __name__ == "__main__":
    main()
