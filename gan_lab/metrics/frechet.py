r"""Fréchet distances between feature distributions, and the Inception Score.

The Fréchet distance between two Gaussians fitted to features (means :math:`\mu_r, \mu_g`,
covariances :math:`\Sigma_r, \Sigma_g`) is

.. math::
    d^2 = \lVert \mu_r - \mu_g \rVert^2 + \operatorname{Tr}\bigl(\Sigma_r + \Sigma_g
          - 2 (\Sigma_r \Sigma_g)^{1/2}\bigr).

With the pool3 features of the TensorFlow Inception network it is the FID (Heusel et al., 2017).
The network is pytorch-fid's ``InceptionV3``, the statistics are computed as pytorch-fid computes
them, and the distance equals pytorch-fid's ``calculate_frechet_distance`` (to about 1e-7 relative;
:func:`frechet_distance` takes the trace of the square root from symmetric eigenvalues, several
times faster than its ``sqrtm``, and can call pytorch-fid's function itself). This module adds what
the book needs around them:

* images straight from a generator, in batches on the model's device (no PNG round trip);
  they are quantised to 8 bits first, exactly as saving a PNG would (``torchvision``'s
  ``save_image`` rounding), so the in-memory score equals the score of the saved files;
* real-data statistics cached on disk (:mod:`gan_lab.metrics.store`);
* a protocol dict with every score: sample counts, reference split, feature network, weights,
  resize, seed.

The same code path serves any feature network (:class:`InceptionFeatures` here,
:class:`gan_lab.metrics.classifier.ClassifierFeatures` for the fast distance).
"""
from __future__ import annotations

import contextlib
import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from gan_lab.data import load_data, read_image, registry
from gan_lab.data.images import check_image
from gan_lab.metrics import store
from gan_lab.metrics.weights import InceptionWeights, ensure_inception_weights
from gan_lab.utils import GanLabError

Tensor = torch.Tensor


# -- images ----------------------------------------------------------------------------------------
def quantize(x: Tensor) -> Tensor:
    """Generator output in [-1, 1] -> the values a saved 8-bit PNG holds, as floats in [0, 1].

    Same rounding as ``torchvision.utils.save_image(x, normalize=True, value_range=(-1, 1))``:
    ``floor(255 * (x + 1) / 2 + 0.5)`` clamped to [0, 255], then divided by 255.
    """
    levels = torch.floor((x.float() + 1.0) * 127.5 + 0.5).clamp_(0, 255)
    return levels / 255.0


def uint8_to_unit(images: Tensor) -> Tensor:
    """uint8 images (B, C, H, W) -> floats in [0, 1] (what ``ToTensor`` gives for a PNG)."""
    return images.float() / 255.0


