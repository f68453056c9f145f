r"""Every loss of the book as a small pure function.

Discriminator outputs are *logits* (scores before the sigmoid): :math:`D(x) = \sigma(s(x))`.
Working on logits lets us use ``binary_cross_entropy_with_logits``, which computes
:math:`\log \sigma(s)` and :math:`\log(1-\sigma(s))` without overflow; a Sigmoid layer
followed by ``BCELoss`` loses precision exactly where training gets interesting
(a confident discriminator).

Each function returns a scalar tensor (the batch mean) that can be back-propagated, or, for a
loss made of parts a chapter plots, a small named tuple whose first field ``total`` is that scalar
and whose other fields are the parts (``loss, real, fake = d_loss_minimax(d_real, d_fake)``).
The step functions log every part.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


class DLoss(NamedTuple):
    """A discriminator's (or critic's) loss and its terms on real and on generated samples."""

    total: Tensor    # real + fake, what is back-propagated
    real: Tensor     # the term on real samples
    fake: Tensor     # the term on generated samples


def d_loss_minimax(d_real: Tensor, d_fake: Tensor, real_label: float = 1.0) -> DLoss:
    r"""Discriminator loss of the minimax game (Goodfellow et al., 2014).

    .. math::
        L_D = -\mathbb{E}_{x\sim p_{data}}[\log D(x)] - \mathbb{E}_{z\sim p_z}[\log(1 - D(G(z)))]

    which is binary cross-entropy with target 1 for real and 0 for fake samples.
    ``real_label < 1`` is *one-sided label smoothing* (Salimans et al., 2016): the real
    target becomes e.g. 0.9, the fake target stays 0, so the real term is
    :math:`-[t \log D(x) + (1-t)\log(1-D(x))]`.

    Args:
        d_real: logits of D on real samples, any shape.
        d_fake: logits of D on generated samples, any shape.
        real_label: target for real samples, in (0, 1].

    Returns:
        ``DLoss(total, real, fake)``: :math:`L_D`, :math:`-\mathbb{E}[\log D(x)]` and
        :math:`-\mathbb{E}[\log(1 - D(G(z)))]`.
    """
    if not 0.0 < real_label <= 1.0:
        raise ValueError(f"real_label must be in (0, 1], got {real_label}")
    # -log D(x) (or its smoothed cross-entropy)
    loss_real = F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, real_label))
    # -log(1 - D(G(z)))
    loss_fake = F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
    return DLoss(loss_real + loss_fake, loss_real, loss_fake)


def g_loss_saturating(d_fake: Tensor) -> Tensor:
    r"""The generator's side of the minimax game, the loss it *minimises*:

    .. math::
        L_G^{sat} = \mathbb{E}_{z}[\log(1 - D(G(z)))]

    Its gradient with respect to the logit is :math:`-\sigma(s)`, which vanishes when the
    discriminator confidently rejects the fakes (:math:`D(G(z)) \to 0`): early in training,
    exactly when the generator needs a signal.
    """
    # log(1 - sigmoid(s)) = -softplus(s), computed stably
    return (-F.softplus(d_fake)).mean()


def g_loss_nonsaturating(d_fake: Tensor) -> Tensor:
    r"""The non-saturating generator loss (Goodfellow et al., 2014, section 3):

    .. math::
        L_G^{ns} = -\mathbb{E}_{z}[\log D(G(z))]

    Same fixed point as the saturating loss, but its gradient with respect to the logit
    is :math:`\sigma(s) - 1`, close to :math:`-1` where the saturating gradient is close to 0.
    """
    # -log sigmoid(s) = BCE with target 1
    return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))


def d_accuracy(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """Share of samples the discriminator classifies correctly (logit > 0 means 'real')."""
    correct = (d_real > 0).float().sum() + (d_fake <= 0).float().sum()
    return correct / (d_real.numel() + d_fake.numel())


# -- Wasserstein GAN (Arjovsky et al., 2017; Gulrajani et al., 2017) ------------------------------

def wasserstein_critic_loss(d_real: Tensor, d_fake: Tensor) -> DLoss:
    r"""The critic's loss of the Wasserstein GAN (no sigmoid, no logarithm):

    .. math::
        L_C = \mathbb{E}_{z}[f(G(z))] - \mathbb{E}_{x\sim p_{data}}[f(x)]

    Minimising it maximises :math:`\mathbb{E}[f(x)] - \mathbb{E}[f(G(z))]`, which estimates
    the Wasserstein-1 distance when :math:`f` is 1-Lipschitz (enforced by weight clipping or
    by :func:`gradient_penalty`). ``d_real``/``d_fake`` are raw critic scores, any shape (a
    PatchGAN's map of scores is averaged over the map too). The penalty is added by the model.

    Returns:
        ``DLoss(total, real, fake)``: :math:`L_C`, :math:`-\mathbb{E}[f(x)]` and
        :math:`\mathbb{E}[f(G(z))]`; ``-total`` is the critic's estimate of the distance.
    """
    # -E[f(x)]
    loss_real = -d_real.mean()
    # E[f(G(z))]
    loss_fake = d_fake.mean()
    return DLoss(loss_fake + loss_real, loss_real, loss_fake)


def wasserstein_generator_loss(d_fake: Tensor) -> Tensor:
    r"""The generator's Wasserstein loss: :math:`L_G = -\mathbb{E}_{z}[f(G(z))]`."""
    return -d_fake.mean()


def gradient_penalty(critic, x_real: Tensor, x_fake: Tensor) -> Tensor:
    r"""The two-sided gradient penalty of WGAN-GP (Gulrajani et al., 2017, Algorithm 1):

    .. math::
        \hat{x} = \epsilon x + (1 - \epsilon)\tilde{x}, \quad \epsilon \sim U[0, 1]
        \text{ (one } \epsilon \text{ per sample)}, \qquad
        GP = \mathbb{E}_{\hat{x}}\big[(\lVert \nabla_{\hat{x}} f(\hat{x}) \rVert_2 - 1)^2\big]

    Returned *without* the weight :math:`\lambda` (the paper uses 10): the critic's loss is
    :math:`L_C + \lambda\,GP`. The gradient is taken with ``create_graph=True`` so that the
    penalty itself can be back-propagated into the critic's weights.

    A critic may return one score per sample or a map of scores (PatchGAN): the scores of a
    sample are summed before differentiating, which gives each sample's own input gradient
    as long as the critic treats samples independently (no batch norm, as the paper asks).
    """
    if x_real.shape != x_fake.shape:
        raise ValueError(f"x_real {tuple(x_real.shape)} and x_fake {tuple(x_fake.shape)} must have the same shape")
    x_real, x_fake = x_real.detach(), x_fake.detach()
    # one mixing weight per sample, broadcast over channels and pixels
    eps = torch.rand(x_real.shape[0], *([1] * (x_real.dim() - 1)), device=x_real.device, dtype=x_real.dtype)
    x_hat = (eps * x_real + (1.0 - eps) * x_fake).requires_grad_(True)
    scores = critic(x_hat)
    # d(sum of scores)/dx_hat: each sample's gradient of its own (summed) score
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norms = grad.flatten(1).norm(2, dim=1)          # (B,)
    # (||grad|| - 1)^2, averaged over the batch
    return ((norms - 1.0) ** 2).mean()


# -- VAE-GAN, DNFM-GAN, ImprovedDCGAN ---------------------------------------------------------------------------

def kl_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    r"""KL divergence of :math:`q(z|x) = \mathcal{N}(\mu, \mathrm{diag}\,\sigma^2)` from the prior
    :math:`\mathcal{N}(0, I)` (Kingma & Welling, 2014, Appendix B), summed over latent
    dimensions and averaged over the batch:

    .. math::
        L_{prior} = D_{KL}(q(z|x)\,\Vert\,p(z))
        = -\frac{1}{2}\sum_{j=1}^{J}\big(1 + \log\sigma_j^2 - \mu_j^2 - \sigma_j^2\big)

    ``logvar`` is :math:`\log\sigma^2`; both tensors are (B, J).
    """
    # per-sample sum over latent dimensions, then the batch mean
    mu, logvar = mu.float(), logvar.float()                    # fp32 under bf16 autocast too
    return (-0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp())).flatten(1).sum(dim=1).mean()


