"""What every model family shares: the config fields the loop reads, optimisers, EMA, sampling.

A family module (``gan_lab/models/<name>.py``) defines

* ``Config``: a frozen dataclass deriving from :class:`BaseConfig` (or :class:`ConvConfig` for
  the DCGAN-shaped nets), with its presets in ``PRESETS`` (``"tiny"`` at least),
* ``Model``: a subclass of :class:`GANModel` that creates its nets in :meth:`GANModel.build` and
  implements :meth:`GANModel.d_step` and :meth:`GANModel.g_step`.

Constructing a model calls ``build()``, then makes the optimisers (:meth:`GANModel.configure_optimizers`)
and the EMA copy of G, and checks that every trainable parameter has an optimiser: a family
cannot forget its set-up. The one training loop (:mod:`gan_lab.train`) calls ``d_step``
``config.n_critic`` times, then ``g_step`` ``config.g_steps`` times; that is one *training
step*. Each step function does its own forward, loss, backward and optimiser update (through
:meth:`GANModel.optimize`), and returns a dict of detached 0-dim tensors or floats for the history.
"""
from __future__ import annotations

import copy
import math
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, fields
from typing import ClassVar, NamedTuple

import torch
from torch import nn

from gan_lab import losses
from gan_lab.nn import ConvDiscriminator, ConvGenerator, base_size, check_image_size, classic_widths
from gan_lab.utils import GanLabError

Tensor = torch.Tensor


