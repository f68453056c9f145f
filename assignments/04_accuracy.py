# %% markdown
# # Assignment 4: what the discriminator's accuracy measures
#
# Goes with the chapter *Why discriminator accuracy is not a metric*. You code the accuracy of a
# discriminator from its logits, then the accuracy of the *optimal* discriminator between
# $p_{data} = \mathcal N(0, 1)$ and $p_g = \mathcal N(\mu, 1)$, and see that it depends only on how
# far apart the two distributions are, not on how good the samples look.
#
# Run every cell from the top; replace each `raise NotImplementedError()` with your code.

# %% id=setup
import numpy as np
import torch

from gan_lab import exercises, toy

# %% markdown
# ## 1. Accuracy from logits
#
# A logit $> 0$ means "real" ($D(x) > 1/2$); a logit of exactly 0 counts as "fake". The accuracy is the
# share of *all* samples, real and generated together, that the discriminator gets right; the two
# batches may have different sizes.

# %% solution id=accuracy
def d_accuracy(d_real, d_fake):
    """Share of real and fake samples classified correctly (a 0-d tensor)."""
    ### BEGIN SOLUTION
    correct = (d_real > 0).sum() + (d_fake <= 0).sum()
    return correct.double() / (d_real.numel() + d_fake.numel())
    ### END SOLUTION

# %% tests id=test_accuracy points=3
exercises.check_d_accuracy(d_accuracy)

# %% markdown
# ## 2. The accuracy of the optimal discriminator
#
# Write `optimal_accuracy(mu)`: on the grid `x, dx = toy.grid_1d(-12, 12, 24001)`, evaluate the two
# densities, compute $D^*$ (use `toy.optimal_discriminator`), classify a point as real where
# $D^* > 1/2$, and integrate: the accuracy is
# $\tfrac12\int p_{data}\,[D^* > \tfrac12] + \tfrac12\int p_g\,[D^* \le \tfrac12]$ (equal numbers of real and
# fake samples). Then derive the closed form by hand and fill in `closed_form(mu)` with
# `scipy.stats.norm`.

# %% solution id=optimal
def optimal_accuracy(mu):
    """Accuracy of D* between N(0, 1) and N(mu, 1), by quadrature."""
    ### BEGIN SOLUTION
    x, dx = toy.grid_1d(-12.0, 12.0, 24001)
    p_data = toy.GaussianMixture(means=[0.0], stds=[1.0]).pdf(x)
    p_g = toy.GaussianMixture(means=[mu], stds=[1.0]).pdf(x)
    real = toy.optimal_discriminator(p_data, p_g) > 0.5
    return float(0.5 * np.sum(p_data * real) * dx + 0.5 * np.sum(p_g * ~real) * dx)
    ### END SOLUTION


def closed_form(mu):
    """The same accuracy as a formula in mu."""
    ### BEGIN SOLUTION
    from scipy.stats import norm
    return float(norm.cdf(abs(mu) / 2))
    ### END SOLUTION

# %% tests id=test_optimal points=3
for mu in (0.5, 1.0, 3.0):
    assert abs(optimal_accuracy(mu) - closed_form(mu)) < 2e-3, f"quadrature and formula disagree at mu = {mu}"
### BEGIN HIDDEN TESTS
from scipy.stats import norm
for mu in (0.0, 1.0, 3.0, -2.0):
    assert abs(closed_form(mu) - norm.cdf(abs(mu) / 2)) < 1e-9, mu
assert abs(optimal_accuracy(1.0) - norm.cdf(0.5)) < 2e-3
### END HIDDEN TESTS