# -- feature networks --------------------------------------------------------------------------------
class InceptionFeatures:
    """pytorch-fid's ``InceptionV3`` features on one device: pool3 (2048-d, the FID's) by default.

    Input: images (B, C, H, W) in [0, 1], any size, 1 or 3 channels. Grey images are repeated to
    three channels (what PIL's ``convert('RGB')`` does in pytorch-fid's loader); pytorch-fid's
    network resizes to 299x299 bilinearly and scales to [-1, 1] itself. ``dims`` 64, 192 or 768
    take pytorch-fid's earlier blocks, average-pooled to a vector as its ``--dims`` option does
    (cheaper, for tests; the FID is defined with 2048).
    """

    description = "pytorch-fid InceptionV3, pool3 features (2048-d)"
    resize = ("bilinear to 299x299 inside pytorch-fid's InceptionV3 (align_corners=False, no antialias); "
              "grey repeated to 3 channels")

    def __init__(self, device: str | torch.device = "cpu", weights: InceptionWeights | None = None,
                 dims: int = 2048):
        from pytorch_fid.inception import InceptionV3

        if dims not in InceptionV3.BLOCK_INDEX_BY_DIM:
            raise GanLabError(f"dims must be one of {sorted(InceptionV3.BLOCK_INDEX_BY_DIM)}, got {dims}")
        self.weights = weights or ensure_inception_weights()
        self.device = torch.device(device)
        self.dims = dims
        self.id = "inception-pool3" if dims == 2048 else f"inception-{dims}d"
        if dims != 2048:
            self.description = f"pytorch-fid InceptionV3, block {InceptionV3.BLOCK_INDEX_BY_DIM[dims]} ({dims}-d, not FID)"
        self.net = InceptionV3([InceptionV3.BLOCK_INDEX_BY_DIM[dims]]).to(self.device).eval()
        self._fc = None

    @property
    def weights_source(self) -> str:
        return self.weights.source

    @torch.no_grad()
    def __call__(self, x01: Tensor) -> Tensor:
        x01 = x01.to(self.device, torch.float32)
        if x01.shape[1] == 1:
            x01 = x01.expand(-1, 3, -1, -1)                       # (B, 3, H, W)
        elif x01.shape[1] != 3:
            raise GanLabError(f"images must have 1 or 3 channels, got {x01.shape[1]}")
        out = self.net(x01)[0]                                   # (B, dims, h, w)
        if out.shape[2:] != (1, 1):
            out = torch.nn.functional.adaptive_avg_pool2d(out, (1, 1))
        return out.flatten(1)                                    # (B, dims)

    def require_classifier(self) -> None:
        """Raise unless the weights hold the real 1008-way classifier (needed for IS)."""
        if not self.weights.has_classifier:
            raise GanLabError(
                f"the Inception Score needs the 1008-way classifier of the Inception network, but the "
                f"weights at {self.weights.path} were {self.weights.source}. Get pytorch-fid's own file "
                f"(online: delete that file and its .gan_lab.json and run again, or copy "
                f"pt_inception-2015-12-05-6726825d.pth there). FID works with the current file")

    def class_probabilities(self, features: np.ndarray) -> np.ndarray:
        """Softmax over the 1008 Inception classes from pool3 features (N, 2048) -> (N, 1008).

        The logits are ``features @ fc.weight.T`` *without* the bias, as in the original
        Inception Score code (Salimans et al., 2016), which multiplies pool3 by the weight matrix of
        ``softmax/logits`` only.
        """
        self.require_classifier()
        if self.dims != 2048:
            raise GanLabError("the Inception Score needs the pool3 (2048-d) features")
        if self._fc is None:
            state = torch.load(self.weights.path, map_location="cpu", weights_only=True)
            self._fc = state["fc.weight"].double().numpy()       # (1008, 2048)
        logits = features.astype(np.float64) @ self._fc.T
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        return probs / probs.sum(axis=1, keepdims=True)


# -- statistics and distances -------------------------------------------------------------------------
def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (``np.cov``, rows are samples, ddof 1), as pytorch-fid computes them."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise GanLabError(f"need at least 2 feature vectors for a covariance, got shape {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2, notes: list[str] | None = None, method: str = "eigh") -> float:
    r""":math:`\lVert\mu_1-\mu_2\rVert^2 + \mathrm{tr}(\Sigma_1 + \Sigma_2 - 2(\Sigma_1\Sigma_2)^{1/2})`.

    ``method="eigh"`` (the default) computes the trace of the square root from symmetric
    eigenproblems: with :math:`A = \Sigma_1^{1/2}`, the matrix :math:`\Sigma_1\Sigma_2` has the
    eigenvalues of the symmetric :math:`A\Sigma_2A`, so
    :math:`\mathrm{tr}(\Sigma_1\Sigma_2)^{1/2} = \sum_i \sqrt{\lambda_i(A\Sigma_2A)}`. Two ``eigh``
    calls cost a fraction of the general matrix square root (2048-d Inception statistics: about
    3 s against 16-19 s on a 2-core CPU) and stay exact where the covariances are singular (fewer
    images than dimensions), where the square root of a non-symmetric product is least accurate;
    on FID statistics the two agree to about 3e-7 relative (``benchmarks/bench_fid.py --frechet``).
    ``method="pytorch-fid"`` calls pytorch-fid's ``calculate_frechet_distance`` (``scipy.linalg.sqrtm``).

    What the computation says on the way (pytorch-fid's printed "singular product" notice, SciPy's
    warnings) is collected as one line each into ``notes`` when a list is given, and turned into
    one warning otherwise, so nothing bare reaches a user's terminal.
    """
    if method not in ("eigh", "pytorch-fid"):
        raise GanLabError(f"unknown Fréchet method {method!r}; use 'eigh' or 'pytorch-fid'")
    if method == "eigh":
        return _frechet_eigh(mu1, sigma1, mu2, sigma2)
    return _frechet_pytorch_fid(mu1, sigma1, mu2, sigma2, notes)


