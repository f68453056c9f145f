"""What every model family shares: the config fields the loop reads, optimisers, EMA, sampling.

A family module (``gan_lab/models/<name>.py``) defines

* ``Config``: a frozen dataclass deriving from :class:`BaseConfig`, with ``tiny()``,
* ``Model``: a subclass of :class:`GANModel` that builds its nets in ``__init__`` and
  implements :meth:`GANModel.d_step` and :meth:`GANModel.g_step`.

The one training loop (:mod:`gan_lab.train`) calls ``d_step`` ``config.n_critic`` times,
then ``g_step`` once; that is one *training step*. Each step function does its own
forward, loss, backward and optimiser update (through :meth:`GANModel.optimize`), and
returns a dict of detached 0-dim tensors or floats for the history.
"""
from __future__ import annotations

import copy
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, fields
from typing import ClassVar

import torch
from torch import nn

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
        if self.lr_g <= 0 or self.lr_d <= 0:
            raise ValueError("learning rates must be positive")
        if self.n_critic < 1:
            raise ValueError(f"n_critic must be at least 1, got {self.n_critic}")
        if self.g_steps < 1:
            raise ValueError(f"g_steps must be at least 1, got {self.g_steps}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        # JSON turns tuples into lists; keep the dataclass hashable and comparable.
        if isinstance(self.betas, list):
            object.__setattr__(self, "betas", tuple(self.betas))

    #: named presets: field values over the defaults. Every family has ``"tiny"`` (small enough
    #: for unit tests and notebook smoke runs on a CPU); published settings get their own names.
    PRESETS: ClassVar[dict[str, dict]] = {"tiny": {}}

    @classmethod
    def preset(cls, name: str, **overrides) -> "BaseConfig":
        """The config of preset ``name`` (a key of ``PRESETS``), with ``overrides`` on top."""
        if name not in cls.PRESETS:
            raise ValueError(f"no preset {name!r}; this family has: {', '.join(sorted(cls.PRESETS))}")
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


def d_stats(loss_d: Tensor, d_real: Tensor, d_fake: Tensor, **extra_logits: Tensor) -> dict:
    """The history row of a logit discriminator's step: its loss, mean D(x), mean D(G(z)), accuracy.

    ``extra_logits`` (e.g. ``d_rec=...``) are logged as mean probabilities under their own names.
    """
    from gan_lab import losses

    row = {"loss_d": loss_d.detach(),
           "d_real": torch.sigmoid(d_real.detach().float()).mean(),
           "d_fake": torch.sigmoid(d_fake.detach().float()).mean()}
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
    """Base class of every family. Subclasses set ``self.G`` and ``self.D`` (and extra nets)."""

    family: ClassVar[str] = "base"

    def __init__(self, config: BaseConfig):
        super().__init__()
        self.config = config
        self.amp = False                  # bf16 autocast; the loop turns it on for CUDA when asked
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler] = {}
        self.G_ema: nn.Module | None = None
        # the bare nets when the loop wraps them (DistributedDataParallel); see :meth:`bare`
        self._bare: dict[str, nn.Module] = {}

    # -- set-up ---------------------------------------------------------------------------
    def setup(self) -> "GANModel":
        """Call at the end of a subclass ``__init__``: builds optimisers and the EMA copy."""
        self.optimizers = self.configure_optimizers()
        if self.config.ema_decay > 0:
            self.G_ema = copy.deepcopy(self.G).requires_grad_(False).eval()
        return self

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

    def preview(self, n: int, seed: int = 0) -> Tensor:
        """``n`` images for a sample grid, the same for the same ``seed`` (fixed z on the CPU)."""
        gen = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.config.latent_dim, generator=gen)
        return self.generate(z)

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
            return net(z.to(self.device)).float()
        finally:
            net.train(was_training)

    # -- the two step functions ---------------------------------------------------------------
    def d_step(self, x_real: Tensor) -> dict:
        raise NotImplementedError

    def g_step(self, x_real: Tensor) -> dict:
        raise NotImplementedError

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
        from gan_lab import losses

        with self.autocast():
            z = self.sample_latent(x_real.shape[0])
            x_fake = self.G(z)                           # (B, C, H, W); graph kept for g_step
            d_real = self.D(x_real)                      # (B,) logits
            d_fake = self.D(x_fake.detach())             # no gradient into G here
            loss = losses.d_loss_minimax(d_real.float(), d_fake.float(), self.config.real_label)
        self.optimize("D", loss)
        self._last_fake = x_fake
        return d_stats(loss, d_real, d_fake)

    def g_step(self, x_real: Tensor) -> dict:
        from gan_lab import losses

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
