"""Argument types and helpers shared by the ``gan-lab`` subcommands."""
from __future__ import annotations

import argparse
import dataclasses
import math


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_overrides(config_cls, items: list[str]) -> dict:
    """``["lr_g=1e-4", "betas=0,0.9"]`` -> typed values for the fields of ``config_cls``."""
    from gan_lab.utils import GanLabError

    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    values = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in fields:
            raise GanLabError(f"--set {item!r}: expected KEY=VALUE with KEY one of {', '.join(sorted(fields))}")
        default = fields[key].default
        values[key] = _parse_value(text.strip(), default, item)
    return values


def _finite(value: float, item: str) -> float:
    from gan_lab.utils import GanLabError

    if not math.isfinite(value):
        raise GanLabError(f"--set {item!r}: {value} is not a finite number")
    return value


def _parse_value(text: str, default, item: str):
    from gan_lab.utils import GanLabError

    try:
        if isinstance(default, bool):
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError
            return text.lower() in ("true", "1", "yes")
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            return _finite(float(text), item)
        if isinstance(default, tuple):
            parts = [p for p in text.replace("(", "").replace(")", "").split(",") if p.strip()]
            if default and len(parts) != len(default):
                raise GanLabError(f"--set {item!r}: expected {len(default)} comma-separated values "
                                  f"like {','.join(map(str, default))}, got {len(parts)}")
            kind = type(default[0]) if default else (float if "." in text else int)
            return tuple(_finite(v, item) if isinstance(v, float) else v for v in map(kind, parts))
        return text
    except ValueError:
        raise GanLabError(f"--set {item!r}: {text!r} is not a valid {type(default).__name__}") from None