def frechet_distance_from_features(features, mu2, sigma2, notes: list[str] | None = None,
                                   method: str = "eigh") -> float:
    r""":func:`frechet_distance` between the Gaussian fitted to ``features`` (rows are samples, as
    :func:`feature_statistics` fits it) and the statistics ``mu2``, ``sigma2``.

    With no more samples than dimensions (``n <= d``, e.g. a few hundred generated images against
    2048-d Inception statistics) it takes an exact shortcut: with :math:`Y` the centred features,
    :math:`\Sigma_1 = Y^\top Y/(n-1)`, and the non-zero eigenvalues of :math:`\Sigma_1\Sigma_2` are
    those of the symmetric :math:`n \times n` matrix :math:`Y\Sigma_2Y^\top/(n-1)`, so one small
    eigenvalue problem replaces two of size :math:`d`. It agrees with the ``d``-dimensional route to
    rounding error (``tests/test_frechet_compat.py``). With more samples, or ``method="pytorch-fid"``, it is
    :func:`frechet_distance` of :func:`feature_statistics`.
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < 2:
        raise GanLabError(f"need at least 2 feature vectors for a covariance, got shape {features.shape}")
    n, d = features.shape
    if method != "eigh" or n > d:
        return frechet_distance(*feature_statistics(features), mu2, sigma2, notes, method)
    mu1 = features.mean(axis=0)
    _, _, mu2, sigma2 = _checked_statistics(mu1, None, mu2, sigma2)      # a NaN or inf feature shows in mu1
    centred = features - mu1
    sigma2 = (sigma2 + sigma2.T) / 2
    inner = centred @ sigma2 @ centred.T / (n - 1)
    try:
        eigenvalues = np.linalg.eigvalsh((inner + inner.T) / 2)
    except np.linalg.LinAlgError as exc:
        raise GanLabError(f"the Fréchet distance could not be computed ({exc}); use more samples") from exc
    trace_root = float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())
    diff = mu1 - mu2
    return float(diff @ diff + np.sum(centred ** 2) / (n - 1) + np.trace(sigma2) - 2.0 * trace_root)


_NOT_FINITE = ("the feature statistics hold NaN or infinite values; the features they came from are broken "
               "(a diverged generator gives NaN images): check the images first")


def _checked_statistics(mu1, sigma1, mu2, sigma2):
    """The statistics as float64 arrays of matching shapes, checked to be finite (``sigma1`` may be None)."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, dtype=np.float64)), np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    square = (mu1.shape[0],) * 2
    shape1 = square
    if sigma1 is not None:
        sigma1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
        shape1 = sigma1.shape
    if mu1.shape != mu2.shape or shape1 != square or sigma2.shape != square:
        raise GanLabError(f"the two sets of statistics do not match: means {mu1.shape} and {mu2.shape}, "
                          f"covariances {shape1} and {sigma2.shape}")
    if not all(np.isfinite(a).all() for a in (mu1, mu2, sigma2) + ((sigma1,) if sigma1 is not None else ())):
        raise GanLabError(_NOT_FINITE)
    return mu1, sigma1, mu2, sigma2