@dataclass(frozen=True)
class BaseConfig:
    """Fields the shared loop and the command line rely on. Families add their own."""

    image_size: int = 64
    channels: int = 1
    latent_dim: int = 100
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    n_critic: int = 1          # discriminator steps per training step
    g_steps: int = 1           # generator steps per training step (SinGAN takes 3)
    ema_decay: float = 0.0     # 0 turns the EMA copy of G off; 0.999 is typical

    def __post_init__(self):
        if self.image_size <= 0:
            raise ValueError(f"image_size must be positive, got {self.image_size}")
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {self.channels}")
        if self.latent_dim <= 0:
            raise ValueError(f"latent_dim must be positive, got {self.latent_dim}")
        for name in ("lr_g", "lr_d"):
            lr = getattr(self, name)
            if not (math.isfinite(lr) and lr > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {lr}")
        if self.n_critic < 1:
            raise ValueError(f"n_critic must be at least 1, got {self.n_critic}")
        if self.g_steps < 1:
            raise ValueError(f"g_steps must be at least 1, got {self.g_steps}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        # JSON turns tuples into lists; keep the dataclass hashable and comparable.
        if isinstance(self.betas, list):
            object.__setattr__(self, "betas", tuple(self.betas))
        if (not isinstance(self.betas, tuple) or len(self.betas) != 2
                or not all(0.0 <= b < 1.0 for b in self.betas)):
            raise ValueError(f"betas must be two numbers, each in [0, 1), got {self.betas}")

    #: named presets: field values over the defaults. Every family has ``"tiny"`` (small enough
    #: for unit tests and notebook smoke runs on a CPU); published settings get their own names.
    PRESETS: ClassVar[dict[str, dict]] = {"tiny": {}}

    @classmethod
    def preset(cls, name: str, **overrides) -> "BaseConfig":
        """The config of preset ``name`` (a key of ``PRESETS``), with ``overrides`` on top."""
        if name not in cls.PRESETS:
            raise GanLabError(f"no preset {name!r}; this family has: {', '.join(sorted(cls.PRESETS))}")
        return cls(**{**cls.PRESETS[name], **overrides})

    @classmethod
    def tiny(cls, **overrides) -> "BaseConfig":
        """``preset("tiny", **overrides)``."""
        return cls.preset("tiny", **overrides)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "BaseConfig":
        """Build from a dict (a checkpoint's or config.json's), ignoring no key silently."""
        names = {f.name for f in fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown {cls.__qualname__} fields: {sorted(unknown)}")
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls(**values)


@dataclass(frozen=True)
class ConvConfig(BaseConfig):
    """Fields of the families built from the DCGAN nets of :mod:`gan_lab.nn`, checked once here."""

    image_size: int = 64          # 28, 32, 64 or 128 (gan_lab.nn.SUPPORTED_SIZES)
    channels: int = 3
    latent_dim: int = 100
    ngf: int = 64                 # G's width at full resolution (it doubles per block below)
    ndf: int = 64                 # D's width after its first block (it doubles per block)
    extra_layers_g: int = 0       # stride-1 3x3 blocks at G's high-resolution end
    extra_layers_d: int = 0       # stride-1 3x3 blocks after D's first block

    def __post_init__(self):
        super().__post_init__()
        check_image_size(self.image_size)
        if self.ngf < 1 or self.ndf < 1:
            raise ValueError(f"ngf and ndf must be >= 1, got {self.ngf} and {self.ndf}")
        if self.extra_layers_g < 0 or self.extra_layers_d < 0:
            raise ValueError("extra_layers_g and extra_layers_d must be >= 0")

    @property
    def base(self) -> int:
        """Width of G's first map and D's last: 7 for 28 px, 4 otherwise."""
        return base_size(self.image_size)

    def generator_widths(self) -> tuple[int, ...]:
        """G's channels per block, from ``base`` up: ``ngf * 2**(n-1), ..., ngf``."""
        return classic_widths(self.image_size, self.ngf)[::-1]

    def discriminator_widths(self) -> tuple[int, ...]:
        """D's channels per block: ``ndf, 2 ndf, ..., ndf * 2**(n-1)``."""
        return classic_widths(self.image_size, self.ndf)

    def check_feature_layer(self, layer: int) -> None:
        """Raise ValueError unless ``layer`` indexes one of D's blocks (negative counts from the end)."""
        n = len(self.discriminator_widths())
        if not -n <= layer < n:
            raise ValueError(f"feature_layer must be in [-{n}, {n - 1}] for {self.image_size} px "
                             f"(the discriminator has {n} blocks), got {layer}")


def conv_generator(c: ConvConfig, **options) -> ConvGenerator:
    """The DCGAN generator of config ``c``; ``options`` go to :class:`gan_lab.nn.ConvGenerator`."""
    return ConvGenerator(c.image_size, c.channels, c.latent_dim, c.generator_widths(),
                         extra_layers=c.extra_layers_g, **options)


def conv_discriminator(c: ConvConfig, **options) -> ConvDiscriminator:
    """The DCGAN discriminator of config ``c``; ``options`` (norm, dropout, minibatch_kernels,
    bias, ...) go to :class:`gan_lab.nn.ConvDiscriminator`."""
    return ConvDiscriminator(c.image_size, c.channels, c.discriminator_widths(),
                             extra_layers=c.extra_layers_d, **options)


def d_stats(loss: NamedTuple, d_real: Tensor, d_fake: Tensor, **extra_logits: Tensor) -> dict:
    """The history row of a logit discriminator's step: its loss and each part, mean D(x), mean
    D(G(z)), accuracy.

    ``loss`` is a loss of :mod:`gan_lab.losses` with parts: ``total`` is logged as ``loss_d``,
    every other field ``f`` as ``loss_d_f`` (``loss_d_real``, ``loss_d_fake``, ...).
    ``extra_logits`` (e.g. ``d_rec=...``) are logged as mean probabilities under their own names.
    """
    row = {"loss_d": loss.total.detach()}
    row.update({f"loss_d_{name}": part.detach() for name, part in loss._asdict().items() if name != "total"})
    row["d_real"] = torch.sigmoid(d_real.detach().float()).mean()
    row["d_fake"] = torch.sigmoid(d_fake.detach().float()).mean()
    row.update({name: torch.sigmoid(v.detach().float()).mean() for name, v in extra_logits.items()})
    row["d_acc"] = losses.d_accuracy(d_real.detach(), d_fake.detach())
    return row


@contextmanager
def frozen(*modules: nn.Module):
    """Turn off ``requires_grad`` of the modules' parameters for the block.

    In a generator step the discriminator's weight gradients are never used; not computing
    them saves a third of D's backward pass. Gradients still flow *through* D to G.
    """
    params = [p for m in modules for p in m.parameters()]
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)


class GANModel(nn.Module):
    """Base class of every family: ``build()`` sets ``self.G`` and ``self.D`` (and extra nets).

    ``GANModel(config, **kwargs)`` calls ``self.build(**kwargs)``, then sets up the optimisers
    and the EMA copy of G itself. A family overrides ``build``, ``d_step`` and ``g_step``, and
    :meth:`configure_optimizers` when it has more nets than G and D.
    """

    family: ClassVar[str] = "base"

    def __init__(self, config: BaseConfig, **kwargs):
        super().__init__()
        self.config = config
        self.amp = False                  # bf16 autocast; the loop turns it on for precision "bf16"
        self.schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler] = {}
        self.G_ema: nn.Module | None = None
        # the bare nets when the loop wraps them (DistributedDataParallel); see :meth:`bare`
        self._bare: dict[str, nn.Module] = {}
        self.build(**kwargs)
        for name in ("G", "D"):
            if not isinstance(getattr(self, name, None), nn.Module):
                raise GanLabError(f"{type(self).__qualname__}.build() must set self.{name} to a module")
        self.optimizers: dict[str, torch.optim.Optimizer] = self.configure_optimizers()
        self._check_optimizers()
        if self.config.ema_decay > 0:
            self.G_ema = copy.deepcopy(self.G).requires_grad_(False).eval()

    # -- set-up ---------------------------------------------------------------------------
    def build(self, **kwargs) -> None:
        """Create the nets: ``self.G``, ``self.D`` and any extra (``self.E``). Every family defines it."""
        raise NotImplementedError(f"{type(self).__qualname__} must define build() to create self.G and self.D")

    def _check_optimizers(self) -> None:
        """Every trainable parameter of every net must be stepped by some optimiser."""
        stepped = {id(p) for opt in self.optimizers.values() for group in opt.param_groups for p in group["params"]}
        for name, p in self.named_parameters():
            if p.requires_grad and id(p) not in stepped:
                raise GanLabError(f"{type(self).__qualname__}: parameter {name} has no optimiser; "
                                  f"add its net to configure_optimizers()")

    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Adam for G and D with the family's learning rates (TTUR) and betas."""
        c = self.config
        return {
            "G": torch.optim.Adam(self.G.parameters(), lr=c.lr_g, betas=c.betas),
            "D": torch.optim.Adam(self.D.parameters(), lr=c.lr_d, betas=c.betas),
        }

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def bare(self, name: str) -> nn.Module:
        """Net ``name`` without the loop's DistributedDataParallel wrapper.

        A step that only reads a net (D in the generator step, G when sampling) uses the bare
        net, so no gradient synchronisation is started for it and rank 0 can sample alone.
        """
        return self._bare.get(name) or getattr(self, name)

    #: whether the loop may train this family on several processes (DDP) and under bf16 autocast
    data_parallel: ClassVar[bool] = True
    autocast_ok: ClassVar[bool] = True
    #: whether ``precision="auto"`` may pick bf16: True only for families whose bf16 runs matched
    #: fp32's quality within the seed spread (``benchmarks/precision_parity.py``; table in the README)
    bf16_parity: ClassVar[bool] = False
    #: whether bf16 made this family's step faster where measured; ``auto`` needs this too
    bf16_faster: ClassVar[bool] = True

    # -- hooks of the training loop (all optional) ----------------------------------------------
    def init_kwargs(self) -> dict:
        """Arguments besides the config that rebuild this model (JSON-able; saved in checkpoints).

        Most families need none; SinGAN needs the size of its training image.
        """
        return {}

    def begin_step(self, step: int) -> None:
        """Called by the loop before training step ``step`` (0-based), e.g. to enter a new scale."""

    def end_step(self, step: int) -> None:
        """Called by the loop after training step ``step``: steps the learning-rate schedulers."""
        for scheduler in self.schedulers.values():
            scheduler.step()

    def on_load(self, step: int) -> None:
        """Called after a checkpoint's weights are loaded, before its optimiser states are.

        A model whose optimisers depend on the step (SinGAN's current scale) builds them here.
        """

    def preview(self, n: int, seed: int = 0, use_ema: bool = True) -> Tensor:
        """``n`` images for a sample grid, the same for the same ``seed`` (fixed z on the CPU)."""
        gen = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.config.latent_dim, generator=gen)
        return self.generate(z, use_ema=use_ema)

    # -- helpers for step functions -----------------------------------------------------------
    def autocast(self):
        """bf16 autocast when ``self.amp`` is on (CUDA/CPU), a no-op otherwise."""
        if not self.amp:
            return nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)

    def optimize(self, name: str, loss: Tensor, retain_graph: bool = False) -> None:
        """Zero the grads of optimiser ``name``, back-propagate ``loss`` and step."""
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        loss.backward(retain_graph=retain_graph)
        opt.step()

    def sample_latent(self, n: int, device: torch.device | None = None) -> Tensor:
        """``n`` latent codes z ~ N(0, I), shape (n, latent_dim), on the model's device."""
        return torch.randn(n, self.config.latent_dim, device=device or self.device)

    @torch.no_grad()
    def update_ema(self) -> None:
        """G_ema <- decay * G_ema + (1 - decay) * G; buffers (BN statistics) are copied."""
        if self.G_ema is None:
            return
        decay = self.config.ema_decay
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
            p_ema.lerp_(p, 1.0 - decay)
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    @torch.no_grad()
    def generate(self, z: Tensor | int, use_ema: bool = True) -> Tensor:
        """Images from latent codes (or from ``z`` fresh codes), in [-1, 1], in eval mode."""
        if isinstance(z, int):
            z = self.sample_latent(z)
        # the bare net: under DDP only rank 0 samples, and a wrapped forward would wait for the others
        net = self.G_ema if (use_ema and self.G_ema is not None) else self.bare("G")
        was_training = net.training
        net.eval()
        try:
            with self.autocast():
                return net(z.to(self.device)).float()
        finally:
            net.train(was_training)

    # -- the two step functions ---------------------------------------------------------------
    def d_step(self, x_real: Tensor) -> dict:
        """One discriminator update on the real batch ``x_real``; returns the history's numbers."""
        raise NotImplementedError(f"{type(self).__qualname__} must define d_step()")

    def g_step(self, x_real: Tensor) -> dict:
        """One generator update (``x_real`` gives the batch size, or real features); returns numbers."""
        raise NotImplementedError(f"{type(self).__qualname__} must define g_step()")

    def extra_repr(self) -> str:
        return f"family={self.family}"


