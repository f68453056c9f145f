r"""VAE-GAN: "Autoencoding beyond pixels using a learned similarity metric" (Larsen et al., 2016).

A VAE whose decoder is also a GAN generator, and whose reconstruction error is measured in the
feature space of the discriminator instead of pixel space:

* encoder: :math:`x \mapsto (\mu, \log\sigma^2)`, :math:`z = \mu + \sigma \odot \epsilon` (reparameterisation);
* decoder = generator: :math:`\tilde x = G(z)`, and :math:`x_p = G(z_p)`, :math:`z_p \sim N(0, I)`;
* discriminator: sees :math:`x`, the reconstruction :math:`\tilde x` and :math:`x_p`.

Losses (the paper's Algorithm 1), with :math:`\mathrm{Dis}_l` an intermediate D layer:

.. math::
    L_{prior} = D_{KL}(q(z|x)\,\Vert\,p(z)), \qquad
    L_{llike}^{Dis_l} = -\mathbb{E}_{q(z|x)}[\log p(\mathrm{Dis}_l(x)\,|\,z)]
    = \tfrac12\lVert \mathrm{Dis}_l(x) - \mathrm{Dis}_l(\tilde x)\rVert_2^2 + \text{const},

    L_{GAN} = \log D(x) + \log(1 - D(\tilde x)) + \log(1 - D(G(z_p))).

Each net follows its own combination: the encoder minimises :math:`L_{prior} + L_{llike}`; the
discriminator maximises :math:`L_{GAN}` (:func:`gan_lab.losses.vaegan_d_loss` is :math:`-L_{GAN}`);
the decoder minimises :math:`\gamma L_{llike}` plus the terms of :math:`L_{GAN}` it affects,
:math:`\log(1 - D(\tilde x)) + \log(1 - D(G(z_p)))` (it plays against D, so it minimises what D
maximises). The discriminator never minimises :math:`L_{llike}` (it would collapse its features), and
the encoder never sees :math:`L_{GAN}`. One backward pass per net over the shared graph
(:func:`gan_lab.nn.step_separately`) keeps the three objectives apart.

Choices the paper leaves open (or that we change), and ours:

* Nets: DCGAN-shaped at 28/32/64/128 px: the decoder is :class:`gan_lab.nn.ConvGenerator`,
  D is :class:`gan_lab.nn.ConvDiscriminator` with batch norm, the encoder is the same conv stack
  ending in a linear layer to :math:`2J` numbers (:math:`\mu`, :math:`\log\sigma^2`). The paper's
  64 px nets use 5x5 kernels and a 512-unit dense layer in D; we keep one net shape for all families.
* :math:`\mathrm{Dis}_l`: the last convolutional block of D (``feature_layer=-1``); any block index works.
* :math:`L_{llike}` (:func:`gan_lab.losses.llike_loss`) is the Gaussian negative log-likelihood with
  unit variance, summed over the features of a sample and averaged over the batch; :math:`L_{prior}`
  is summed over latent dimensions and averaged over the batch (:func:`gan_lab.losses.kl_normal`). So their balance in
  the encoder's loss is the paper's, for any batch size; γ sets the decoder's balance.
* :math:`\mathrm{Dis}_l(x)` and :math:`\mathrm{Dis}_l(\tilde x)` are computed in one forward pass
  of the concatenated batch, so batch norm normalises both with the same statistics (two
  separate passes would compare features under different normalisations).
* The decoder's GAN term is the non-saturating form :math:`-\log D(\tilde x) - \log D(x_p)`
  (:func:`gan_lab.losses.vaegan_g_loss`: same fixed point as :math:`\log(1 - D(\tilde x)) +
  \log(1 - D(x_p))`, usable gradients early on).
* The discriminator's loss is the paper's sum of the three cross-entropy terms (real, reconstruction, prior sample).
* γ = 1e-2 (our choice: with ``ndf=64`` the feature sum has thousands of terms, so γ·L_llike
  starts on the scale of the GAN term). latent_dim 128 as in the paper's CelebA model.
* Optimisers: Adam(2e-4, (0.5, 0.999)) for E, G (decoder) and D, one D step per E/G step.

References: Larsen, Sønderby, Larochelle & Winther, "Autoencoding beyond pixels using a learned
similarity metric", ICML 2016; Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from gan_lab import losses
from gan_lab.models.base import ConvConfig, GANModel, conv_discriminator, conv_generator, d_stats, frozen
from gan_lab.nn import ConvEncoder, classic_widths, paired_features, step_separately

Tensor = torch.Tensor


@dataclass(frozen=True)
class Config(ConvConfig):
    latent_dim: int = 128
    nef: int = 64
    gamma: float = 1e-2          # weight of L_llike against L_GAN in the decoder's loss
    feature_layer: int = -1      # Dis_l: the D block whose output measures similarity
    lr_e: float = 2e-4

    def __post_init__(self):
        super().__post_init__()
        if self.gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {self.gamma}")
        if self.lr_e <= 0:
            raise ValueError(f"lr_e must be positive, got {self.lr_e}")
        if self.nef < 1:
            raise ValueError(f"nef must be >= 1, got {self.nef}")
        self.check_feature_layer(self.feature_layer)

    PRESETS: ClassVar[dict[str, dict]] = {"tiny": dict(image_size=28, channels=1, latent_dim=16, ngf=8, ndf=8, nef=8)}


class Model(GANModel):
    family = "vaegan"

    def build(self):
        c = self.config
        self.E = ConvEncoder(c.image_size, c.channels, classic_widths(c.image_size, c.nef), 2 * c.latent_dim,
                             norm="batch")
        self.G = conv_generator(c)
        self.D = conv_discriminator(c, norm="batch")

    def configure_optimizers(self):
        opts = super().configure_optimizers()
        c = self.config
        opts["E"] = torch.optim.Adam(self.E.parameters(), lr=c.lr_e, betas=c.betas)
        return opts

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(mu, logvar) of q(z|x), each (B, latent_dim)."""
        mu, logvar = self.E(x).float().chunk(2, dim=1)
        return mu, logvar

    @staticmethod
    def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
        """z = mu + sigma * eps, eps ~ N(0, I): a sample of q(z|x) that is differentiable in mu, logvar."""
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    @torch.no_grad()
    def reconstruct(self, x: Tensor, sample: bool = False) -> Tensor:
        """G(mu) (or G(z), z ~ q(z|x), with ``sample=True``) in eval mode: the autoencoder's output."""
        was = (self.E.training, self.G.training)
        self.E.eval(), self.G.eval()
        try:
            mu, logvar = self.encode(x.to(self.device))
            return self.G(self.reparameterize(mu, logvar) if sample else mu).float()
        finally:
            self.E.train(was[0]), self.G.train(was[1])

    def d_step(self, x_real: Tensor) -> dict:
        with self.autocast():
            with torch.no_grad():
                x_rec = self.G(self.reparameterize(*self.encode(x_real)))   # (B, C, H, W)
                x_prior = self.G(self.sample_latent(x_real.shape[0]))
            d_real = self.D(x_real).float()                                  # (B,) logits
            d_rec = self.D(x_rec).float()
            d_prior = self.D(x_prior).float()
            loss = losses.vaegan_d_loss(d_real, d_rec, d_prior)      # -L_GAN and its three terms
        self.optimize("D", loss.total)
        return d_stats(loss, d_real, d_prior, d_rec=d_rec)

    def g_step(self, x_real: Tensor) -> dict:
        c = self.config
        D = self.bare("D")
        B = x_real.shape[0]
        with self.autocast(), frozen(D):
            mu, logvar = self.encode(x_real)
            x_rec = self.G(self.reparameterize(mu, logvar))                  # (B, C, H, W)
            x_prior = self.G(self.sample_latent(B))
            f_real, f_rec = paired_features(D, x_real, x_rec, c.feature_layer, joint=True)
            llike = losses.llike_loss(f_real, f_rec)
            prior = losses.kl_normal(mu, logvar)
            gan = losses.vaegan_g_loss(D(x_rec).float(), D(x_prior).float())
            loss_e = prior + llike
            loss_g = c.gamma * llike + gan.total
            step_separately(self, {"E": loss_e, "G": loss_g})
        return {"loss_g": loss_g.detach(), "loss_e": loss_e.detach(), "kl": prior.detach(),
                "llike": llike.detach(), "gan_g": gan.total.detach(), "gan_g_rec": gan.rec.detach(),
                "gan_g_prior": gan.prior.detach()}
