"""FID of N generated images: gan_lab's in-memory path vs writing PNGs and running pytorch-fid's CLI.

Both paths use the same Inception weights (the file in torch hub's checkpoint folder) and the same
real-data statistics (gan_lab computes them once and hands pytorch-fid the same numbers as an
``.npz``), so the two FIDs must agree and the timings compare only the generated side:

* in memory: build pytorch-fid's InceptionV3, generate in batches on the device, features,
  statistics, ``calculate_frechet_distance``;
* PNG round trip: generate, save every image as a PNG (torchvision ``save_image``), then
  ``python -m pytorch_fid FAKE_DIR REAL.npz`` in a fresh process.

Also measured: real-data statistics computed from the images (uncached) vs read from the cache.
Each timing is repeated ``--repeats`` times; medians are printed. This is a script, not a test.

    python benchmarks/bench_fid.py --n 100 --repeats 3
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gan_lab.metrics import frechet, store  # noqa: E402
from gan_lab.metrics.weights import ensure_inception_weights  # noqa: E402


def build_generator(checkpoint: str | None, device: torch.device):
    if checkpoint:
        from gan_lab.checkpoint import load_checkpoint

        model, payload = load_checkpoint(checkpoint, map_location=device)
        return model, payload.get("train_config", {}).get("data", "fashion-mnist")
    from gan_lab.models import get_family

    torch.manual_seed(0)
    family = get_family("dcgan")
    return family.Model(family.Config.tiny(image_size=28, channels=1)).to(device), "fashion-mnist"


def in_memory_fid(model, n, mu_r, sigma_r, batch_size, device):
    """Returns (fid, seconds for network + generation + features, seconds for the distance)."""
    start = time.perf_counter()
    extractor = frechet.InceptionFeatures(device)
    feats = frechet.generator_features(model, n, extractor, batch_size, seed=0)
    mu_g, sigma_g = frechet.feature_statistics(feats)
    middle = time.perf_counter()
    fid = frechet.frechet_distance(mu_g, sigma_g, mu_r, sigma_r)
    return fid, middle - start, time.perf_counter() - middle


def png_cli_fid(model, n, real_npz, batch_size, device, workdir):
    """Returns (fid, seconds to generate and write PNGs, seconds of the pytorch-fid CLI process)."""
    from torchvision.utils import save_image

    start = time.perf_counter()
    fake_dir = Path(tempfile.mkdtemp(dir=workdir))
    index = 0
    for x_fake in frechet.generated_batches(model, n, batch_size, seed=0):
        for img in x_fake.cpu():
            save_image(img, fake_dir / f"{index:06d}.png", normalize=True, value_range=(-1, 1))
            index += 1
    middle = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "pytorch_fid", str(fake_dir), str(real_npz),
                             "--device", str(device), "--batch-size", str(batch_size), "--num-workers", "0"],
                            capture_output=True, text=True, check=True)
    return float(result.stdout.strip().rsplit(":", 1)[1]), middle - start, time.perf_counter() - middle


def timed(fn, repeats):
    """(last value, median seconds, all laps) of ``repeats`` calls."""
    laps, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        laps.append(time.perf_counter() - start)
    return value, float(np.median(laps)), laps


def _median(values):
    return float(np.median(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="generated (and real) images")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--checkpoint", default=None, help="a gan-lab checkpoint (default: an untrained tiny DCGAN)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    device = torch.device(args.device)
    weights = ensure_inception_weights()
    model, data = build_generator(args.checkpoint, device)
    c = model.config
    print(f"N = {args.n}, repeats = {args.repeats}, device {device}, torch threads {torch.get_num_threads()}")
    print(f"weights: {weights.source}")

    with tempfile.TemporaryDirectory() as workdir:
        os.environ["GAN_LAB_CACHE"] = str(Path(workdir) / "cache")        # a fresh statistics cache
        from gan_lab.data import load_data

        images = load_data(data, image_size=c.image_size, channels=c.channels, split="test").images
        extractor = frechet.InceptionFeatures(device)

        def real_stats(cache):
            return frechet.real_statistics(data, extractor, c.image_size, c.channels, args.n, "test",
                                           batch_size=args.batch_size, cache=cache)

        (mu_r, sigma_r, protocol), t_uncached, laps_uncached = timed(lambda: real_stats(False), args.repeats)
        real_stats(True)                                                   # fill the cache
        _, t_cached, laps_cached = timed(lambda: real_stats(True), args.repeats)
        real_npz = Path(workdir) / "real.npz"
        np.savez(real_npz, mu=mu_r, sigma=sigma_r)
        print(f"real statistics of {args.n} images: uncached {t_uncached:.2f} s, cached {t_cached:.3f} s "
              f"(ratio {t_uncached / t_cached:.0f}x; laps {[round(x, 2) for x in laps_uncached]} / "
              f"{[round(x, 3) for x in laps_cached]}); cache file {store.stats_path(protocol).name}")
        del images

        # the two paths alternate (A B A B ...) so that load drift on a shared machine hits both alike
        mem, png = [], []
        for _ in range(args.repeats):
            mem.append(in_memory_fid(model, args.n, mu_r, sigma_r, args.batch_size, device))
            png.append(png_cli_fid(model, args.n, real_npz, args.batch_size, device, workdir))
    fid_mem, fid_png = mem[-1][0], png[-1][0]
    t_mem = _median([a + b for _, a, b in mem])
    t_png = _median([a + b for _, a, b in png])
    print(f"FID in memory      : {fid_mem:.6f}  median {t_mem:.1f} s  laps {[round(a + b, 1) for _, a, b in mem]}")
    print(f"   of which network + generation + features {_median([a for _, a, _ in mem]):.1f} s, "
          f"distance (sqrtm) {_median([b for _, _, b in mem]):.1f} s")
    print(f"FID PNG + CLI      : {fid_png:.6f}  median {t_png:.1f} s  laps {[round(a + b, 1) for _, a, b in png]}")
    print(f"   of which generate + write PNGs {_median([a for _, a, _ in png]):.1f} s, "
          f"pytorch-fid process {_median([b for _, _, b in png]):.1f} s (includes its own sqrtm)")
    print(f"ratio PNG/in-memory: {t_png / t_mem:.2f}x   |FID difference| {abs(fid_mem - fid_png):.2e}")
    print(f"(FID at N={args.n} is far above its large-N value and only comparable at equal N)")


if __name__ == "__main__":
    main()
