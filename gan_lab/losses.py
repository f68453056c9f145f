r"""Every loss of the book as a small pure function.

Discriminator outputs are *logits* (scores before the sigmoid): :math:`D(x) = \sigma(s(x))`.
Working on logits lets us use ``binary_cross_entropy_with_logits``, which computes
:math:`\log \sigma(s)` and :math:`\log(1-\sigma(s))` without overflow; a Sigmoid layer
followed by ``BCELoss`` loses precision exactly where training gets interesting
(a confident discriminator).

Each function returns a scalar tensor (the batch mean) so that it can be back-propagated;
the step functions log the parts.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

Tensor = torch.Tensor


def d_loss_minimax(d_real: Tensor, d_fake: Tensor, real_label: float = 1.0) -> Tensor:
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
    """
    if not 0.0 < real_label <= 1.0:
        raise ValueError(f"real_label must be in (0, 1], got {real_label}")
    # -log D(x) (or its smoothed cross-entropy)
    loss_real = F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, real_label))
    # -log(1 - D(G(z)))
    loss_fake = F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
    return loss_real + loss_fake


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