def _frechet_eigh(mu1, sigma1, mu2, sigma2) -> float:
    """The Fréchet distance through symmetric eigenvalues (see :func:`frechet_distance`)."""
    mu1, sigma1, mu2, sigma2 = _checked_statistics(mu1, sigma1, mu2, sigma2)
    try:
        w, v = np.linalg.eigh((sigma1 + sigma1.T) / 2)
        root1 = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T               # Sigma_1^(1/2), symmetric
        inner = root1 @ ((sigma2 + sigma2.T) / 2) @ root1
        eigenvalues = np.linalg.eigvalsh((inner + inner.T) / 2)
    except np.linalg.LinAlgError as exc:
        raise GanLabError(f"the Fréchet distance could not be computed ({exc}); use more samples "
                          f"(well above the feature dimension, {mu1.shape[0]})") from exc
    # a covariance is positive semi-definite: eigenvalues below zero are rounding error
    trace_root = float(np.sqrt(np.clip(eigenvalues, 0.0, None)).sum())
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_root)


def _frechet_pytorch_fid(mu1, sigma1, mu2, sigma2, notes: list[str] | None = None) -> float:
    """pytorch-fid's ``calculate_frechet_distance``, with its failure turned into advice."""
    from pytorch_fid.fid_score import calculate_frechet_distance

    printed = io.StringIO()
    try:
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(printed):
            warnings.simplefilter("always")
            try:
                value = float(calculate_frechet_distance(mu1, sigma1, mu2, sigma2))
            except (TypeError, ValueError) as exc:
                # pytorch-fid 0.3.0 passes sqrtm(disp=False), which SciPy 1.18 removed, and unpacks its
                # (root, error) pair, which SciPy 1.17 does not return for a 1x1 matrix
                if "disp" not in str(exc) and "values to unpack" not in str(exc):
                    raise
                value = _frechet_formula(mu1, sigma1, mu2, sigma2)
    except ValueError as exc:
        raise GanLabError(f"the Fréchet distance is numerically unstable here ({exc}); use more samples "
                          f"(well above the feature dimension, {np.atleast_1d(mu1).shape[0]})") from exc
    said = [" ".join(line.split()) for line in printed.getvalue().splitlines() if line.strip()]
    said += [f"{w.category.__name__}: {' '.join(str(w.message).split())}" for w in caught
             if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning))]
    said = [f"the matrix square root: {text}" for text in dict.fromkeys(said)]
    if notes is not None:
        notes.extend(said)
    else:
        for text in said:
            warnings.warn(text, stacklevel=2)
    return value


def rank_note(n_a: int | None, n_b: int | None, dims: int) -> str | None:
    """The note for a Fréchet distance from fewer samples than feature dimensions (None when enough).

    A covariance estimated from n samples has rank at most n - 1, so with n <= dims it is
    singular: the distance is biased (upwards, strongly at small n) and depends on n, so it is not
    comparable with one computed from another number of samples.
    """
    counts = [n for n in (n_a, n_b) if n is not None]
    if not counts or min(counts) > dims:
        return None
    n = min(counts)
    return (f"only {n} images on one side for {dims}-d features: the covariance has rank at most {n - 1} < {dims}, "
            f"so this score is biased and not comparable with scores from other sample sizes; use more than "
            f"{dims} images per side (10,000 or more is usual for FID)")