def noise_penalty(z: Tensor, z_rec: Tensor) -> Tensor:
    r"""DNFM-GAN's denoising term (thesis §1.7): the encoder must recover the *clean* code
    from an image generated from the noisy code :math:`\tilde z = z + \sigma\epsilon`:

    .. math::
        L_{NP} = \mathbb{E}_{z,\epsilon}\big[\lVert E(G(z + \sigma\epsilon)) - z \rVert_2^2\big]

    ``z_rec`` is :math:`E(G(\tilde z))`; squared norm per sample, averaged over the batch.
    The model multiplies it by :math:`\lambda_1`.
    """
    if z.shape != z_rec.shape:
        raise ValueError(f"z {tuple(z.shape)} and z_rec {tuple(z_rec.shape)} must have the same shape")
    return (z_rec.float() - z.float()).pow(2).flatten(1).sum(dim=1).mean()


class VAEGANDLoss(NamedTuple):
    """VAE-GAN's discriminator loss and its three cross-entropy terms."""

    total: Tensor    # real + rec + prior
    real: Tensor     # -log D(x)
    rec: Tensor      # -log(1 - D(x~)), x~ = G(z), z ~ q(z|x)
    prior: Tensor    # -log(1 - D(G(z_p))), z_p ~ N(0, I)


