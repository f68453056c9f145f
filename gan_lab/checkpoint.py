"""Checkpoints: dicts of state_dicts, written atomically, loaded with ``weights_only=True``.

A checkpoint file holds::

    {
        "format_version": 1,
        "family": "dcgan",                    # models registry name
        "model_config": {...},                # asdict(model.config)
        "train_config": {...},                # asdict(TrainConfig) (+ the data spec)
        "step": 1200,                         # training steps completed
        "batches_seen": 1200,                 # real batches drawn from the BatchStream
        "state": model.state_dict(),          # G, D, extra nets, G_ema
        "optimizers": {"G": ..., "D": ...},
        "rng": gan_lab.utils.get_rng_state(),
    }

Everything in it is a tensor, a number, a string or a container of those, so it loads
with ``torch.load(weights_only=True)``: opening a checkpoint never runs code from it.
"""
from __future__ import annotations

import os
import pickle
import struct
import re
import warnings
import zipfile
from pathlib import Path

import torch

from gan_lab.models import get_family
from gan_lab.utils import GanLabError, atomic_write, get_rng_state, set_rng_state

#: 2: schedulers and init_kwargs are saved; the DCGAN discriminator is nn.ConvDiscriminator (other key
#: names, a linear score instead of a final convolution), so format-1 DCGAN weights no longer fit.
FORMAT_VERSION = 2


