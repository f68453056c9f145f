# %% markdown
# # Assignment 6: the KL term of VAE-GAN
#
# For the VAE-GAN model (`gan_lab.models.vaegan`; Larsen et al., 2016). Its encoder outputs the mean
# and log-variance of $q(z|x) = \mathcal N(\mu, \mathrm{diag}\,\sigma^2)$, and the prior term
# pulls $q$ towards $p(z) = \mathcal N(0, I)$.
#
# Run every cell from the top; replace each `raise NotImplementedError()` with your code.

# %% id=setup
import torch

from gan_lab import exercises

# %% markdown
# ## 1. The KL divergence of two Gaussians
#
# Derive (or look up: Kingma & Welling, 2014, Appendix B)
#
# $$D_{KL}\big(q(z|x)\,\Vert\,p(z)\big) = -\tfrac12\sum_{j=1}^{J}\big(1 + \log\sigma_j^2 - \mu_j^2 - \sigma_j^2\big)$$
#
# `mu` and `logvar` ($\log\sigma^2$) are `(B, J)`. Sum over the $J$ latent dimensions, average over
# the batch, keep it a tensor the encoder can be trained through.

# %% solution id=kl
def kl_normal(mu, logvar):
    """KL(N(mu, sigma^2) || N(0, I)), summed over latent dimensions, averaged over the batch."""
    ### BEGIN SOLUTION
    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).sum(dim=1).mean()
    ### END SOLUTION

# %% tests id=test_kl points=4
exercises.check_kl_normal(kl_normal)

# %% markdown
# ## 2. A Monte Carlo check
#
# The KL is an expectation, $\mathbb{E}_{z\sim q}[\log q(z) - \log p(z)]$. Estimate it for one sample
# (`mu` and `logvar` of shape `(1, J)` below) from `n = 200_000` draws of the reparameterised
# $z = \mu + \sigma\epsilon$, using `torch.distributions.Normal` for the two log-densities, and put the
# estimate in `kl_mc`.

# %% solution id=mc
torch.manual_seed(0)
mu = torch.tensor([[0.5, -1.0, 0.0]])
logvar = torch.tensor([[0.0, -0.7, 0.4]])
### BEGIN SOLUTION
n = 200_000
std = (0.5 * logvar).exp()
z = mu + std * torch.randn(n, mu.shape[1])
q = torch.distributions.Normal(mu, std)
p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
kl_mc = float((q.log_prob(z) - p.log_prob(z)).sum(dim=1).mean())
### END SOLUTION

# %% tests id=test_mc points=2
exact = float(kl_normal(mu, logvar))
assert abs(kl_mc - exact) < 0.02, f"Monte Carlo {kl_mc:.4f} vs formula {exact:.4f}"
### BEGIN HIDDEN TESTS
assert abs(exact - 0.5 * sum(m * m + v.exp() - 1 - v for m, v in zip(mu[0], logvar[0])).item()) < 1e-6
### END HIDDEN TESTS
