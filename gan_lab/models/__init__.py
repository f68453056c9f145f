"""Model families, found by name. Each is one module with ``Config`` and ``Model``.

Modules are imported when first asked for, so ``import gan_lab`` stays light.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from gan_lab.utils import GanLabError

#: command-line name -> module under gan_lab.models
FAMILIES: dict[str, str] = {
    "vanilla": "vanilla",
    "dcgan": "dcgan",
    "wgan-gp": "wgan_gp",
    "wgan-clip": "wgan_gp",
    "vaegan": "vaegan",
    "improved-dcgan": "improved",
    "dnfm": "dnfm",
    "singan": "singan",
}


def get_family(name: str) -> ModuleType:
    """The module of family ``name`` (a key of :data:`FAMILIES`)."""
    if name not in FAMILIES:
        raise GanLabError(f"unknown model {name!r}; choose one of: {', '.join(FAMILIES)}")
    return importlib.import_module(f"gan_lab.models.{FAMILIES[name]}")


def available() -> list[str]:
    """Families whose module is present in this installation."""
    found = []
    for name, module in FAMILIES.items():
        try:
            importlib.import_module(f"gan_lab.models.{module}")
        except ModuleNotFoundError:
            continue
        found.append(name)
    return found