def atomic_save(obj, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file in the same folder, then rename over ``path``.

    A crash or Ctrl-C during the write leaves the previous file intact.
    """
    return atomic_write(path, lambda fh: torch.save(obj, fh))


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def load_file(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a file written by :func:`atomic_save`, safely (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise GanLabError(f"checkpoint {path} does not exist; pass the path of a .pt file written by gan-lab "
                          f"(e.g. RUN_DIR/checkpoints/last.pt)")
    try:
        with warnings.catch_warnings():
            # a file that is not a checkpoint can declare any pickle protocol; the error below says what it is
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only load failed" not in str(exc).lower() or not zipfile.is_zipfile(path):
            raise GanLabError(f"{path} is not a readable gan-lab checkpoint (UnpicklingError: "
                              f"{_ANSI.sub('', str(exc)).strip().splitlines()[0] if str(exc).strip() else 'empty'}); "
                              f"it may be truncated or from another program") from None
        raise GanLabError(f"{path} contains pickled Python objects, which gan_lab never writes; it will not be "
                          f"loaded because loading it could run code; use a checkpoint written by gan-lab "
                          f"(RUN_DIR/checkpoints/last.pt)") from None
    # random bytes can also stop torch's unpickler with an IndexError or KeyError (an empty stack, a missing memo
    # entry): every failure to parse the file is a file that is not a checkpoint
    except (RuntimeError, zipfile.BadZipFile, EOFError, ValueError, IndexError, KeyError, TypeError,
            AttributeError, OverflowError, MemoryError, struct.error, UnicodeDecodeError) as exc:
        first = _ANSI.sub("", str(exc)).splitlines()[0] if str(exc).strip() else "empty"
        raise GanLabError(f"{path} is not a readable gan-lab checkpoint ({type(exc).__name__}: "
                          f"{first}); it may be truncated or from another program") from None
    if not isinstance(obj, dict) or "format_version" not in obj:
        raise GanLabError(f"{path} is a torch file but not a gan-lab checkpoint (no format_version)")
    version = obj["format_version"]
    if type(version) is not int or version < 1:
        raise GanLabError(f"{path} has format_version {version!r}, not a whole number >= 1; "
                          f"it is damaged or not a gan-lab checkpoint")
    if version > FORMAT_VERSION:
        raise GanLabError(f"{path} has checkpoint format {obj['format_version']}, newer than this gan_lab "
                          f"understands ({FORMAT_VERSION}); upgrade gan_lab")
    _check_payload(obj, path)
    return obj


#: what every checkpoint holds, and the type each entry must have (optional entries may be absent)
_REQUIRED = {"family": str, "model_config": dict, "step": int, "state": dict}
_OPTIONAL = {"train_config": dict, "batches_seen": int, "optimizers": dict, "schedulers": dict,
             "init_kwargs": dict, "rng": dict}


def _check_payload(obj: dict, path: Path) -> None:
    """Refuse a loadable dict that is not a whole checkpoint, naming the first thing wrong."""
    problems = [f"no {key!r}" for key in _REQUIRED if key not in obj]
    for key, kind in {**_REQUIRED, **_OPTIONAL}.items():
        if key in obj and (not isinstance(obj[key], kind) or (kind is int and isinstance(obj[key], bool))):
            problems.append(f"{key!r} is a {type(obj[key]).__name__}, not a {kind.__name__}")
    if "state" in obj and isinstance(obj["state"], dict):
        bad = [k for k, v in obj["state"].items() if not torch.is_tensor(v)]
        if bad:
            problems.append(f"'state' holds non-tensors (e.g. {bad[0]!r})")
    if "step" in obj and isinstance(obj["step"], int) and obj["step"] < 0:
        problems.append(f"'step' is {obj['step']}")
    if problems:
        raise GanLabError(f"{path} is damaged or not a gan-lab checkpoint: {'; '.join(problems[:3])}; "
                          f"use another checkpoint (e.g. a kept step_XXXXXX.pt) or start a new run")


def bare_state_dict(model: torch.nn.Module) -> dict:
    """``model.state_dict()`` with DistributedDataParallel's ``module.`` level removed from the keys."""
    return {key.replace(".module.", "."): value for key, value in model.state_dict().items()}


def save_checkpoint(path, model, step: int, train_config: dict | None = None,
                    batches_seen: int | None = None, extra: dict | None = None) -> Path:
    """Write everything needed to resume ``model`` exactly at ``step``."""
    payload = {
        "format_version": FORMAT_VERSION,
        "family": model.family,
        "model_config": model.config.to_dict(),
        "train_config": dict(train_config or {}),
        "step": int(step),
        "batches_seen": int(step if batches_seen is None else batches_seen),
        "state": bare_state_dict(model),
        "optimizers": {name: opt.state_dict() for name, opt in model.optimizers.items()},
        "schedulers": {name: sched.state_dict() for name, sched in model.schedulers.items()},
        "init_kwargs": model.init_kwargs(),
        "rng": get_rng_state(),
    }
    if extra:
        payload.update(extra)
    return atomic_save(payload, path)


def build_from_payload(payload: dict, overrides: dict | None = None):
    """A fresh model of the checkpoint's family and config (weights not loaded)."""
    family = get_family(payload["family"])
    values = dict(payload["model_config"])
    values.update(overrides or {})
    try:
        config = family.Config.from_dict(values)
    except (TypeError, ValueError) as exc:
        raise GanLabError(f"the checkpoint's {payload['family']} config cannot be used ({exc}); "
                          f"it is damaged or from another gan_lab; start a new run") from None
    return family.Model(config, **payload.get("init_kwargs", {}))


def load_checkpoint(path, model=None, map_location="cpu", restore_rng: bool = False):
    """Load a checkpoint into ``model`` (or a model built from the file) and its optimisers.

    Returns ``(model, payload)``. A checkpoint of another family or another shape is a
    :class:`GanLabError` that names both, never a half-loaded model.
    """
    payload = load_file(path, map_location=map_location)
    if model is None:
        model = build_from_payload(payload)
        if isinstance(map_location, (str, torch.device)):
            model.to(map_location)
    if payload.get("family") != model.family:
        raise GanLabError(f"{path} holds a {payload.get('family')!r} model, not {model.family!r}; "
                          f"use --model {payload.get('family')} or another checkpoint")
    try:   # the saved config with today's defaults for fields added since (JSON lists back to tuples)
        saved = type(model.config).from_dict(payload["model_config"]).to_dict()
    except (ValueError, TypeError) as exc:
        raise GanLabError(f"{path} holds a {model.family} config this gan_lab cannot use ({exc}); "
                          f"start a new run") from None
    wanted = model.config.to_dict()
    if saved != wanted:
        diff = {k: (saved.get(k), wanted.get(k)) for k in sorted(set(saved) | set(wanted))
                if saved.get(k) != wanted.get(k)}
        raise GanLabError(f"{path} was trained with another {model.family} config "
                          f"(checkpoint vs requested: {_format_diff(diff)}); match the settings or start a new run")
    try:
        model.load_state_dict(payload["state"])
        model.on_load(int(payload["step"]))
        for name, state in payload.get("optimizers", {}).items():
            if name in model.optimizers:
                model.optimizers[name].load_state_dict(state)
        for name, state in payload.get("schedulers", {}).items():
            if name in model.schedulers:
                model.schedulers[name].load_state_dict(state)
    except (RuntimeError, ValueError, KeyError) as exc:
        older = (f"; it was written by an older gan_lab (checkpoint format {payload['format_version']}, now "
                 f"{FORMAT_VERSION}) whose nets had another layout: train the run again"
                 if payload["format_version"] < FORMAT_VERSION else "")
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        reason = lines[1] if len(lines) > 1 and lines[0].endswith(":") else lines[0] if lines else type(exc).__name__
        raise GanLabError(f"{path} does not fit this {model.family} model ({reason[:300]}){older}") from exc
    if restore_rng:
        set_rng_state(payload["rng"])
    return model, payload


def _format_diff(diff: dict) -> str:
    return ", ".join(f"{k}={a!r} vs {b!r}" for k, (a, b) in sorted(diff.items()))
