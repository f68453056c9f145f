"""The SinGAN family: the whole pyramid as one GANModel, trained scale by scale by the shared loop."""
from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from gan_lab import losses
from gan_lab.models.base import GANModel
from gan_lab.models.singan.config import MIN_SIDE, Config
from gan_lab.models.singan.nets import Discriminator, Generator
from gan_lab.models.singan.pyramid import (
    as_image_tensor,
    pyramid_sizes,
    resize,
    upsample,
)
from gan_lab.utils import GanLabError

Tensor = torch.Tensor


def seeded_generator(seed: int | None, device: torch.device) -> torch.Generator | None:
    """A torch.Generator on ``device`` seeded with ``seed``; ``None`` (the global RNG) without a seed."""
    if seed is None:
        return None
    return torch.Generator(device=device).manual_seed(int(seed))


class Model(GANModel):
    """All scales of a SinGAN: generators, critics, noise amplitudes, the fixed noise and the image.

    Built for an image of ``height`` x ``width`` pixels (before shrinking to the max size); the
    image itself, the fixed reconstruction noise ``z_rec``, the noise amplitudes and the number of
    finished scales are buffers, so a checkpoint alone rebuilds a usable pyramid. Only the scale in
    training has trainable parameters and optimisers; the others are frozen. Make one with
    :meth:`from_image` and train it with ``gan_lab.train.train(model, model.stream(), ...)`` for
    :attr:`total_steps` steps: step ``k`` trains scale ``k // steps_per_scale``.
    """

    family: ClassVar[str] = "singan"
    data_parallel = False      # one image: nothing to split across processes
    autocast_ok = False        # its step functions have no autocast path: they run in fp32

    def build(self, height: int, width: int) -> None:
        config = self.config
        self.height, self.width = int(height), int(width)
        sizes, self.scale_factor = pyramid_sizes(self.height, self.width, config)
        self.sizes = [tuple(int(v) for v in s) for s in sizes]
        n = len(self.sizes)
        self.generators = nn.ModuleList(
            Generator(config.filters_at(i), config.channels, config.batch_norm) for i in range(n))
        self.discriminators = nn.ModuleList(
            Discriminator(config.filters_at(i), config.channels, config.batch_norm) for i in range(n))
        # frozen until their scale trains: the loop only ever updates one scale
        self.generators.requires_grad_(False)
        self.discriminators.requires_grad_(False)
        self.register_buffer("noise_amp", torch.ones(n))
        self.register_buffer("z_rec", torch.randn(1, config.channels, *self.sizes[0]))
        self.register_buffer("image", torch.zeros(1, config.channels, *self.sizes[-1]))
        self.register_buffer("scales_trained", torch.zeros((), dtype=torch.long))
        self.scale = -1                      # the scale in training (set by begin_step / on_load)
        self.rec_prev: Tensor | None = None  # upsampled reconstruction from below, fixed per scale

    @classmethod
    def from_image(cls, image, config: Config) -> "Model":
        """An untrained pyramid for ``image`` ((1, 3, H, W) in [-1, 1] or an array, any size)."""
        image = as_image_tensor(image)
        model = cls(config, height=image.shape[-2], width=image.shape[-1])
        model.image.copy_(resize(image, model.sizes[-1]))
        return model

    def init_kwargs(self) -> dict:
        return {"height": self.height, "width": self.width}

    @property
    def num_scales(self) -> int:
        return len(self.sizes)

    @property
    def total_steps(self) -> int:
        """Training steps of the whole pyramid: ``num_scales * steps_per_scale``."""
        return self.num_scales * self.config.steps_per_scale

    @property
    def G(self) -> Generator:
        """The generator of the scale in training (scale 0 before the loop enters one)."""
        return self.generators[max(self.scale, 0)]

    @property
    def D(self) -> Discriminator:
        """The critic of the scale in training (scale 0 before the loop enters one)."""
        return self.discriminators[max(self.scale, 0)]

    def _current(self) -> int:
        if self.scale < 0:
            raise GanLabError("no SinGAN scale is in training yet; the loop enters one in begin_step")
        return self.scale

    def real(self, n: int) -> Tensor:
        """The real image of scale ``n``, (1, 3, H_n, W_n)."""
        return resize(self.image, self.sizes[n])

    def reals(self) -> list[Tensor]:
        """The real image at every scale, coarsest first."""
        return [self.real(n) for n in range(self.num_scales)]

    def stream(self) -> "PyramidStream":
        """The data the shared loop trains this model on: the real image of each step's scale."""
        return PyramidStream(self)

    # -- the loop's hooks: one scale after the other ------------------------------------------
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Adam for the current scale's G and D; none before the loop enters a scale."""
        return super().configure_optimizers() if self.scale >= 0 else {}

    def begin_step(self, step: int) -> None:
        """Enter scale ``step // steps_per_scale`` at its first step."""
        n = step // self.config.steps_per_scale
        if n != self.scale:
            self._enter_scale(n, fresh=True)

    def end_step(self, step: int) -> None:
        """Step the learning-rate schedules; after a scale's last step mark it trained."""
        super().end_step(step)
        if (step + 1) % self.config.steps_per_scale == 0:
            self._finish_scale()

    def on_load(self, step: int) -> None:
        """Rebuild the optimisers of the scale the checkpoint's last step trained (weights as loaded)."""
        if step == 0:
            return
        self._enter_scale((step - 1) // self.config.steps_per_scale, fresh=False)
        if step % self.config.steps_per_scale == 0:
            self._finish_scale()

    def _enter_scale(self, n: int, fresh: bool) -> None:
        r"""Make scale ``n`` the one in training.

        ``fresh``: its first step, so start from the weights of scale ``n - 1`` (when shapes
        match) and set the noise amplitude :math:`\sigma_n`; otherwise (a resumed run) keep the
        loaded weights and amplitude.
        """
        c = self.config
        if not 0 <= n < self.num_scales:
            raise GanLabError(f"step of scale {n}, but this pyramid has {self.num_scales} scales "
                              f"({self.total_steps} steps in all)")
        G, D = self.generators[n], self.discriminators[n]
        if fresh and n > 0 and c.init_from_previous and c.filters_at(n) == c.filters_at(n - 1):
            G.load_state_dict(self.generators[n - 1].state_dict())
            D.load_state_dict(self.discriminators[n - 1].state_dict())
        x_real = self.real(n)
        if n == 0:
            self.rec_prev = torch.zeros_like(x_real)
        else:
            self.rec_prev = upsample(self.run(0, n, mode="rec"), self.sizes[n])
            if fresh:
                self.noise_amp[n] = c.noise_amp_factor * torch.sqrt(F.mse_loss(self.rec_prev, x_real)).item()
        self.scale = n
        G.requires_grad_(True).train()
        D.requires_grad_(True).train()
        self.optimizers = self.configure_optimizers()
        self.schedulers = {name: torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[c.lr_milestone], gamma=0.1)
                           for name, opt in self.optimizers.items()}

    def _finish_scale(self) -> None:
        self.generators[self.scale].requires_grad_(False).eval()
        self.discriminators[self.scale].requires_grad_(False).eval()
        self.scales_trained.fill_(self.scale + 1)

    # -- the two step functions of the scale in training ------------------------------------------
    def fake(self, like: Tensor) -> Tensor:
        """A random image of the current scale: G_n(sigma_n z, fresh upsampled sample from below)."""
        n = self._current()
        if n == 0:
            prev = torch.zeros_like(like)
        else:
            prev = upsample(self.run(0, n, mode="rand"), self.sizes[n])
        z = torch.randn(like.shape, device=like.device, dtype=like.dtype)
        return self.G(float(self.noise_amp[n]) * z, prev)

    def d_step(self, x_real: Tensor) -> dict:
        r"""Critic update: :math:`\min_D\ \overline{D(\tilde x)} - \overline{D(x)} + \lambda\, GP`."""
        with torch.no_grad():
            x_fake = self.fake(x_real)
        critic = losses.wasserstein_critic_loss(self.D(x_real), self.D(x_fake))   # over the patch maps
        gp = losses.pixel_gradient_penalty(self.D, x_real, x_fake)
        loss = critic.total + self.config.gp_weight * gp
        self.optimize("D", loss)
        return {"loss_d": loss.detach(), "d_real": -critic.real.detach(), "d_fake": critic.fake.detach(),
                "gp": gp.detach(), "wasserstein": -critic.total.detach()}

    def g_step(self, x_real: Tensor) -> dict:
        r"""Generator update: :math:`\min_G -\overline{D(\tilde x)} + \alpha L_{rec}`.

        The reconstruction runs the fixed noise :math:`z^{rec}` at the coarsest scale and zero
        noise above it, on the upsampled reconstruction from below.
        """
        n = self._current()
        x_fake = self.fake(x_real)
        adv = losses.wasserstein_generator_loss(self.D(x_fake))
        z_rec = self.z_rec if n == 0 else torch.zeros_like(x_real)
        x_rec = self.G(float(self.noise_amp[n]) * z_rec, self.rec_prev)
        rec = losses.reconstruction_loss(x_rec, x_real)
        loss = adv + self.config.rec_weight * rec
        self.optimize("G", loss)
        return {"loss_g": loss.detach(), "g_adv": adv.detach(), "rec": rec.detach(),
                "scale": n, "noise_amp": float(self.noise_amp[n])}

    # -- drawing through the pyramid ---------------------------------------------------------
    def _check_trained(self, upto: int) -> None:
        if int(self.scales_trained) < upto:
            raise GanLabError(f"this SinGAN has {int(self.scales_trained)} of {self.num_scales} scales trained; "
                              f"finish training (gan-lab singan train --resume) before using scale {upto - 1}")

    @torch.no_grad()
    def run(self, start: int = 0, stop: int | None = None, prev: Tensor | None = None, n: int = 1,
            sizes: list[tuple[int, int]] | None = None, mode: str = "rand",
            generator: torch.Generator | None = None, check: bool = True) -> Tensor:
        r"""Run generators ``start .. stop-1`` and return the output of scale ``stop - 1``.

        ``prev`` is the image fed to ``G_start`` (already at ``sizes[start]``); ``None`` means
        zeros, which is what ``G_0`` was trained with. ``mode="rand"`` draws fresh noise at every
        scale; ``mode="rec"`` uses the fixed reconstruction noise (and ``n`` is 1). ``sizes``
        overrides the per-scale sizes (random samples of another shape). ``check=False`` also
        runs scales still in training (the loop's sample grids).
        """
        stop = self.num_scales if stop is None else stop
        sizes = self.sizes if sizes is None else sizes
        if not 0 <= start < stop <= self.num_scales:
            raise GanLabError(f"scales must satisfy 0 <= start < stop <= {self.num_scales}, got {start}, {stop}")
        if check:
            self._check_trained(stop)
        if mode not in ("rand", "rec"):
            raise ValueError(f"mode must be 'rand' or 'rec', got {mode!r}")
        device, c = self.device, self.config.channels
        x = torch.zeros(n, c, *sizes[start], device=device) if prev is None else prev.to(device)
        for s in range(start, stop):
            G = self.generators[s]
            was_training = G.training
            G.eval()
            prev_s = upsample(x, sizes[s])
            if mode == "rec":
                z = self.z_rec.expand(n, -1, -1, -1) if s == 0 else torch.zeros_like(prev_s)
            else:
                z = torch.randn(prev_s.shape, device=device, generator=generator)
            x = G(self.noise_amp[s] * z, prev_s)
            G.train(was_training)
        return x

    def reconstruct(self, upto: int | None = None) -> Tensor:
        """The fixed-noise reconstruction of the image, at scale ``upto - 1`` (default: finest)."""
        return self.run(0, upto, mode="rec")

    def sample(self, n: int = 1, scale_h: float = 1.0, scale_w: float = 1.0, start: int = 0,
               seed: int | None = None) -> Tensor:
        """``n`` random images, (n, 3, H, W). ``scale_h``/``scale_w`` stretch every scale's size
        (another size or aspect ratio, as the paper's retargeting samples). ``start > 0`` starts
        from the reconstruction at scale ``start - 1`` (less variety: only finer details change)."""
        if n < 1:
            raise GanLabError(f"--n must be at least 1, got {n}")
        if not (0.25 <= scale_h <= 8 and 0.25 <= scale_w <= 8):
            raise GanLabError(f"scale_h and scale_w must be in [0.25, 8], got {scale_h}, {scale_w}")
        sizes = [(max(MIN_SIDE // 2, round(h * scale_h)), max(MIN_SIDE // 2, round(w * scale_w)))
                 for h, w in self.sizes]
        generator = seeded_generator(seed, self.device)
        prev = None
        if start > 0:
            prev = upsample(self.run(0, start, mode="rec"), sizes[start]).expand(n, -1, -1, -1)
        return self.run(start, None, prev=prev, n=n, sizes=sizes, generator=generator)

    def preview(self, n: int, seed: int = 0, use_ema: bool = True) -> Tensor:
        """Random images from the finest scale trained or in training (the loop's sample grids).

        Noise comes from a generator seeded with ``seed``, so the loop's RNG stream is untouched.
        SinGAN keeps no EMA copy, so ``use_ema`` changes nothing.
        """
        stop = min(self.num_scales, max(1, int(self.scales_trained), self.scale + 1))
        return self.run(0, stop, n=n, generator=seeded_generator(seed, self.device), check=False)

    def generate(self, z: Tensor | int, use_ema: bool = True) -> Tensor:
        """``n`` random images at the trained size; SinGAN's noise is a map per scale, not a vector,
        so ``z`` only gives the number (an int, or a tensor whose first dimension is it)."""
        return self.sample(z if isinstance(z, int) else int(z.shape[0]))


class PyramidStream:
    """The shared loop's data for SinGAN: ``batch(index)`` is the real image of the index's scale.

    A step draws ``n_critic + g_steps`` batches, so batch ``index`` belongs to step
    ``index // (n_critic + g_steps)`` and to scale ``step // steps_per_scale``.
    """

    def __init__(self, model: Model):
        self.model = model

    def batch(self, index: int) -> Tensor:
        c = self.model.config
        step = index // (c.n_critic + c.g_steps)
        return self.model.real(min(step // c.steps_per_scale, self.model.num_scales - 1))


def scale_seconds(history: list[dict], steps_per_scale: int) -> dict[int, float]:
    """Training seconds per scale from the loop's history rows (``step`` is 1-based)."""
    seconds: dict[int, float] = {}
    for row in history:
        n = (int(row["step"]) - 1) // steps_per_scale
        seconds[n] = seconds.get(n, 0.0) + float(row["seconds"])
    return seconds
