r"""SinGAN: a generative model learned from one natural image (Shaham, Dekel & Michaeli, 2019).

One image is turned into a pyramid :math:`x_0, \dots, x_{N-1}` (coarsest first). Each scale
:math:`n` has its own small generator :math:`G_n` and patch discriminator :math:`D_n`, trained
coarse to fine: when scale :math:`n` trains, scales :math:`0 \dots n-1` are frozen.

* Generators are *residual*: they receive the upsampled output of the scale below plus noise
  and add detail,

  .. math::
      \tilde x_0 = G_0(z_0) = \psi_0(\sigma_0 z_0), \qquad
      \tilde x_n = G_n(z_n, \tilde x_{n-1}{\uparrow}) =
      \tilde x_{n-1}{\uparrow} + \psi_n\big(\tilde x_{n-1}{\uparrow} + \sigma_n z_n\big).

* Discriminators are Markovian (PatchGAN): five 3x3 convolutions without padding give a map of
  scores, one per 11x11 patch; the critic value is the mean of that map.
* The loss of scale :math:`n` is WGAN-GP plus a reconstruction term
  :math:`\min_{G_n}\max_{D_n} L_{adv} + \alpha L_{rec}`. The reconstruction feeds a *fixed*
  noise map :math:`z^{rec}` at the coarsest scale and zero noise above it, so one particular
  draw of the pyramid must reproduce the image.
* The noise amplitude :math:`\sigma_n` is :math:`0.1 \times` the RMSE between the upsampled
  reconstruction of the scale below and the real image of scale :math:`n` (1 at the coarsest
  scale): scales that still have a lot to add get more noise.
* Each scale starts from the weights of the scale below when the shapes match.

SinGAN is a family like the others (``Config`` and ``Model``): the shared loop
(:func:`gan_lab.train.train`) trains it on :meth:`Model.stream` for :attr:`Model.total_steps`
steps, entering scale ``step // steps_per_scale`` in :meth:`Model.begin_step`.

Modules: :mod:`.config` (hyper-parameters and presets), :mod:`.pyramid` (scale sizes,
resizing, image tensors), :mod:`.nets` (the two networks of a scale), :mod:`.model` (the
pyramid, its two step functions and sampling), :mod:`.tasks` (paint-to-image, harmonisation,
editing and their masks). The command line is :mod:`gan_lab.cli.singan`.
"""
from gan_lab.models.singan.config import MIN_SIDE, Config
from gan_lab.models.singan.model import Model, PyramidStream, scale_seconds
from gan_lab.models.singan.nets import Discriminator, Generator
from gan_lab.models.singan.pyramid import (
           as_image_tensor,
           build_pyramid,
           pyramid_sizes,
           resize,
           upsample,
)
from gan_lab.models.singan.tasks import (
           as_mask_tensor,
           edit,
           harmonize,
           paint,
           soften_mask,
)

__all__ = ["MIN_SIDE", "Config", "Model", "PyramidStream", "scale_seconds", "Discriminator", "Generator",
           "as_image_tensor", "build_pyramid", "pyramid_sizes", "resize", "upsample", "as_mask_tensor", "edit",
           "harmonize", "paint", "soften_mask"]
