"""Write a tiny data set in the CelebA on-disk layout, for tests of the CelebA code path.

CelebA itself cannot be fetched here (see data/README.md). The fixture copies only its *format*:

    ROOT/celeba/img_align_celeba/000001.jpg ...   178 x 218 JPEG files
    ROOT/celeba/list_eval_partition.txt           "000001.jpg 0" (0 train, 1 valid, 2 test)

The pictures are simple drawn shapes (an ellipse with two dots on a plain background), made from a
seed; they are test input, not faces, and nothing trained on them is ever shown as a result.

    python data/make_celeba_fixture.py ROOT [--n 10] [--seed 0]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

WIDTH, HEIGHT = 178, 218


def make_celeba_fixture(root: str | Path, n: int = 10, seed: int = 0) -> Path:
    """Create ``n`` images and the partition file under ``root/celeba``; return the celeba folder.

    Split: the first 60 % train, the next 20 % valid, the rest test (at least one image each
    when n >= 3).
    """
    rng = np.random.default_rng(seed)
    base = Path(root) / "celeba"
    images = base / "img_align_celeba"
    images.mkdir(parents=True, exist_ok=True)
    n_train = max(1, int(round(0.6 * n)))
    n_valid = max(1, int(round(0.2 * n))) if n >= 3 else 0
    lines = []
    for i in range(n):
        background = tuple(int(v) for v in rng.integers(0, 256, 3))
        skin = tuple(int(v) for v in rng.integers(80, 256, 3))
        im = Image.new("RGB", (WIDTH, HEIGHT), background)
        draw = ImageDraw.Draw(im)
        cx, cy = WIDTH // 2 + int(rng.integers(-10, 11)), HEIGHT // 2 + int(rng.integers(-10, 11))
        rx, ry = int(rng.integers(45, 70)), int(rng.integers(60, 90))
        draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=skin)
        for dx in (-rx // 2, rx // 2):
            draw.ellipse([cx + dx - 6, cy - ry // 3 - 6, cx + dx + 6, cy - ry // 3 + 6], fill=(20, 20, 20))
        name = f"{i + 1:06d}.jpg"
        im.save(images / name, quality=90)
        split = 0 if i < n_train else (1 if i < n_train + n_valid else 2)
        lines.append(f"{name} {split}")
    (base / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    return base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root")
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(make_celeba_fixture(args.root, args.n, args.seed))


if __name__ == "__main__":
    main()
