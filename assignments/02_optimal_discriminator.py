# %% markdown
# # Assignment 2: the optimal discriminator and the Jensen–Shannon divergence
#
# Goes with the chapter *The optimal discriminator and the Jensen–Shannon divergence*. You code
# $D^*$ and the JSD of two densities given on a grid, then use them to check the identity
# $V(D^*, G) = -\log 4 + 2\,\mathrm{JSD}(p_{data} \,\|\, p_g)$ (Goodfellow et al., 2014, Theorem 1)
# on two densities of your own.
#
# Run every cell from the top; replace each `raise NotImplementedError()` with your code.

# %% id=setup
import math

import numpy as np

from gan_lab import exercises, toy

# %% markdown
# ## 1. The optimal discriminator
#
# For a fixed generator, $V(D, G) = \int p_{data}(x)\log D(x) + p_g(x)\log(1 - D(x))\,dx$ is maximised
# point by point. Maximise $a \log y + b \log(1-y)$ over $y \in (0, 1)$ and code the result:
# `optimal_discriminator(p_data, p_g)` takes two NumPy arrays of density values (same shape) and
# returns $D^*$ at each point. Where both densities are 0, $D$ does not enter $V$: return $1/2$ there
# (and no NaN).

# %% solution id=d_star
def optimal_discriminator(p_data, p_g):
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)); 1/2 where both are 0."""
    ### BEGIN SOLUTION
    total = p_data + p_g
    return np.divide(p_data, total, out=np.full_like(total, 0.5, dtype=float), where=total > 0)
    ### END SOLUTION

# %% tests id=test_d_star points=3
exercises.check_optimal_discriminator(optimal_discriminator)

# %% markdown
# ## 2. The Jensen–Shannon divergence on a grid
#
# $$\mathrm{JSD}(p \,\|\, q) = \tfrac12 \mathrm{KL}(p \,\|\, m) + \tfrac12 \mathrm{KL}(q \,\|\, m),
# \qquad m = \tfrac{p + q}{2}, \qquad \mathrm{KL}(p \,\|\, m) = \int p \log\frac{p}{m}\,dx$$
#
# `js_divergence(p, q, cell)` gets density values on a grid and the cell's length (or area); compute
# the integrals by the midpoint rule (sum times `cell`), in nats, with $0 \log 0 = 0$.

# %% solution id=jsd
def js_divergence(p, q, cell):
    """JSD(p || q) in nats by quadrature on a grid."""
    ### BEGIN SOLUTION
    m = 0.5 * (p + q)

    def kl_to_m(a):
        inside = a > 0
        return float(np.sum(a[inside] * np.log(a[inside] / m[inside])) * cell)

    return 0.5 * kl_to_m(p) + 0.5 * kl_to_m(q)
    ### END SOLUTION

# %% tests id=test_jsd points=3
exercises.check_js_divergence(js_divergence)
### BEGIN HIDDEN TESTS
x, dx = toy.grid_1d(-2.0, 3.0, 5001)
p = toy.Uniform1D(0.0, 1.0).pdf(x)
for theta in (0.25, 0.5, 2.0):
    q = toy.Uniform1D(theta, theta + 1.0).pdf(x)
    assert abs(js_divergence(p, q, dx) - toy.shifted_uniform_jsd(theta)) < 2e-3
### END HIDDEN TESTS

# %% markdown
# ## 3. The value of the game at $D^*$
#
# Pick two densities on a 1-D grid (for example two Gaussian mixtures from `toy.GaussianMixture`,
# evaluated with `.pdf(x)` on `x, dx = toy.grid_1d(-6, 6, 4001)`). Compute
# `value = ` $\int p_{data}\log D^* + p_g \log(1 - D^*)$ with **your** `optimal_discriminator`
# (take $0 \log 0 = 0$), and `identity = -math.log(4) + 2 * js_divergence(p_data, p_g, dx)`.
# Keep the arrays in the names `p_data`, `p_g`, `dx`.

# %% solution id=value
### BEGIN SOLUTION
x, dx = toy.grid_1d(-6.0, 6.0, 4001)
p_data = toy.GaussianMixture(means=[-1.0, 1.5], stds=[0.4, 0.6]).pdf(x)
p_g = toy.GaussianMixture(means=[0.0], stds=[1.2]).pdf(x)
d = optimal_discriminator(p_data, p_g)
with np.errstate(divide="ignore"):
    integrand = np.where(p_data > 0, p_data * np.log(d), 0.0) + np.where(p_g > 0, p_g * np.log1p(-d), 0.0)
value = float(integrand.sum() * dx)
identity = -math.log(4) + 2 * js_divergence(p_data, p_g, dx)
### END SOLUTION

# %% tests id=test_value points=2
assert abs(value - identity) < 1e-6, f"V(D*, G) = {value:.6f} but -log 4 + 2 JSD = {identity:.6f}"
assert value > -math.log(4) - 1e-9, "V(D*, G) is at least -log 4 (the value when p_g = p_data)"
### BEGIN HIDDEN TESTS
assert abs(value - toy.value_at_optimum(p_data, p_g, dx)) < 1e-6
assert np.any(np.abs(p_data - p_g) > 1e-3), "choose two different densities"
### END HIDDEN TESTS
