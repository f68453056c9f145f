"""DCGAN (Radford, Metz & Chintala, 2016): one class for 28, 32, 64 and 128 px.

Radford et al.'s architectural constraints, all kept here:

* no pooling: strided convolutions in D, fractionally-strided (transposed) ones in G;
* batch norm in both nets, except G's output layer and D's input layer;
* no fully connected hidden layers (G's first layer may be a linear projection, as in the paper);
* ReLU in G (tanh at the output), LeakyReLU(0.2) in D;
* weights from N(0, 0.02), Adam(lr 2e-4, beta1 0.5).

Shapes. G starts from a ``base`` x ``base`` map (4, or 7 for 28 px) and doubles the resolution
per block; D halves it per block until it is at most ``base`` and ends with a convolution over
the whole remaining map, which gives one logit per image. ``g_widths`` / ``d_widths`` fix the
channel count of each block; left empty they follow the classic pattern (``ngf * 8, 4, 2, 1``
for 64 px). ``extra_layers_g`` / ``extra_layers_d`` add stride-1 3x3 conv blocks at the
high-resolution end of each net (the layer-depth study of dcgan-thesis-mnist-afhq §4).

Presets (``Config.PRESETS``): ``classic64`` (ngf = ndf = 64, z = 100, 3,576,704 G parameters) and
``fashion_mnist`` (the Fashion-MNIST net of dcgan-fashion-mnist-faces Table 4.3.1 / Fig. 4.3.1:
a dense projection to 7x7x128, transposed convs to 14x14x256 and 28x28x128, a stride-1 block of
64, a conv output; D with 64-128-256 strided convs and dropout; Adam(1e-3, 0.5), batch 32). That
thesis leaves the kernel sizes open: we use 4x4 for the stride-2 transposed convs, 3x3 elsewhere,
and dropout 0.3 (the thesis names 0.3 and 0.4 without saying where each goes).

The nets are :class:`gan_lab.nn.ConvGenerator` and :class:`gan_lab.nn.ConvDiscriminator` (its
linear score over the whole last map is the paper's final convolution over that map), with no
biases, as in the PyTorch DCGAN example (every conv but the first and last is followed by batch norm).

References: Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks", ICLR 2016; K. Deng, "Generating images using a Deep
Convolutional GANs", MSc thesis, University College Cork, 2024 (``dcgan-thesis-mnist-afhq.txt``);
S. Sharma, "Image Synthesis using Generative Adversarial Networks", MSc literature review,
Tribhuvan University, 2021 (``dcgan-fashion-mnist-faces.txt``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from gan_lab.models.base import BCEConfig, BCEGAN, ConvConfig, conv_discriminator, conv_generator


@dataclass(frozen=True)
class Config(ConvConfig, BCEConfig):
    g_widths: tuple[int, ...] = ()      # empty: the classic DCGAN widths from ngf
    d_widths: tuple[int, ...] = ()      # empty: the classic DCGAN widths from ndf
    g_project: str = "conv"             # "conv": ConvTranspose from 1x1; "linear": dense to base x base
    g_output: str = "upsample"          # "upsample": last ConvTranspose gives the image; "conv": 3x3 conv at full size
    d_dropout: float = 0.0

    def __post_init__(self):
        super().__post_init__()
        if self.g_project not in ("conv", "linear"):
            raise ValueError(f"g_project must be 'conv' or 'linear', got {self.g_project!r}")
        if self.g_output not in ("upsample", "conv"):
            raise ValueError(f"g_output must be 'upsample' or 'conv', got {self.g_output!r}")
        if not 0.0 <= self.d_dropout < 1.0:
            raise ValueError(f"d_dropout must be in [0, 1), got {self.d_dropout}")
        for name in ("g_widths", "d_widths"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        if self.g_widths and len(self.g_widths) < self.n_up + (1 if self.g_output == "conv" else 0):
            raise ValueError(f"g_widths needs at least {self.n_up + (self.g_output == 'conv')} entries "
                             f"for {self.image_size} px, got {len(self.g_widths)}")

    @property
    def n_up(self) -> int:
        """Resolution doublings from ``base`` to ``image_size``."""
        return len(super().generator_widths())

    def generator_widths(self) -> tuple[int, ...]:
        if self.g_widths:
            return self.g_widths
        classic = super().generator_widths()
        return classic + (self.ngf,) if self.g_output == "conv" else classic

    def discriminator_widths(self) -> tuple[int, ...]:
        return self.d_widths or super().discriminator_widths()

    PRESETS: ClassVar[dict[str, dict]] = {
        "tiny": dict(image_size=28, channels=1, latent_dim=16, ngf=8, ndf=8),
        # Radford et al. / the PyTorch DCGAN tutorial
        "classic64": dict(image_size=64, channels=3, latent_dim=100, ngf=64, ndf=64),
        # dcgan-fashion-mnist-faces Table 4.3.1 / Fig. 4.3.1 (28 px, 1 channel)
        "fashion_mnist": dict(image_size=28, channels=1, latent_dim=100, g_project="linear", g_output="conv",
                              g_widths=(128, 256, 128, 64), d_widths=(64, 128, 256), d_dropout=0.3,
                              lr_g=1e-3, lr_d=1e-3, betas=(0.5, 0.999)),
    }


class Model(BCEGAN):
    family = "dcgan"
    bf16_parity = True     # benchmarks/precision_parity.py: bf16 inside fp32's seed spread (README)

    def build(self):
        c = self.config
        self.G = conv_generator(c, project=c.g_project, output=c.g_output)
        self.D = conv_discriminator(c, norm="batch", dropout=c.d_dropout, bias=False)