def vaegan_d_loss(d_real: Tensor, d_rec: Tensor, d_prior: Tensor) -> VAEGANDLoss:
    r"""VAE-GAN's discriminator loss (Larsen et al., 2016, Algorithm 1): :math:`-L_{GAN}` with

    .. math::
        L_{GAN} = \log D(x) + \log(1 - D(\tilde x)) + \log(1 - D(G(z_p))),

    which D maximises; the reconstruction :math:`\tilde x` and the prior sample
    :math:`G(z_p)` are both labelled fake. Each term is a batch mean; arguments are logits.

    Returns:
        ``VAEGANDLoss(total, real, rec, prior)``.
    """
    # -log D(x)
    loss_real = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
    # -log(1 - D(x~))
    loss_rec = F.binary_cross_entropy_with_logits(d_rec, torch.zeros_like(d_rec))
    # -log(1 - D(G(z_p)))
    loss_prior = F.binary_cross_entropy_with_logits(d_prior, torch.zeros_like(d_prior))
    return VAEGANDLoss(loss_real + loss_rec + loss_prior, loss_real, loss_rec, loss_prior)


class VAEGANGLoss(NamedTuple):
    """The decoder's GAN term of VAE-GAN and its two parts."""

    total: Tensor    # rec + prior
    rec: Tensor      # -log D(x~)
    prior: Tensor    # -log D(G(z_p))


def vaegan_g_loss(d_rec: Tensor, d_prior: Tensor) -> VAEGANGLoss:
    r"""The decoder's part of VAE-GAN's GAN objective, in the non-saturating form:

    .. math::
        L_{GAN}^{G} = -\mathbb{E}[\log D(\tilde x)] - \mathbb{E}[\log D(G(z_p))]

    Of :math:`L_{GAN}` (see :func:`vaegan_d_loss`) the decoder affects the two fake terms, and it
    would minimise :math:`\log(1 - D(\tilde x)) + \log(1 - D(G(z_p)))`; this form has the same
    fixed point and usable gradients early on (as :func:`g_loss_nonsaturating`). Logits in.

    Returns:
        ``VAEGANGLoss(total, rec, prior)``.
    """
    loss_rec = g_loss_nonsaturating(d_rec)
    loss_prior = g_loss_nonsaturating(d_prior)
    return VAEGANGLoss(loss_rec + loss_prior, loss_rec, loss_prior)


