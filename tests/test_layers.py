"""The package's layers import only downwards, and no import hides inside a function.

data -> nn/losses -> models -> checkpoint -> run -> train -> metrics/viz -> book/campaign -> cli. A module
may import its own layer and the layers below; an import placed inside a function to dodge a
cycle is allowed only in the command-line layer (where it keeps `gan-lab --help` fast).
"""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gan_lab"

#: top-level part of gan_lab -> its layer (lower imports nothing above it)
LAYERS = {
    "utils": 0,
    "data": 1,
    "nn": 2, "losses": 2,
    "models": 3, "toy": 3,
    "checkpoint": 4,
    "run": 5,
    "callbacks": 6, "train": 6,
    "metrics": 7, "viz": 7, "exercises": 7,
    "book": 8, "quiz": 8, "campaign": 8,
    "cli": 9, "__main__": 9, "__init__": 9,
}


def _part(module: str) -> str:
    """``gan_lab.models.dcgan`` -> ``models``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts)
        yield name.removesuffix(".__init__") if name != "gan_lab.__init__" else "gan_lab", path


def _imports(tree):
    """(module imported, inside a function?) for every gan_lab import of a module."""
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                found.extend((a.name, in_function) for a in child.names if a.name.startswith("gan_lab"))
            elif isinstance(child, ast.ImportFrom) and child.module and child.module.startswith("gan_lab"):
                if child.module == "gan_lab":      # from gan_lab import losses, viz
                    found.extend((f"gan_lab.{a.name}", in_function) for a in child.names)
                else:
                    found.append((child.module, in_function))
            visit(child, nested)

    visit(tree, False)
    return found


MODULES = list(_modules())


def test_every_part_has_a_layer():
    parts = {_part(name) for name, _ in MODULES}
    assert parts <= set(LAYERS), f"give these parts a layer: {parts - set(LAYERS)}"


@pytest.mark.parametrize("name, path", MODULES, ids=[m for m, _ in MODULES])
def test_imports_point_down_and_none_hide_in_functions(name, path):
    layer = LAYERS[_part(name)]
    for target, in_function in _imports(ast.parse(path.read_text())):
        target_layer = LAYERS[_part(target)]
        assert target_layer <= layer, f"{name} (layer {layer}) imports {target} (layer {target_layer})"
        if _part(name) != "cli":
            assert not in_function, f"{name} imports {target} inside a function"


def test_argparse_lives_in_the_cli_layer():
    for name, path in MODULES:
        if _part(name) not in ("cli", "__main__"):
            assert "import argparse" not in path.read_text(), name
