"""What a model is fed: the data set as one uint8 tensor, augmentation, and deterministic batches.

:class:`ImageData` holds a whole data set as ``uint8`` ``(N, C, H, W)`` on the CPU (what
:func:`~gan_lab.data.load_data` returns). :class:`BatchStream` turns it into batches that depend
only on ``(seed, index)``: ``stream.batch(i)`` is float32 in ``[-1, 1]`` on the chosen device, so
a run resumed at batch ``k`` sees exactly the batches a straight run would have seen.
:class:`Augment` applies the DCGAN thesis augmentations on the device: rotation by up to 10
degrees, a shift of up to 10 % of the width and height, a horizontal flip.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from gan_lab.data.images import to_float
from gan_lab.utils import GanLabError

__all__ = ["ImageData", "Augment", "BatchStream"]


@dataclass
class ImageData:
    """A whole image data set as one ``uint8`` tensor.

    ``images`` has shape ``(N, C, H, W)`` and lives on the CPU (for cached folders it is backed by a
    memory-mapped file: treat it as read-only). ``labels`` is ``int64`` of shape ``(N,)`` or None.
    ``source`` says where the pixels came from; ``skipped`` lists files that could not be read;
    ``classes`` names the labels (``classes[label]``; from the registry for a named data set, the
    subfolder names for a folder) and is empty for unlabelled data.
    """

    images: torch.Tensor
    labels: torch.Tensor | None = None
    name: str = ""
    source: str = ""
    skipped: tuple[str, ...] = field(default_factory=tuple)
    classes: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not isinstance(self.images, torch.Tensor) or self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise GanLabError("ImageData.images must be a uint8 tensor of shape (N, C, H, W)")
        if self.labels is not None and len(self.labels) != len(self.images):
            raise GanLabError(f"ImageData has {len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def image_size(self) -> int:
        """Side length (the height; every data set here is square except a single native-size image)."""
        return self.images.shape[2]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.images.shape)

    def float(self, indices=None) -> torch.Tensor:
        """Images (all, or ``indices``) as float32 in ``[-1, 1]``."""
        x = self.images if indices is None else self.images[indices]
        return to_float(x)

    def subset(self, indices) -> ImageData:
        """A new ImageData holding ``images[indices]`` (an int n means the first n)."""
        if isinstance(indices, int):
            indices = slice(0, indices)
        labels = None if self.labels is None else self.labels[indices]
        return ImageData(self.images[indices], labels, self.name, self.source, self.skipped, self.classes)

    def __repr__(self) -> str:
        labels = "none" if self.labels is None else f"{len(self.labels)}"
        return f"ImageData(name={self.name!r}, shape={self.shape}, labels={labels}, source={self.source!r})"


# ---------------------------------------------------------------------------------------------
# Augmentation (on the device, batched)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Augment:
    """Random rotation, shift and horizontal flip, applied to a whole batch at once.

    ``rotation`` is the largest angle in degrees (uniform in ``[-rotation, rotation]``), ``shift``
    the largest shift as a fraction of width and height (uniform in ``[-shift, shift]`` for each
    axis), ``hflip`` mirrors each image with probability 1/2. A value of 0 / False switches that
    operation off. Pixels that come from outside the image repeat the nearest border pixel
    (``padding_mode="border"``, what Keras' ``fill_mode="nearest"`` does), mirror the image
    (``"reflection"``) or are black, i.e. -1 (``"black"``).
    The random draws come from ``generator``, so a fixed generator state gives a fixed result; four
    numbers are drawn per image whatever is switched on, so turning one operation off does not
    change what the others do.
    """

    rotation: float = 10.0
    shift: float = 0.1
    hflip: bool = True
    padding_mode: str = "border"

    def __post_init__(self) -> None:
        if self.rotation < 0 or self.shift < 0:
            raise GanLabError("Augment rotation and shift must be >= 0")
        if self.padding_mode not in ("border", "reflection", "black"):
            raise GanLabError("Augment padding_mode must be border, reflection or black")

    @property
    def enabled(self) -> bool:
        return self.rotation > 0 or self.shift > 0 or bool(self.hflip)

    def sample(self, n: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Draw the parameters for ``n`` images (on the generator's device): angle (radians), tx, ty, flip."""
        device = generator.device if generator is not None else torch.device("cpu")
        u = torch.rand(n, 4, generator=generator, device=device, dtype=torch.float64)
        return {
            "angle": (2 * u[:, 0] - 1) * math.radians(self.rotation),
            "tx": (2 * u[:, 1] - 1) * self.shift,  # fraction of the width
            "ty": (2 * u[:, 2] - 1) * self.shift,  # fraction of the height
            "flip": (u[:, 3] < 0.5) & bool(self.hflip),
        }

    def theta(self, params: dict[str, torch.Tensor], height: int, width: int) -> torch.Tensor:
        """The (B, 2, 3) affine matrices for ``F.affine_grid`` (output -> input, normalised coords)."""
        angle, flip = params["angle"], params["flip"]
        cos, sin = torch.cos(angle), torch.sin(angle)
        sx = 1.0 - 2.0 * flip.to(angle.dtype)  # -1 mirrors left-right
        aspect = height / width
        # rotation in pixel space, written in coordinates normalised to [-1, 1] on each axis
        theta = torch.zeros(angle.shape[0], 2, 3, dtype=angle.dtype, device=angle.device)
        theta[:, 0, 0] = cos * sx
        theta[:, 0, 1] = -sin * aspect
        theta[:, 1, 0] = sin / aspect * sx
        theta[:, 1, 1] = cos
        theta[:, 0, 2] = 2 * params["tx"]  # the normalised width is 2
        theta[:, 1, 2] = 2 * params["ty"]
        return theta

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augment a float batch ``(B, C, H, W)``; returns a new tensor on x's device (x itself if all off)."""
        if not x.is_floating_point() or x.dim() != 4:
            raise TypeError("Augment expects a float tensor of shape (B, C, H, W); use to_float first")
        if not self.enabled:
            return x
        params = self.sample(x.shape[0], generator)
        if self.rotation == 0 and self.shift == 0:
            flip = params["flip"].to(x.device).view(-1, 1, 1, 1)
            return torch.where(flip, x.flip(-1), x)  # exact mirror, no resampling
        theta = self.theta(params, x.shape[2], x.shape[3]).float().to(x.device)  # float64 -> float32 before moving (MPS has no float64)
        work = x if x.dtype == torch.float32 else x.float()
        grid = F.affine_grid(theta, list(work.shape), align_corners=False)
        if self.padding_mode == "black":  # grid_sample pads with 0; shift so that 0 means -1
            out = F.grid_sample(work + 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1
        else:
            out = F.grid_sample(work, grid, mode="bilinear", padding_mode=self.padding_mode, align_corners=False)
        return out.to(x.dtype)


# ---------------------------------------------------------------------------------------------
# Deterministic batches
# ---------------------------------------------------------------------------------------------


def _mix_seed(*parts) -> int:
    """A 63-bit seed from a tuple of ints/strings, the same in every Python process."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2**63 - 1)


class BatchStream:
    """Batches that depend only on ``(seed, index)``: ``stream.batch(i)`` is the i-th batch.

    Sample order: the stream is a sequence of epochs; epoch ``e`` is a permutation of the data drawn
    from a generator seeded with ``(seed, e)``. With ``world_size`` > 1 every rank builds the same
    permutation and takes its own block of ``N // world_size`` positions, so ranks never share an
    image within an epoch (the last ``N % world_size`` positions of each permutation are left out).
    Batch ``i`` of a rank holds positions ``i*B .. i*B + B - 1`` of that rank's sequence, continuing
    into the next epoch when it runs past the end. uint8 pixels are moved to ``device`` first and
    converted to float32 in ``[-1, 1]`` there; ``augment`` then runs with a generator seeded from
    ``(seed, index, rank)``, so a run resumed at index k reproduces the same batches exactly.
    """

    def __init__(self, data: ImageData | torch.Tensor, batch_size: int, seed: int = 0,
                 device: str | torch.device = "cpu", augment: Augment | None = None,
                 rank: int = 0, world_size: int = 1, pin_memory: bool | None = None,
                 memory_format: torch.memory_format = torch.contiguous_format):
        images = data.images if isinstance(data, ImageData) else data
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
            raise GanLabError("BatchStream needs ImageData or a uint8 tensor of shape (N, C, H, W)")
        self.images = images
        self.labels = data.labels if isinstance(data, ImageData) else None
        if not isinstance(world_size, int) or world_size < 1:
            raise GanLabError(f"world_size must be a positive integer, got {world_size!r}")
        if not isinstance(rank, int) or not 0 <= rank < world_size:
            raise GanLabError(f"rank must be in 0..{world_size - 1}, got {rank!r}")
        n = images.shape[0]
        self.per_rank = n // world_size
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise GanLabError(f"batch size must be a positive integer, got {batch_size!r}")
        if batch_size > self.per_rank:
            share = f" ({n} images shared by {world_size} ranks)" if world_size > 1 else ""
            raise GanLabError(f"batch size {batch_size} is larger than the data set: {self.per_rank} images"
                              f"{share}; use --batch-size {max(self.per_rank, 1)} or fewer, or more data")
        self.batch_size = batch_size
        self.seed = int(seed)
        self.device = torch.device(device)
        self.augment = augment if augment is not None and augment.enabled else None
        self.rank = rank
        self.world_size = world_size
        self.pin_memory = (self.device.type == "cuda") if pin_memory is None else bool(pin_memory)
        self._orders: dict[int, torch.Tensor] = {}
        self.memory_format = memory_format      # torch.channels_last for nets kept in NHWC

    def __len__(self) -> int:
        """Whole batches per epoch (the stream itself never ends)."""
        return self.per_rank // self.batch_size

    @property
    def batches_per_epoch(self) -> float:
        return self.per_rank / self.batch_size

    def epoch_of(self, index: int) -> int:
        return (index * self.batch_size) // self.per_rank

    def _epoch_order(self, epoch: int) -> torch.Tensor:
        if epoch not in self._orders:
            g = torch.Generator().manual_seed(_mix_seed("perm", self.seed, epoch))
            perm = torch.randperm(self.images.shape[0], generator=g)
            self._orders = {k: v for k, v in self._orders.items() if k >= epoch - 1}
            self._orders[epoch] = perm[self.rank * self.per_rank:(self.rank + 1) * self.per_rank]
        return self._orders[epoch]

    def indices(self, index: int) -> torch.Tensor:
        """Which images (row numbers) batch ``index`` of this rank holds, in batch order."""
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise GanLabError(f"batch index must be a non-negative integer, got {index!r}")
        start = index * self.batch_size
        epoch, offset = divmod(start, self.per_rank)
        pieces, need = [], self.batch_size
        while need > 0:
            take = self._epoch_order(epoch)[offset:offset + need]
            pieces.append(take)
            need -= len(take)
            epoch, offset = epoch + 1, 0
        return torch.cat(pieces)

    def batch(self, index: int) -> torch.Tensor:
        """Batch ``index`` as float32 ``(B, C, H, W)`` in ``[-1, 1]`` on the stream's device."""
        x = self.images[self.indices(index)]  # uint8 (B, C, H, W) on the CPU
        if self.pin_memory and self.device.type == "cuda":
            x = x.pin_memory()
        x = to_float(x.to(self.device, non_blocking=True))
        if self.augment is not None:
            g = torch.Generator().manual_seed(_mix_seed("augment", self.seed, index, self.rank))
            x = self.augment(x, g)
        if self.memory_format is not torch.contiguous_format:
            x = x.contiguous(memory_format=self.memory_format)
        return x

    def batch_labels(self, index: int) -> torch.Tensor | None:
        """Labels of batch ``index`` (int64, on the device), or None for unlabelled data."""
        if self.labels is None:
            return None
        return self.labels[self.indices(index)].to(self.device)

    def __iter__(self):
        index = 0
        while True:
            yield self.batch(index)
            index += 1
