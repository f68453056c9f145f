"""``gan-lab singan train|sample|paint|harmonize|edit``: SinGAN on one image.

``train`` writes a run directory through the shared loop (config.json, history.csv, samples/,
checkpoints/last.pt); the other commands read its checkpoint (or the run directory itself).
The library is imported when a command runs, so ``gan-lab --help`` stays fast.
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from gan_lab.cli.common import positive_int


def register_cli(subparsers) -> argparse.ArgumentParser:
    """Add ``singan`` with sub-commands train, sample, paint, harmonize, edit."""
    parser = subparsers.add_parser("singan", help="SinGAN: train on one image, sample, paint, harmonise, edit")
    sub = parser.add_subparsers(dest="singan_cmd", required=True)

    def common(p, needs_checkpoint=True):
        p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--threads", type=positive_int, help="CPU threads for torch (1 is often fastest for "
                                                            "SinGAN's small convolutions on a busy machine)")
        if needs_checkpoint:
            p.add_argument("--checkpoint", required=True,
                           help="RUN_DIR/checkpoints/last.pt written by 'gan-lab singan train', or RUN_DIR")
            p.add_argument("--out", required=True, help="output .png (one image or a grid) or a folder")
            p.add_argument("--n", type=positive_int, default=1, help="number of images")

    t = sub.add_parser("train", help="train a pyramid on one image; writes a run directory")
    t.add_argument("--image", help="image file, or skimage:NAME / sklearn:NAME (not needed with --resume)")
    t.add_argument("--out", required=True, help="run directory (config.json, history.csv, samples/, checkpoints/)")
    t.add_argument("--max-size", type=positive_int, help="longest side of the finest scale (paper: 250)")
    t.add_argument("--min-size", type=positive_int, help="shortest side of the coarsest scale (paper: 25)")
    t.add_argument("--scale-factor", type=float, help="initial scale factor r (paper: 0.75)")
    t.add_argument("--num-scales", type=positive_int, help="exactly N scales (default: as min size needs)")
    t.add_argument("--steps-per-scale", type=positive_int, help="iterations per scale (paper: 2000)")
    t.add_argument("--filters", type=positive_int, help="conv filters at the coarsest scale (paper: 32)")
    t.add_argument("--lr", type=float, help="learning rate of G and D (paper: 5e-4)")
    t.add_argument("--fast", "--tiny", action="store_true", help="tiny preset (seconds on a CPU)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from checkpoints/last.pt")
    t.add_argument("--no-progress", "--quiet", dest="quiet", action="store_true", help="no progress bar")
    common(t, needs_checkpoint=False)
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help="random samples, optionally of another size")
    common(s)
    s.add_argument("--scale-h", type=float, default=1.0, help="height multiplier (e.g. 1.5)")
    s.add_argument("--scale-w", type=float, default=1.0, help="width multiplier (e.g. 2 for a panorama)")
    s.add_argument("--start", type=int, default=0, help="start from the reconstruction below this scale")
    s.set_defaults(func=cmd_sample)

    for name, helptext, masked in [("paint", "paint-to-image", False),
                                   ("harmonize", "blend a pasted object into the image", True),
                                   ("edit", "re-render an edited region", True)]:
        p = sub.add_parser(name, help=helptext)
        common(p)
        p.add_argument("--image", required=True, help="the painting / composite / edited image")
        p.add_argument("--inject-scale", type=int, default=1 if not masked else None,
                       help="scale at which the image is injected (1 = coarse changes ... N-1 = fine only)")
        if masked:
            p.add_argument("--mask", required=True, help="black-and-white PNG, white = changed region")
            p.add_argument("--dilation", type=int, help="mask dilation radius in pixels")
            p.set_defaults(func=cmd_masked)
        else:
            p.set_defaults(func=cmd_paint)
    return parser


def config_from_args(args: argparse.Namespace):
    """Map command-line flags onto SinGAN's Config (``--fast`` starts from the tiny preset)."""
    from gan_lab.models.singan import Config
    from gan_lab.utils import GanLabError

    base = Config.tiny() if args.fast else Config()
    overrides = {}
    for flag, field_name in [("max_size", "image_size"), ("min_size", "min_size"),
                             ("scale_factor", "scale_factor"), ("num_scales", "num_scales"),
                             ("steps_per_scale", "steps_per_scale"), ("filters", "filters")]:
        if getattr(args, flag, None) is not None:
            overrides[field_name] = getattr(args, flag)
    if args.lr is not None:
        overrides.update(lr_g=args.lr, lr_d=args.lr)
    if "filters" in overrides:
        overrides.setdefault("max_filters", max(base.max_filters, overrides["filters"]))
    try:
        return replace(base, **overrides)
    except ValueError as exc:
        raise GanLabError(f"invalid SinGAN setting: {exc}") from exc


def image_from_spec(spec: str):
    """An image file, or a bundled one: ``skimage:NAME`` (e.g. ``skimage:chelsea``) or
    ``sklearn:china.jpg``; (1, 3, H, W) in [-1, 1] at full size (SinGAN resizes it itself)."""
    from gan_lab.data import load_image
    from gan_lab.models.singan import as_image_tensor
    from gan_lab.utils import GanLabError

    spec = str(spec)
    if spec.startswith("skimage:"):
        import skimage.data

        name = spec.split(":", 1)[1]
        fn = getattr(skimage.data, name, None)
        if fn is None or not callable(fn):
            raise GanLabError(f"scikit-image has no sample image {name!r} (try chelsea, coffee, astronaut)")
        return as_image_tensor(fn())
    if spec.startswith("sklearn:"):
        from sklearn.datasets import load_sample_image

        name = spec.split(":", 1)[1]
        try:
            return as_image_tensor(load_sample_image(name))
        except AttributeError as exc:
            raise GanLabError(f"scikit-learn has no sample image {name!r} (try china.jpg or flower.jpg)") from exc
    return load_image(spec, channels=3)


