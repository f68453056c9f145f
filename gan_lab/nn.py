"""Building blocks shared by the convolutional families (DCGAN, WGAN, VAE-GAN, ImprovedDCGAN, DNFM-GAN).

* :func:`init_dcgan_`: the one weight initialisation (Radford et al., 2016), for every family.
* :class:`ConvGenerator`: the DCGAN generator (transposed convolutions, batch norm, ReLU, tanh).
* :class:`ConvFeatures`: DCGAN-style stack of strided convolutions (28, 32, 64, 128 px) with a
  choice of normalisation: batch norm (DCGAN), layer norm (WGAN-GP's critic) or none.
* :class:`ConvDiscriminator`: the one DCGAN discriminator: ``ConvFeatures`` + optional minibatch
  discrimination + one linear score; ``features(x, layer)`` exposes any block's output.
* :class:`ConvEncoder`: ``ConvFeatures`` + a linear map to a vector (VAE-GAN's encoder, DNFM's E).
* :class:`MinibatchDiscrimination` (Salimans et al., 2016, §3.2).
* :class:`HistoricalAverage`: running means of a module's parameters (Salimans et al., §3.3).
* :func:`step_separately`: several optimisers, each stepping on its own loss of one shared graph.

Shapes: G starts from a ``base`` x ``base`` map (7 for 28 px, else 4) and doubles the resolution
per block; D halves it per block (a 4x4 kernel on an even map, 3x3 on an odd one, so
28 -> 14 -> 7 and 32 -> 16 -> 8 -> 4). Widths come in as tuples, one per block; the classic DCGAN
widths (``ndf, 2 ndf, 4 ndf, ...``) are :func:`classic_widths`. The nets know nothing of the
families' configs: :mod:`gan_lab.models.base` builds them from a ``ConvConfig``.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from gan_lab import losses

Tensor = torch.Tensor

SUPPORTED_SIZES = (28, 32, 64, 128)
NORMS = ("batch", "layer", "none")


def init_dcgan_(module: nn.Module) -> None:
    """Radford et al.'s initialisation: conv/linear weights ~ N(0, 0.02), norm scales ~ N(1, 0.02), biases 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)):
        if module.weight is not None:
            nn.init.normal_(module.weight, 1.0, 0.02)
            nn.init.zeros_(module.bias)


def check_image_size(image_size: int) -> None:
    """Raise ValueError unless the convolutional nets can build ``image_size`` px images."""
    if image_size not in SUPPORTED_SIZES:
        raise ValueError(f"the convolutional nets build {', '.join(map(str, SUPPORTED_SIZES))} px images, "
                         f"not {image_size}; pick one of those --image-size values")


def base_size(image_size: int) -> int:
    """Width of G's first map and D's last: 7 for 28 px, 4 otherwise."""
    return 7 if image_size % 7 == 0 else 4


def down_blocks(image_size: int) -> int:
    """Number of stride-2 blocks that take ``image_size`` down to 7 (28 px) or 4 pixels."""
    return int(round(math.log2(image_size / base_size(image_size))))


def classic_widths(image_size: int, width: int) -> tuple[int, ...]:
    """D's classic DCGAN widths, ``width * 2**i`` for each block (G uses them reversed)."""
    return tuple(width * 2 ** i for i in range(down_blocks(image_size)))