def _frechet_formula(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    r""":math:`\lVert\mu_1-\mu_2\rVert^2 + \mathrm{tr}(\Sigma_1 + \Sigma_2 - 2(\Sigma_1\Sigma_2)^{1/2})`, with
    pytorch-fid's numerical conventions (``eps`` on the diagonals when the product's square root is not
    finite; a complex root with a negligible imaginary part is taken as real) for SciPy versions its own
    code no longer runs on."""
    from scipy import linalg

    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError("the two sets of statistics have different dimensions")
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"imaginary component {np.max(np.abs(covmean.imag))}")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def inception_score(probs: np.ndarray, splits: int = 10) -> tuple[float, float]:
    r"""Inception Score from class probabilities p(y|x) of N images: mean and std over ``splits``.

    .. math:: \mathrm{IS} = \exp\bigl(\mathbb{E}_x\, \mathrm{KL}(p(y \mid x) \,\Vert\, p(y))\bigr),

    with :math:`p(y)` the mean of :math:`p(y \mid x)` within each split. The N rows are cut into
    ``splits`` consecutive parts (``np.array_split``); the std is over the parts (ddof 0).
    Bounds: 1 (every image gets the same distribution) to the number of classes.
    """
    from scipy.special import rel_entr

    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] < splits:
        raise GanLabError(f"the Inception Score needs at least {splits} images (one per split), got {probs.shape[0]}")
    scores = []
    for part in np.array_split(probs, splits):
        p_y = part.mean(axis=0, keepdims=True)
        kl = rel_entr(part, p_y).sum(axis=1).mean()            # E_x KL(p(y|x) || p(y))
        scores.append(np.exp(kl))
    return float(np.mean(scores)), float(np.std(scores))


# -- feature extraction from the three sources --------------------------------------------------------
@torch.no_grad()
def generated_batches(model, n: int, batch_size: int = 50, seed: int = 0, use_ema: bool = True):
    """Batches of ``model.generate`` output (B, C, H, W) in [-1, 1] on the model's device.

    The latent codes come from a CPU generator seeded with ``seed`` (then moved to the device),
    so the same seed gives the same images on any device, and the global RNG is left alone.
    """
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    for start in range(0, n, batch_size):
        size = min(batch_size, n - start)
        z = torch.randn(size, model.config.latent_dim, generator=generator).to(device)
        yield model.generate(z, use_ema=use_ema)


def _progress(iterable, total: int, desc: str, enabled: bool):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False)


