"""SinGAN's hyper-parameters: one frozen :class:`Config` with the paper's defaults and presets."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from gan_lab.models.base import BaseConfig

#: the receptive field of the 5-layer 3x3 discriminator is 11x11; it needs a few more pixels
#: than that to output a map of patch scores.
MIN_SIDE = 16


@dataclass(frozen=True)
class Config(BaseConfig):
    """SinGAN hyper-parameters; the defaults are the paper's (GPU-sized).

    ``image_size`` is the *longest side of the finest scale* (the paper's "max size", 250):
    a larger image is shrunk to it, a smaller one is kept. ``latent_dim`` is the number of
    noise channels (3, as the image). ``n_critic`` is the number of D steps and ``g_steps`` the
    number of G steps per iteration (3 and 3 in the paper). One iteration is one step of the
    shared loop, so a run is ``num_scales * steps_per_scale`` steps.
    """

    image_size: int = 250           # max size: longest side of the finest scale
    channels: int = 3
    latent_dim: int = 3             # noise channels
    lr_g: float = 5e-4
    lr_d: float = 5e-4
    betas: tuple[float, float] = (0.5, 0.999)
    n_critic: int = 3               # D steps per iteration
    g_steps: int = 3                # G steps per iteration
    min_size: int = 25              # shortest side of the coarsest scale
    scale_factor: float = 0.75      # initial guess r; the pyramid adjusts it to hit min_size exactly
    num_scales: int = 0             # 0: as many as min_size needs; N: exactly N scales with factor r
    steps_per_scale: int = 2000     # iterations per scale
    lr_decay_at: float = 0.8        # learning rates x0.1 after this share of a scale's iterations
    rec_weight: float = 10.0        # alpha, weight of the reconstruction loss
    gp_weight: float = 0.1          # lambda of the (per-pixel) gradient penalty
    noise_amp_factor: float = 0.1   # sigma_n = factor * RMSE(reconstruction, real)
    filters: int = 32               # conv filters at the coarsest scale
    double_every: int = 4           # double the filters every k scales (0: fixed, as the dissertation)
    max_filters: int = 128
    batch_norm: bool = True
    init_from_previous: bool = True  # start scale n from the weights of scale n-1 when shapes match

    #: ``tiny``: max size 40, min 16 (3 scales for a 3:2 image), 8 filters, 2 iterations per scale,
    #: for CPU tests; ``cpu``: what a 2-core CPU trains in minutes (max size 64, min 20, 300 iterations).
    PRESETS: ClassVar[dict[str, dict]] = {
        "tiny": dict(image_size=40, min_size=16, filters=8, max_filters=8, steps_per_scale=2,
                     n_critic=1, g_steps=1),
        "cpu": dict(image_size=64, min_size=20, steps_per_scale=300),
    }

    def __post_init__(self):
        super().__post_init__()
        if self.channels != 3:
            raise ValueError("SinGAN works on RGB images: channels must be 3 (greyscale input is converted)")
        if self.ema_decay != 0.0:
            raise ValueError("SinGAN keeps no EMA copy of its generators: ema_decay must be 0")
        if self.min_size < MIN_SIDE:
            raise ValueError(f"min_size must be at least {MIN_SIDE} (the discriminator sees 11x11 patches), "
                             f"got {self.min_size}")
        if self.image_size < self.min_size:
            raise ValueError(f"image_size (max size) {self.image_size} is smaller than min_size {self.min_size}")
        if not 0.3 <= self.scale_factor < 1.0:
            raise ValueError(f"scale_factor must be in [0.3, 1), got {self.scale_factor}")
        if self.num_scales < 0:
            raise ValueError(f"num_scales must be 0 (automatic) or positive, got {self.num_scales}")
        if self.steps_per_scale < 1:
            raise ValueError(f"steps_per_scale must be at least 1, got {self.steps_per_scale}")
        if not 0.0 < self.lr_decay_at <= 1.0:
            raise ValueError(f"lr_decay_at must be in (0, 1], got {self.lr_decay_at}")
        if self.rec_weight < 0 or self.gp_weight < 0 or self.noise_amp_factor <= 0:
            raise ValueError("rec_weight and gp_weight must be >= 0 and noise_amp_factor > 0")
        if self.filters < 1 or self.max_filters < self.filters or self.double_every < 0:
            raise ValueError("need filters >= 1, max_filters >= filters and double_every >= 0")

    def filters_at(self, scale: int) -> int:
        """Conv filters of scale ``scale`` (the paper: 32, doubled every 4 scales, at most 128)."""
        if self.double_every == 0:
            return self.filters
        return min(self.filters * 2 ** (scale // self.double_every), self.max_filters)

    @property
    def lr_milestone(self) -> int:
        """The iteration of a scale after which its learning rates are multiplied by 0.1."""
        return max(1, int(round(self.lr_decay_at * self.steps_per_scale)))