def norm_layer(kind: str, width: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(width)
    if kind == "layer":
        # layer norm over (C, H, W) of each sample, with a per-channel scale and shift
        return nn.GroupNorm(1, width)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be one of {NORMS}, got {kind!r}")


class ConvFeatures(nn.Module):
    """image (B, C, S, S) -> feature map (B, widths[-1], s, s), one stride-2 block per width.

    Block ``i``: strided conv, normalisation (not on block 0, as in DCGAN), LeakyReLU(0.2),
    optional dropout. ``extra_layers`` stride-1 3x3 blocks follow block 0. ``bias=True`` gives a
    bias to every conv that no normalisation follows; ``bias=False`` gives none (DCGAN's choice).
    """

    def __init__(self, image_size: int, channels: int, widths: Sequence[int], norm: str = "batch",
                 extra_layers: int = 0, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        check_image_size(image_size)
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        if not widths:
            raise ValueError("the discriminator needs at least one block width")
        self.blocks = nn.ModuleList()
        self.shapes: list[tuple[int, int, int]] = []      # (C, H, W) after each block
        size, width = image_size, channels
        for i, w in enumerate(widths):
            kernel = 4 if size % 2 == 0 else 3             # 7 -> 4 needs a 3x3 kernel with padding 1
            layers = [nn.Conv2d(width, w, kernel, 2, 1, bias=bias and (i == 0 or norm == "none"))]
            size = (size + 2 - kernel) // 2 + 1
            if i > 0:
                layers.append(norm_layer(norm, w))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            if i == 0:
                for _ in range(extra_layers):
                    layers += [nn.Conv2d(w, w, 3, 1, 1, bias=bias and norm == "none"), norm_layer(norm, w),
                               nn.LeakyReLU(0.2, inplace=True)]
            self.blocks.append(nn.Sequential(*layers))
            self.shapes.append((w, size, size))
            width = w

    def forward(self, x: Tensor, layer: int = -1) -> Tensor:
        """Output of block ``layer`` (default the last), shape (B, C', s, s)."""
        stop = layer % len(self.blocks)
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i == stop:
                break
        return x


class MinibatchDiscrimination(nn.Module):
    r"""Minibatch discrimination (Salimans et al., 2016, §3.2).

    Features :math:`f(x_i) \in \mathbb{R}^A` are multiplied by a tensor
    :math:`T \in \mathbb{R}^{A \times B \times C}` into :math:`M_i \in \mathbb{R}^{B \times C}`;
    for each of the ``kernels`` = B rows,

    .. math::
        c_b(x_i, x_j) = \exp(-\lVert M_{i,b} - M_{j,b} \rVert_{L_1}), \qquad
        o(x_i)_b = \sum_{j \ne i} c_b(x_i, x_j)

    and the layer returns :math:`[f(x_i), o(x_i)]`, shape (N, A + B). A generator that collapses
    to one mode makes :math:`o` large, which the next layer can detect. The paper's sum runs
    over all j; leaving out j = i (which adds the constant 1, as OpenAI's code does) changes nothing
    the next layer cannot absorb in its bias.
    """

    def __init__(self, in_features: int, kernels: int = 100, kernel_dim: int = 5):
        super().__init__()
        self.kernels, self.kernel_dim = kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(in_features, kernels * kernel_dim) * 0.05)

    def forward(self, f: Tensor) -> Tensor:
        m = (f @ self.T).view(-1, self.kernels, self.kernel_dim)           # (N, B, C)
        l1 = (m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(dim=3)           # (N, N, B): ||M_i,b - M_j,b||_1
        c = torch.exp(-l1)
        o = c.sum(dim=1) - 1.0                                             # (N, B), leaving out j = i (c = 1)
        return torch.cat([f, o], dim=1)


class ConvDiscriminator(nn.Module):
    """image (B, C, S, S) -> score (B,), a logit or a critic value: the one DCGAN discriminator.

    :class:`ConvFeatures` (``widths``, ``norm``, ``extra_layers``, ``dropout``, ``bias``), optional
    minibatch discrimination (``minibatch_kernels > 0``), then one linear score over the whole last
    map (with a bias when ``bias``). ``features(x, layer)`` gives block ``layer``'s map for feature
    matching; ``feature_shape`` is the last map's (C, H, W).
    """

    def __init__(self, image_size: int, channels: int, widths: Sequence[int], norm: str = "batch",
                 extra_layers: int = 0, dropout: float = 0.0, minibatch_kernels: int = 0, minibatch_dim: int = 5,
                 bias: bool = True):
        super().__init__()
        self.body = ConvFeatures(image_size, channels, widths, norm, extra_layers, dropout, bias)
        self.feature_shape = self.body.shapes[-1]
        c, h, w = self.feature_shape
        width = c * h * w
        self.minibatch = MinibatchDiscrimination(width, minibatch_kernels, minibatch_dim) if minibatch_kernels else None
        self.head = nn.Linear(width + minibatch_kernels, 1, bias=bias)
        self.apply(init_dcgan_)
        if self.minibatch is not None:     # keep T's own scale: N(0, 0.02) would make o ~ N - 1 for every batch
            nn.init.normal_(self.minibatch.T, 0.0, 0.05)

    def features(self, x: Tensor, layer: int = -1) -> Tensor:
        return self.body(x, layer)        # (B, C', s, s)

    def forward(self, x: Tensor) -> Tensor:
        f = self.body(x).flatten(1)       # (B, A)
        if self.minibatch is not None:
            f = self.minibatch(f)         # (B, A + kernels)
        return self.head(f).flatten()     # (B,)


def paired_features(D: nn.Module, x_real: Tensor, x_fake: Tensor, layer: int = -1,
                    joint: bool = False) -> tuple[Tensor, Tensor]:
    """Features of block ``layer`` of ``D`` for real and fake images, for feature matching.

    ``joint=False``: two passes, one per batch (as DCGAN's D sees them in its own step). With
    batch norm in D each batch is then normalised with its own statistics, so part of what the
    batch means could differ by is normalised away. ``joint=True``: one pass of the concatenated
    batch, so both are compared under the same normalisation. Which trains better is an empirical
    question (see the ImprovedDCGAN and DNFM docstrings). Returns ``(f_real, f_fake)`` as float32
    ``(B, C', s, s)``; ``f_real`` is detached (the real images are a fixed target).
    """
    if not joint:
        with torch.no_grad():
            f_real = D.features(x_real, layer).float()
        return f_real, D.features(x_fake, layer).float()
    n = x_real.shape[0]
    f = D.features(torch.cat([x_real, x_fake.to(x_real.dtype)]), layer).float()
    return f[:n].detach(), f[n:]


class ConvEncoder(nn.Module):
    """image (B, C, S, S) -> vector (B, out_dim): a ConvFeatures stack and one linear layer."""

    def __init__(self, image_size: int, channels: int, widths: Sequence[int], out_dim: int, norm: str = "batch",
                 extra_layers: int = 0):
        super().__init__()
        self.body = ConvFeatures(image_size, channels, widths, norm, extra_layers)
        c, h, w = self.body.shapes[-1]
        self.head = nn.Linear(c * h * w, out_dim)
        self.apply(init_dcgan_)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x).flatten(1))   # (B, out_dim)