@dataclass(frozen=True)
class BCEConfig(BaseConfig):
    """Options of the families trained with the original (cross-entropy) GAN objective."""

    g_loss: str = "nonsaturating"   # or "saturating": log(1 - D(G(z))), for the book's comparison
    real_label: float = 1.0         # 0.9 = one-sided label smoothing

    def __post_init__(self):
        super().__post_init__()
        if self.g_loss not in ("nonsaturating", "saturating"):
            raise ValueError(f"g_loss must be 'nonsaturating' or 'saturating', got {self.g_loss!r}")
        if not 0.0 < self.real_label <= 1.0:
            raise ValueError(f"real_label must be in (0, 1], got {self.real_label}")


class BCEGAN(GANModel):
    """Step functions of the minimax game, shared by the vanilla GAN and DCGAN.

    ``d_step``: one Adam step on :func:`gan_lab.losses.d_loss_minimax`;
    ``g_step``: one Adam step on the non-saturating (default) or saturating generator loss.

    ``g_step`` scores the fakes that the last ``d_step`` generated: G has not changed since,
    so they are samples of the current generator, and reusing them saves one generator
    forward pass per step (the PyTorch DCGAN tutorial does the same). D is scored *after*
    its update, as in Goodfellow et al.'s Algorithm 1.
    """

    _last_fake: Tensor | None = None

    def d_step(self, x_real: Tensor) -> dict:
        with self.autocast():
            z = self.sample_latent(x_real.shape[0])
            x_fake = self.G(z)                           # (B, C, H, W); graph kept for g_step
            d_real = self.D(x_real)                      # (B,) logits
            d_fake = self.D(x_fake.detach())             # no gradient into G here
            loss = losses.d_loss_minimax(d_real.float(), d_fake.float(), self.config.real_label)
        self.optimize("D", loss.total)
        self._last_fake = x_fake
        return d_stats(loss, d_real, d_fake)

    def g_step(self, x_real: Tensor) -> dict:
        x_fake, self._last_fake = self._last_fake, None
        D = self.bare("D")   # no gradient sync for D here: its weights are frozen in this step
        with self.autocast(), frozen(D):
            if x_fake is None or x_fake.shape[0] != x_real.shape[0]:
                x_fake = self.G(self.sample_latent(x_real.shape[0]))
            d_fake = D(x_fake).float()
            if self.config.g_loss == "saturating":
                loss = losses.g_loss_saturating(d_fake)
            else:
                loss = losses.g_loss_nonsaturating(d_fake)
            self.optimize("G", loss)
        return {"loss_g": loss.detach()}