def llike_loss(f_real: Tensor, f_rec: Tensor) -> Tensor:
    r"""VAE-GAN's learned-similarity reconstruction loss (Larsen et al., 2016, eq. 6-7):
    the negative log-likelihood of :math:`\mathrm{Dis}_l(x)` under a Gaussian with mean
    :math:`\mathrm{Dis}_l(\tilde x)` and identity covariance, up to a constant,

    .. math::
        L_{llike}^{Dis_l} = -\mathbb{E}_{q(z|x)}[\log p(\mathrm{Dis}_l(x)\,|\,z)]
        = \tfrac12 \lVert \mathrm{Dis}_l(x) - \mathrm{Dis}_l(\tilde x) \rVert_2^2 + \text{const}

    summed over the features of a sample and averaged over the batch. ``f_real``, ``f_rec``:
    the features of layer :math:`l` of D, (B, ...), flattened here.
    """
    f_real, f_rec = f_real.flatten(1).float(), f_rec.flatten(1).float()   # (B, F), fp32 under autocast too
    if f_real.shape != f_rec.shape:
        raise ValueError(f"f_real {tuple(f_real.shape)} and f_rec {tuple(f_rec.shape)} must have the same shape")
    # 0.5 ||Dis_l(x) - Dis_l(x~)||^2 per sample, batch mean
    return 0.5 * (f_rec - f_real).pow(2).sum(dim=1).mean()


class DNFMDLoss(NamedTuple):
    """DNFM-GAN's discriminator loss with the augmented input, and its three cross-entropy terms."""

    total: Tensor    # real + (fake + noisy) / 2
    real: Tensor     # -log D(x)
    fake: Tensor     # -log(1 - D(G(z)))
    noisy: Tensor    # -log(1 - D(G(z + sigma eps)))


def dnfm_d_loss(d_real: Tensor, d_fake: Tensor, d_noisy: Tensor, real_label: float = 1.0) -> DNFMDLoss:
    r"""DNFM-GAN's discriminator loss when D also sees :math:`G(\tilde z)`, :math:`\tilde z = z + \sigma\epsilon`:

    .. math::
        L_D = -\mathbb{E}[\log D(x)] - \tfrac12\big(\mathbb{E}[\log(1 - D(G(z)))]
        + \mathbb{E}[\log(1 - D(G(\tilde z)))]\big)

    the mean of the two minimax losses (:func:`d_loss_minimax`), one per fake batch. Halving the
    fake terms keeps the real/fake balance of the plain loss. ``real_label`` smooths the real
    target as in :func:`d_loss_minimax`. Logits in.

    Returns:
        ``DNFMDLoss(total, real, fake, noisy)``, the parts unhalved.
    """
    minimax = d_loss_minimax(d_real, d_fake, real_label)
    loss_real, loss_fake = minimax.real, minimax.fake
    # -log(1 - D(G(z~)))
    loss_noisy = F.binary_cross_entropy_with_logits(d_noisy, torch.zeros_like(d_noisy))
    # (L_minimax(x, G(z)) + L_minimax(x, G(z~))) / 2
    total = 0.5 * ((loss_real + loss_fake) + (loss_real + loss_noisy))
    return DNFMDLoss(total, loss_real, loss_fake, loss_noisy)


class FMLoss(NamedTuple):
    """Feature matching and its two terms (batch means, batch standard deviations)."""

    total: Tensor    # mean + std_weight * std, what is back-propagated
    mean: Tensor     # squared distance between the batch means
    std: Tensor      # squared distance between the batch standard deviations (unweighted)