class ConvGenerator(nn.Module):
    """z (B, latent_dim) -> image (B, C, S, S) in [-1, 1]: the DCGAN generator.

    ``widths[0]`` channels at ``base`` x ``base`` (``project="conv"``: a transposed conv from
    1x1; ``"linear"``: a dense layer), then one block per further width: a 4x4 stride-2
    transposed conv while the map is below the top size, a 3x3 stride-1 conv after that;
    batch norm and ReLU after each. ``extra_layers`` stride-1 3x3 blocks follow. The output
    layer (``output="upsample"``: a last transposed conv; ``"conv"``: a 3x3 conv at full size)
    gives the image through tanh. Radford et al.'s choices: no bias before batch norm, N(0, 0.02).
    """

    def __init__(self, image_size: int, channels: int, latent_dim: int, widths: Sequence[int],
                 project: str = "conv", output: str = "upsample", extra_layers: int = 0):
        super().__init__()
        check_image_size(image_size)
        base = base_size(image_size)
        size = base
        if project == "conv":
            self.project = nn.ConvTranspose2d(latent_dim, widths[0], base, 1, 0, bias=False)
        else:
            self.project = nn.Sequential(nn.Linear(latent_dim, widths[0] * base * base, bias=False),
                                         nn.Unflatten(1, (widths[0], base, base)))
        blocks = [nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)]
        # hidden upsampling blocks stop at S/2 when the output layer itself upsamples
        top = image_size // 2 if output == "upsample" else image_size
        width = widths[0]
        for w in widths[1:]:
            if size < top:
                blocks.append(nn.ConvTranspose2d(width, w, 4, 2, 1, bias=False))
                size *= 2
            else:
                blocks.append(nn.Conv2d(width, w, 3, 1, 1, bias=False))
            blocks += [nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
            width = w
        for _ in range(extra_layers):
            blocks += [nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        self.blocks = nn.Sequential(*blocks)
        if size < image_size:
            self.to_image = nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False)
            size *= 2
        else:
            self.to_image = nn.Conv2d(width, channels, 3, 1, 1, bias=False)
        if size != image_size:
            raise ValueError(f"generator widths {tuple(widths)} reach {size} px, not {image_size}")
        self.apply(init_dcgan_)

    def forward(self, z: Tensor) -> Tensor:
        x = self.project(z.flatten(1)[:, :, None, None] if isinstance(self.project, nn.ConvTranspose2d) else z)
        return torch.tanh(self.to_image(self.blocks(x)))  # (B, C, S, S)


class HistoricalAverage(nn.Module):
    """Running means of the parameters of ``module`` (buffers, so they are in the state_dict).

    ``update(module)`` after each optimiser step; ``penalty(module)`` is
    :func:`gan_lab.losses.historical_average_penalty` against the means.
    """

    def __init__(self, module: nn.Module):
        super().__init__()
        self.names = [name for name, _ in module.named_parameters()]
        for i, (_, p) in enumerate(module.named_parameters()):
            self.register_buffer(f"mean_{i}", p.detach().clone())
        self.register_buffer("count", torch.ones((), dtype=torch.long))

    def means(self) -> list[Tensor]:
        return [getattr(self, f"mean_{i}") for i in range(len(self.names))]

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        self.count += 1
        weight = 1.0 / float(self.count)
        for mean, p in zip(self.means(), module.parameters()):
            mean.lerp_(p.detach(), weight)          # cumulative mean: m += (p - m) / t

    def penalty(self, module: nn.Module) -> Tensor:
        return losses.historical_average_penalty(module.parameters(), self.means())


def step_separately(model, losses: dict[str, Tensor]) -> None:
    """For each optimiser name, back-propagate its own loss into its own parameters, then step all.

    Needed when nets that share one forward graph must follow different objectives (VAE-GAN's
    encoder and decoder, Larsen et al. Algorithm 1): ``loss.backward(inputs=params)`` fills
    only that optimiser's gradients, and every backward pass runs before any weight changes.
    """
    names = list(losses)
    for i, name in enumerate(names):
        opt = model.optimizers[name]
        opt.zero_grad(set_to_none=True)
        params = [p for group in opt.param_groups for p in group["params"] if p.requires_grad]
        losses[name].backward(inputs=params, retain_graph=i < len(names) - 1)
    for name in names:
        model.optimizers[name].step()