def generator_features(model, n: int, extractor, batch_size: int = 50, seed: int = 0,
                       use_ema: bool = True, progress: bool = False) -> np.ndarray:
    """Features (n, D) of ``n`` generated images, quantised to 8 bits like a saved PNG."""
    chunks = []
    batches = generated_batches(model, n, batch_size, seed, use_ema)
    for x_fake in _progress(batches, -(-n // batch_size), "generated", progress):
        chunks.append(extractor(quantize(x_fake)).cpu().double().numpy())
    return np.concatenate(chunks)


def image_features(images: Tensor, extractor, batch_size: int = 50, progress: bool = False) -> np.ndarray:
    """Features (N, D) of uint8 images (N, C, H, W) (e.g. ``ImageData.images``)."""
    if images.dtype != torch.uint8:
        raise GanLabError(f"expected uint8 images, got {images.dtype}")
    chunks = []
    starts = range(0, images.shape[0], batch_size)
    for start in _progress(starts, len(starts), "real", progress):
        batch = torch.as_tensor(np.asarray(images[start:start + batch_size]))
        chunks.append(extractor(uint8_to_unit(batch)).cpu().double().numpy())
    return np.concatenate(chunks)


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly inside ``folder`` (pytorch-fid's extensions, any letter case), sorted.

    pytorch-fid's CLI globs lower-case extensions only; a folder with ``.PNG`` files is read here
    but not by it.
    """
    from pytorch_fid.fid_score import IMAGE_EXTENSIONS

    folder = Path(folder)
    if not folder.is_dir():
        raise GanLabError(f"{folder} is not a folder of images (or a .npz statistics file)")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix[1:].lower() in IMAGE_EXTENSIONS)
    if len(files) < 2:
        raise GanLabError(f"{folder} holds {len(files)} image file(s) ({', '.join(sorted(IMAGE_EXTENSIONS))}); "
                          f"a Fréchet distance needs at least 2 (and thousands for a stable FID)")
    return files


def folder_features(folder: str | os.PathLike, extractor, batch_size: int = 50,
                    progress: bool = False) -> np.ndarray:
    """Features of every image in ``folder``, read as RGB like pytorch-fid's loader does.

    Images of different sizes are fine (the network resizes each); grey, palette and RGBA files
    are converted as PIL's ``convert('RGB')`` does, 16-bit grey scaled to 8 bits; a file that is
    no image, is cut short or is a decompression bomb is a GanLabError naming it.
    """
    files = list_images(folder)
    chunks = []
    starts = range(0, len(files), batch_size)
    for start in _progress(starts, len(starts), Path(folder).name, progress):
        images = [read_image(p, 3, pil_convert=True) for p in files[start:start + batch_size]]   # (3, H, W) uint8
        # images of one size go through together; mixed sizes are run in runs of equal shape
        run = [images[0]]
        for img in images[1:] + [None]:
            if img is not None and img.shape == run[0].shape:
                run.append(img)
                continue
            chunks.append(extractor(uint8_to_unit(torch.stack(run))).cpu().double().numpy())
            run = [img]
    return np.concatenate(chunks)


# -- reference (real) statistics ------------------------------------------------------------------------
def reference_protocol(data: str, split: str, image_size: int, channels: int, n_real: int | None,
                       extractor, subset_seed: int = 0, dataset_size: int | None = None) -> dict:
    """What identifies a set of real-data statistics (the cache key)."""
    info = registry.resolve(data)
    path = Path(str(data)).expanduser()
    is_path = info is None
    data_id = info.name if info is not None else str(path.resolve())
    if is_path:
        split = "all (a folder or file has no splits)"
    return {
        "reference": {"data": data_id, "split": split, "size": [channels, image_size, image_size],
                      "subset": f"first n_real of a permutation seeded {subset_seed}",
                      "dataset_size": dataset_size,
                      "modified": int(path.stat().st_mtime) if is_path else None},
        "n_real": n_real,
        "feature_network_id": extractor.id,
        "feature_network": extractor.description,
        "weights": extractor.weights_source,
        "resize": extractor.resize,
    }


def load_reference(data: str, split: str, image_size: int, channels: int, root=None):
    """The real images, at the generator's resolution and channels (``gan_lab.data.load_data``)."""
    return load_data(data, image_size=image_size, channels=channels, split=split, root=root)


def real_statistics(data: str, extractor, image_size: int, channels: int, n_real: int | None = None,
                    split: str = "test", root=None, batch_size: int = 50, subset_seed: int = 0,
                    cache: bool = True, progress: bool = False, images=None) -> tuple[np.ndarray, np.ndarray, dict]:
    """``(mu, sigma, protocol)`` of real images; read from the cache when the protocol matches.

    The images are ``n_real`` drawn without replacement from the split (the first ``n_real`` of a
    permutation seeded ``subset_seed``), or the whole split when ``n_real`` is None or larger.
    ``images`` (uint8 (N, C, H, W)) skips loading the dataset. Files of a folder that could not be
    read (reported when the folder was cached) are named in the protocol's reference.
    """
    skipped = ()
    if images is None:
        reference = load_reference(data, split, image_size, channels, root)
        images, skipped = reference.images, reference.skipped
    total = int(images.shape[0])
    n_used = total if n_real is None else min(int(n_real), total)
    protocol = reference_protocol(data, split, image_size, channels, n_used, extractor, subset_seed, total)
    if skipped:
        protocol["reference"]["skipped_unreadable"] = list(skipped)
    cached = store.load_stats(protocol) if cache else None
    if cached is not None:
        return cached[0], cached[1], protocol
    if n_used < total:
        order = torch.randperm(total, generator=torch.Generator().manual_seed(subset_seed))[:n_used]
        subset = torch.as_tensor(np.asarray(images))[order.sort().values]
    else:
        subset = torch.as_tensor(np.asarray(images))
    if tuple(subset.shape[1:]) != (channels, image_size, image_size):
        raise GanLabError(f"real images of {data} have shape {tuple(subset.shape[1:])}, the generator makes "
                          f"{(channels, image_size, image_size)}")
    mu, sigma = feature_statistics(image_features(subset, extractor, batch_size, progress))
    if cache:
        store.save_stats(protocol, mu, sigma)
    return mu, sigma, protocol


def generator_protocol(model, n: int, seed: int, use_ema: bool) -> dict:
    return {"n_fake": n, "seed": seed, "use_ema": bool(use_ema and getattr(model, "G_ema", None) is not None),
            "quantize": "8-bit, as a saved PNG (torchvision save_image rounding)",
            "family": getattr(model, "family", type(model).__name__)}


# -- FID between two folders (or .npz statistics) ------------------------------------------------------------
def _check_path(path: str) -> None:
    """Everything about ``path`` that can be checked without decoding: it exists, holds >= 2 images, no bombs."""
    if not Path(path).exists():
        raise GanLabError(f"{path} does not exist; give two image folders (or .npz statistics files)")
    if str(path).endswith(".npz"):
        return
    for file in list_images(path):
        check_image(file)


def _path_statistics(path: str, extractor, batch_size: int, progress: bool):
    if str(path).endswith(".npz"):
        try:
            with np.load(path) as f:
                return f["mu"][:], f["sigma"][:], None
        except (OSError, KeyError, ValueError) as exc:
            raise GanLabError(f"{path} is not a statistics file with 'mu' and 'sigma' ({exc})") from exc
    features = folder_features(path, extractor, batch_size, progress)
    mu, sigma = feature_statistics(features)
    return mu, sigma, features.shape[0]


def fid_folders(path_a: str, path_b: str, device="cpu", batch_size: int = 50, progress: bool = False,
                extractor: InceptionFeatures | None = None, dims: int = 2048) -> dict:
    """FID between two image folders (or pytorch-fid ``.npz`` statistics files), with its protocol.

    Gives the value of ``python -m pytorch_fid PATH_A PATH_B`` on the same weights (up to float
    summation order): same network, same RGB reading, same statistics, same distance. Both
    folders are checked (every file opened, nothing decoded) before the network is loaded. With
    fewer images than feature dimensions the score carries a ``note`` (see :func:`rank_note`).
    """
    for path in (path_a, path_b):
        _check_path(path)
    extractor = extractor or InceptionFeatures(device, dims=dims)
    mu_a, sigma_a, n_a = _path_statistics(path_a, extractor, batch_size, progress)
    mu_b, sigma_b, n_b = _path_statistics(path_b, extractor, batch_size, progress)
    if mu_a.shape != mu_b.shape:
        raise GanLabError(f"{path_a} and {path_b} hold statistics of different dimension")
    notes = []
    value = frechet_distance(mu_a, sigma_a, mu_b, sigma_b, notes)
    dims = int(mu_a.shape[0])
    rank = rank_note(n_a, n_b, dims)
    score = {
        "metric": "fid" if extractor.dims == 2048 else f"fd-inception-{extractor.dims}",
        "label": "FID" if extractor.dims == 2048 else f"FD (Inception {extractor.dims}-d features) - not FID",
        "value": value,
        "protocol": {"a": str(path_a), "b": str(path_b), "n_a": n_a, "n_b": n_b,
                     "feature_network": extractor.description, "weights": extractor.weights_source,
                     "resize": extractor.resize, "rank_deficient": rank is not None,
                     "read": "PIL convert('RGB'), 8-bit (16-bit grey scaled to 8 bits)"},
    }
    if rank or notes:
        score["note"] = "; ".join(([rank] if rank else []) + notes)
    return score


__all__ = [
    "InceptionFeatures", "feature_statistics", "fid_folders", "folder_features", "frechet_distance",
    "frechet_distance_from_features", "generated_batches", "generator_features", "image_features", "inception_score",
    "list_images", "rank_note", "quantize", "real_statistics",
]

