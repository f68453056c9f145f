"""A small CNN classifier for Fashion-MNIST and MNIST, and the Fréchet distance on its features.

FID needs the Inception network, which runs at about 7 images per second on a 2-core CPU; a curve
of it during training is out of reach there. This module trains (once, a few minutes on a CPU) a
small convolutional classifier on the dataset itself and caches it. The Fréchet distance between
its 128-d hidden features of real and generated images is a fast stand-in that the book plots
during training. It is **not FID**: its numbers are on another scale and cannot be compared with
published FIDs, and it only exists for the datasets the classifier was trained on.

Network (input 1x28x28 in [-1, 1])::

    conv 3x3, 32 -> BN -> ReLU -> max-pool 2     # (B, 32, 14, 14)
    conv 3x3, 64 -> BN -> ReLU -> max-pool 2     # (B, 64, 7, 7)
    flatten -> linear 3136 -> 128                # the features used for the distance
    ReLU -> dropout 0.3 -> linear 128 -> 10      # class logits

The features are the hidden layer's values *before* its ReLU: after it, units that never fire
make the covariance singular.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gan_lab.data import load_data, registry
from gan_lab.metrics.frechet import (frechet_distance_from_features, generator_features, generator_protocol,
                                     real_statistics)
from gan_lab.utils import GanLabError, atomic_write, cache_dir

#: the accuracy the project promises on the test split; training that ends below it is an error
MIN_TEST_ACCURACY = {"fashion-mnist": 0.90, "mnist": 0.98}
VERSION = 1           # bump when the network or the training recipe changes: old caches are ignored
INPUT_SIZE = 28
LABEL = "FD (classifier features) - not FID"


class SmallCNN(nn.Module):
    """The classifier; :meth:`features` gives the 128-d hidden layer (before its ReLU)."""

    feature_dim = 128

    def __init__(self, n_classes: int = 10):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * 7 * 7, self.feature_dim),
        )
        self.head = nn.Sequential(nn.ReLU(), nn.Dropout(0.3), nn.Linear(self.feature_dim, n_classes))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)                                   # (B, 128)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))                        # (B, 10) logits


def prepare(x01: torch.Tensor) -> torch.Tensor:
    """Images (B, C, H, W) in [0, 1] -> the classifier's input (B, 1, 28, 28) in [-1, 1].

    Colour images are averaged to grey; other sizes are resized to 28x28 (bilinear, antialiased).
    Real and generated images go through the same function.
    """
    if x01.shape[1] == 3:
        x01 = x01.mean(dim=1, keepdim=True)
    elif x01.shape[1] != 1:
        raise GanLabError(f"images must have 1 or 3 channels, got {x01.shape[1]}")
    if x01.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
        x01 = F.interpolate(x01, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False,
                            antialias=True)
    return x01 * 2.0 - 1.0


@dataclass
class TrainedClassifier:
    net: SmallCNN
    dataset: str
    test_accuracy: float
    path: Path
    meta: dict


def cache_path(dataset: str) -> Path:
    return cache_dir() / "classifier" / f"{dataset}-smallcnn-v{VERSION}.pt"


def check_dataset(dataset: str) -> str:
    """The registry's name of ``dataset`` (aliases resolved), if the classifier exists for it."""
    info = registry.resolve(dataset)
    if info is None or not info.has_classifier:
        known = ", ".join(n for n in registry.names() if registry.get(n).has_classifier)
        raise GanLabError(f"the feature classifier exists for {known} only, not {dataset!r}; "
                          f"use FID (--metrics fid) for other data")
    return info.name


def load_classifier(dataset: str = "fashion-mnist", device="cpu", train_if_missing: bool = True,
                    root=None, progress: bool = True) -> TrainedClassifier:
    """The cached classifier for ``dataset``, training it first if there is none (a few minutes)."""
    dataset = check_dataset(dataset)
    path = cache_path(dataset)
    if path.is_file():
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            net = SmallCNN()
            net.load_state_dict(payload["state"])
        except (RuntimeError, KeyError, ValueError, EOFError) as exc:
            if not train_if_missing:
                raise GanLabError(f"classifier cache {path} is damaged ({type(exc).__name__}); delete it") from exc
        else:
            meta = {k: v for k, v in payload.items() if k != "state"}
            return TrainedClassifier(net.to(device).eval(), dataset, float(payload["test_accuracy"]), path, meta)
    if not train_if_missing:
        raise GanLabError(f"no trained classifier for {dataset} at {path}; call "
                          f"gan_lab.metrics.classifier.train_classifier({dataset!r}) first")
    return train_classifier(dataset, device=device, root=root, progress=progress)