def feature_matching(f_real: Tensor, f_fake: Tensor, std_weight: float = 0.0, eps: float = 1e-8) -> FMLoss:
    r"""Feature matching on the statistics of a *batch* of discriminator features.

    With :math:`f` an intermediate discriminator layer, flattened to one vector per sample,

    .. math::
        L_{FM} = \big\lVert \mathbb{E}_{x} f(x) - \mathbb{E}_{z} f(G(z)) \big\rVert_2^2
        + \lambda_2 \big\lVert \mathrm{std}_{x} f(x) - \mathrm{std}_{z} f(G(z)) \big\rVert_2^2

    The expectations and standard deviations are taken over the batch, per feature; the
    squared norms sum over features. ``std_weight = 0`` is Salimans et al.'s (2016) feature
    matching; ``std_weight`` :math:`=\lambda_2 > 0` is DNFM-GAN's enhanced feature mapping.
    The standard deviation is the population one (divide by B), computed as
    :math:`\sqrt{\mathrm{var} + \varepsilon}` so its gradient stays finite for a constant feature.

    Returns:
        ``FMLoss(total, mean, std)``: :math:`L_{FM}` and its two squared distances, the second
        without :math:`\lambda_2` (so it can be plotted when :math:`\lambda_2 = 0`, where it is
        not part of ``total``).
    """
    f_real, f_fake = f_real.flatten(1).float(), f_fake.flatten(1).float()   # (B, F), fp32 under autocast too
    if f_real.shape[1] != f_fake.shape[1]:
        raise ValueError(f"feature sizes differ: {f_real.shape[1]} vs {f_fake.shape[1]}")
    # squared distance between the batch means
    mean_term = (f_real.mean(dim=0) - f_fake.mean(dim=0)).pow(2).sum()
    std_real = (f_real.var(dim=0, unbiased=False) + eps).sqrt()
    std_fake = (f_fake.var(dim=0, unbiased=False) + eps).sqrt()
    # squared distance between the batch standard deviations
    std_term = (std_real - std_fake).pow(2).sum()
    total = mean_term + std_weight * std_term if std_weight else mean_term
    return FMLoss(total, mean_term, std_term)


def historical_average_penalty(params, averages) -> Tensor:
    r"""Historical averaging (Salimans et al., 2016, §3.3):
    :math:`\big\lVert \theta - \frac{1}{t}\sum_{i=1}^{t}\theta[i] \big\rVert_2^2`, summed over
    all parameter tensors. ``averages`` holds the running means, one per parameter.
    """
    params, averages = list(params), list(averages)
    if len(params) != len(averages):
        raise ValueError(f"{len(params)} parameters but {len(averages)} averages")
    if not params:
        raise ValueError("historical_average_penalty needs at least one parameter")
    return sum((p - a.detach()).pow(2).sum() for p, a in zip(params, averages))


def pixel_gradient_penalty(critic: Callable[[Tensor], Tensor], x_real: Tensor, x_fake: Tensor,
                           eps: Tensor | None = None) -> Tensor:
    r"""WGAN-GP penalty with one gradient norm *per pixel*, as SinGAN uses it.

    .. math::
        \hat x = \epsilon x + (1-\epsilon)\tilde x,\quad \epsilon\sim U[0,1] \text{ (one per image)},
        \qquad
        GP = \frac{1}{BHW}\sum_{b,i,j}\Big(\big\|\nabla_{\hat x_{b,:,i,j}} \textstyle\sum D(\hat x)\big\|_2 - 1\Big)^2

    The norm runs over the colour channels of each pixel, not over the whole image as in
    Gulrajani et al. (2017) and :func:`gradient_penalty`. The dissertation's argument (section 4.4):
    the critic judges *patches*, so the Lipschitz constraint is asked of each pixel; the official SinGAN code computes the norm
    over ``dim=1`` of an (N, C, H, W) gradient, which is the same thing. With the whole-image norm
    the target of 1 would be spread over all H x W pixels and the penalty would mean something
    else at every scale. The gradient is that of the *sum* of the patch map.

    Args:
        critic: maps (B, C, H, W) to a map of scores.
        x_real, x_fake: (B, C, H, W); ``x_fake`` is detached here.
        eps: optional mixing weights (B, 1, 1, 1) for tests; drawn uniformly otherwise.
    """
    if eps is None:
        eps = torch.rand(x_real.shape[0], 1, 1, 1, device=x_real.device, dtype=x_real.dtype)
    x_hat = (eps * x_real + (1 - eps) * x_fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)   # (B, C, H, W)
    per_pixel = grad.pow(2).sum(dim=1).add(1e-12).sqrt()                  # (B, H, W)
    return (per_pixel - 1).pow(2).mean()


def reconstruction_loss(x_rec: Tensor, x_real: Tensor) -> Tensor:
    r""":math:`L_{rec} = \lVert G_n(z^{rec}_n, \tilde x^{rec}_{n-1}{\uparrow}) - x_n \rVert^2` (mean squared error)."""
    return F.mse_loss(x_rec, x_real)