def read_mask(path: str):
    """A mask file as (1, 1, H, W) in {0, 1}: pixels brighter than mid-grey mark the edited region."""
    from gan_lab.data import load_image
    from gan_lab.models.singan import as_mask_tensor

    return as_mask_tensor(load_image(path, channels=1) > 0)


def save_images(x, path: str | Path) -> list[Path]:
    """Write (N, 3, H, W) images: a file path gets one image (N = 1) or a grid; a folder gets one file each."""
    from PIL import Image
    from torchvision.utils import make_grid

    from gan_lab.data import to_uint8

    def write(image, target: Path) -> None:          # image: (3, H, W) in [-1, 1]
        Image.fromarray(to_uint8(image).permute(1, 2, 0).cpu().numpy()).save(target)

    path = Path(path)
    if path.suffix.lower() in (".png", ".jpg", ".jpeg"):
        path.parent.mkdir(parents=True, exist_ok=True)
        image = x[0] if x.shape[0] == 1 else make_grid(x.detach().float().clamp(-1, 1).cpu(),
                                                       nrow=min(4, x.shape[0]), padding=2, pad_value=1.0)
        write(image, path)
        return [path]
    path.mkdir(parents=True, exist_ok=True)
    out = [path / f"sample_{i:03d}.png" for i in range(x.shape[0])]
    for image, target in zip(x, out):
        write(image, target)
    return out


def _set_threads(args) -> None:
    import torch

    if args.threads is not None:
        torch.set_num_threads(args.threads)


def cmd_train(args) -> int:
    from gan_lab.checkpoint import build_from_payload
    from gan_lab.models.singan import Model
    from gan_lab.run import RunDir
    from gan_lab.train import TrainConfig, train
    from gan_lab.utils import GanLabError, seed_everything

    _set_threads(args)
    run = RunDir(args.out)
    if args.resume:
        if not run.has_checkpoint():
            raise GanLabError(f"--resume: {run.last_checkpoint} does not exist; run without --resume to start")
        payload = run.checkpoint_payload()
        if payload["family"] != Model.family:
            raise GanLabError(f"{run.path} holds a {payload['family']} run, not a SinGAN one; use gan-lab train --resume")
        seed_everything(payload["train_config"]["seed"])
        model = build_from_payload(payload)
        config = TrainConfig(**{**payload["train_config"], "steps": model.total_steps, "out": str(run.path),
                                "device": args.device, "progress": not args.quiet})
    else:
        if args.image is None:
            raise GanLabError("--image is required to start a run (only --resume reads it from the checkpoint)")
        model_config = config_from_args(args)
        image = image_from_spec(args.image)
        seed_everything(args.seed)
        model = Model.from_image(image, model_config)
        per_scale = model_config.steps_per_scale
        config = TrainConfig(steps=model.total_steps, batch_size=1, seed=args.seed, out=str(run.path),
                             data=str(args.image), device=args.device, sample_every=per_scale,
                             checkpoint_every=per_scale, log_every=min(25, per_scale), n_samples=4,
                             progress=not args.quiet)
    train(model, model.stream(), config, resume=args.resume)
    print(f"trained {model.num_scales} scales {model.sizes[0]}..{model.sizes[-1]}; run directory {run.path} "
          f"(checkpoint {run.last_checkpoint})")
    return 0


def load_for_task(args):
    """The trained pyramid of ``--checkpoint`` (a .pt file or a run directory), on ``--device``."""
    from gan_lab.checkpoint import load_checkpoint, load_file
    from gan_lab.run import RunDir
    from gan_lab.utils import GanLabError, pick_device

    _set_threads(args)
    path = Path(args.checkpoint)
    if path.is_dir():
        path = RunDir(path).last_checkpoint
    family = load_file(path).get("family")
    if family != "singan":
        raise GanLabError(f"{path} holds a {family!r} checkpoint, not a SinGAN pyramid; use "
                          f"'gan-lab sample' for it, or pass a run written by 'gan-lab singan train'")
    model, _ = load_checkpoint(path, map_location=pick_device(args.device))
    return model.eval()


def cmd_sample(args) -> int:
    model = load_for_task(args)
    x = model.sample(args.n, scale_h=args.scale_h, scale_w=args.scale_w, start=args.start, seed=args.seed)
    paths = save_images(x, args.out)
    print(f"wrote {len(paths)} file(s): {paths[0]}{' ...' if len(paths) > 1 else ''}")
    return 0


def cmd_paint(args) -> int:
    from gan_lab.models.singan import paint

    model = load_for_task(args)
    save_images(paint(model, image_from_spec(args.image), inject_scale=args.inject_scale, n=args.n, seed=args.seed),
                args.out)
    print(f"wrote {args.out}")
    return 0


def cmd_masked(args) -> int:
    from gan_lab.models.singan import edit, harmonize

    model = load_for_task(args)
    task = harmonize if args.singan_cmd == "harmonize" else edit
    x = task(model, image_from_spec(args.image), read_mask(args.mask), inject_scale=args.inject_scale,
             dilation=args.dilation, n=args.n, seed=args.seed)
    save_images(x, args.out)
    print(f"wrote {args.out}")
    return 0