def train_classifier(dataset: str = "fashion-mnist", epochs: int = 4, batch_size: int = 128, lr: float = 2e-3,
                     seed: int = 0, device="cpu", root=None, progress: bool = True,
                     save: bool = True) -> TrainedClassifier:
    """Train on the dataset's train split, measure accuracy on its test split, cache the weights.

    Adam with a cosine-decayed learning rate, ``epochs`` passes over the 60,000 training images.
    Raises :class:`GanLabError` (and caches nothing) if the test accuracy ends below
    :data:`MIN_TEST_ACCURACY` (90% for Fashion-MNIST).
    """
    dataset = check_dataset(dataset)
    device = torch.device(device)
    train = load_data(dataset, image_size=INPUT_SIZE, channels=1, split="train", root=root)
    test = load_data(dataset, image_size=INPUT_SIZE, channels=1, split="test", root=root)
    if train.labels is None or test.labels is None:
        raise GanLabError(f"{dataset} was loaded without labels; the classifier needs them")
    x_train = torch.as_tensor(np.asarray(train.images))
    y_train = torch.as_tensor(np.asarray(train.labels)).long()

    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = SmallCNN().to(device)
    steps_per_epoch = -(-x_train.shape[0] // batch_size)
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs * steps_per_epoch)
    start = time.perf_counter()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs * steps_per_epoch, desc=f"classifier ({dataset})", leave=False)
    for _ in range(epochs):
        net.train()
        order = torch.randperm(x_train.shape[0], generator=generator)
        for i in range(steps_per_epoch):
            index = order[i * batch_size:(i + 1) * batch_size]
            x = prepare(x_train[index].float().div_(255.0)).to(device)
            y = y_train[index].to(device)
            loss = F.cross_entropy(net(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            if bar is not None:
                bar.update()
                bar.set_postfix(loss=f"{loss.item():.3f}")
    if bar is not None:
        bar.close()
    net.eval()
    accuracy = evaluate_accuracy(net, test.images, test.labels, device=device)
    seconds = time.perf_counter() - start
    path = cache_path(dataset)
    if accuracy < MIN_TEST_ACCURACY[dataset]:
        raise GanLabError(f"the {dataset} classifier reached only {accuracy:.2%} test accuracy "
                          f"(needs {MIN_TEST_ACCURACY[dataset]:.0%}); nothing cached - report this as a bug")
    meta = {"dataset": dataset, "test_accuracy": float(accuracy), "epochs": epochs, "batch_size": batch_size,
            "lr": lr, "seed": seed, "version": VERSION, "train_seconds": seconds,
            "n_train": int(x_train.shape[0]), "n_test": int(test.images.shape[0])}
    if save:
        payload = {"state": {k: v.cpu() for k, v in net.state_dict().items()}, **meta}
        atomic_write(path, lambda fh: torch.save(payload, fh))
    if progress:
        print(f"{dataset} classifier: test accuracy {accuracy:.2%} after {epochs} epochs ({seconds:.0f} s)"
              + (f"; cached at {path}" if save else ""))
    return TrainedClassifier(net, dataset, float(accuracy), path, meta)


@torch.no_grad()
def evaluate_accuracy(net: SmallCNN, images, labels, device="cpu", batch_size: int = 1000) -> float:
    """Share of correctly classified uint8 images (N, 1, H, W)."""
    images = torch.as_tensor(np.asarray(images))
    labels = torch.as_tensor(np.asarray(labels)).long()
    was_training = net.training
    net.eval()
    correct = 0
    for start in range(0, images.shape[0], batch_size):
        x = prepare(images[start:start + batch_size].float() / 255.0).to(device)
        correct += int((net(x).argmax(1).cpu() == labels[start:start + batch_size]).sum())
    net.train(was_training)
    return correct / images.shape[0]


class ClassifierFeatures:
    """Feature extractor with the interface of :class:`gan_lab.metrics.frechet.InceptionFeatures`."""

    dims = SmallCNN.feature_dim

    def __init__(self, classifier: TrainedClassifier, device="cpu"):
        self.classifier = classifier
        self.device = torch.device(device)
        self.net = classifier.net.to(self.device).eval()
        self.id = f"{classifier.dataset}-smallcnn-v{VERSION}"
        self.description = (f"gan_lab SmallCNN trained on {classifier.dataset} (test accuracy "
                            f"{classifier.test_accuracy:.2%}), 128-d hidden layer before ReLU")
        self.weights_source = str(classifier.path)
        self.resize = "grey; bilinear antialiased resize to 28x28 when needed"

    @torch.no_grad()
    def __call__(self, x01: torch.Tensor) -> torch.Tensor:
        return self.net.features(prepare(x01.to(self.device, torch.float32)))


def classifier_frechet_distance(model, dataset: str = "fashion-mnist", n: int = 1000, n_real: int | None = None,
                                split: str = "test", seed: int = 0, batch_size: int = 250, use_ema: bool = True,
                                root=None, cache: bool = True, classifier: TrainedClassifier | None = None,
                                real_images=None) -> dict:
    """Fréchet distance between classifier features of real images and ``n`` generated ones.

    Returns a score dict (``metric="fd-classifier"``, ``label`` says it is not FID, ``value``,
    ``protocol``). The distance is :func:`gan_lab.metrics.frechet.frechet_distance_from_features`; the real
    statistics are cached.
    ``n_real=None`` uses the whole split (10,000 test images: cheap for this network).
    ``real_images`` (uint8 (N, C, H, W) at the generator's size) skips loading the dataset, e.g.
    when a training callback calls this every few hundred steps.
    """
    dataset = check_dataset(dataset)
    device = next(model.parameters()).device
    classifier = classifier or load_classifier(dataset, device=device, root=root)
    extractor = ClassifierFeatures(classifier, device)
    c = model.config
    mu_r, sigma_r, protocol = real_statistics(dataset, extractor, c.image_size, c.channels,
                                              n_real, split, root, batch_size, cache=cache, images=real_images)
    fake = generator_features(model, n, extractor, batch_size, seed, use_ema)
    protocol.update(generator_protocol(model, n, seed, use_ema))
    return {"metric": "fd-classifier", "label": LABEL, "value": frechet_distance_from_features(fake, mu_r, sigma_r),
            "protocol": protocol}


class ClassifierFDTracker:
    """Training callback: the classifier-feature distance every ``every`` steps (not FID).

    Pass it to :func:`gan_lab.train.train` in ``callbacks``. It keeps ``self.steps`` and
    ``self.values`` for a plot and adds each score, with its protocol, to the run directory's
    ``metrics.json``. Generation uses its own seeded latent codes and eval mode, so the training
    run's random state is untouched (resume stays exact).
    """

    def __init__(self, every: int = 500, dataset: str = "fashion-mnist", n: int = 1000,
                 n_real: int | None = None, seed: int = 0, root=None, save: bool = True):
        if every < 1:
            raise GanLabError(f"every must be at least 1, got {every}")
        self.every, self.dataset, self.n, self.n_real = every, check_dataset(dataset), n, n_real
        self.seed, self.root, self.save = seed, root, save
        self.steps: list[int] = []
        self.values: list[float] = []
        self._classifier = None
        self._real = None

    def on_train_start(self, model, state) -> None:
        c = model.config
        self._classifier = load_classifier(self.dataset, device=state.device, root=self.root)
        self._real = load_data(self.dataset, image_size=c.image_size, channels=c.channels, split="test",
                               root=self.root).images

    def on_step_end(self, model, state, row) -> None:
        if state.step % self.every == 0 and getattr(state, "is_main", True):
            self.measure(model, state)

    def measure(self, model, state) -> dict:
        if self._classifier is None:
            self.on_train_start(model, state)
        score = classifier_frechet_distance(model, self.dataset, n=self.n, n_real=self.n_real, seed=self.seed,
                                            classifier=self._classifier, real_images=self._real)
        score["protocol"]["step"] = int(state.step)
        self.steps.append(int(state.step))
        self.values.append(score["value"])
        if self.save:
            state.run.save_scores([score])
        return score
