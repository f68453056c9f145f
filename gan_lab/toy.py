r"""Toy densities and tiny networks for the theory chapters.

Everything here is small enough to run in seconds on a CPU, and exact where the book needs
exactness: densities are known in closed form, so the optimal discriminator

.. math::
    D^*(x) = \frac{p_{data}(x)}{p_{data}(x) + p_g(x)}

and the divergences between two densities can be computed by quadrature on a grid and
compared with what networks trained on *samples* learn.

Conventions: densities take NumPy arrays (shape ``(...)`` in 1-D, ``(..., d)`` otherwise) and
return NumPy arrays; samplers return float32 torch tensors of shape ``(n, d)``. Logarithms
are natural, so divergences are in nats and :math:`\mathrm{JSD} \le \log 2`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from gan_lab import losses

LOG2 = math.log(2.0)


# ---------------------------------------------------------------------------------------------
# Densities
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GaussianMixture:
    """A mixture of isotropic Gaussians in ``dim`` dimensions.

    ``means`` has shape (K, dim) (a list of floats is read as K one-dimensional means),
    ``stds`` and ``weights`` have K entries; the weights are normalised.
    """

    means: tuple
    stds: tuple
    weights: tuple | None = None

    def __post_init__(self):
        means = np.asarray(self.means, dtype=np.float64)
        if means.ndim == 1:
            means = means[:, None]
        if means.ndim != 2:
            raise ValueError(f"means must have shape (K, dim), got {means.shape}")
        stds = np.broadcast_to(np.asarray(self.stds, dtype=np.float64), (means.shape[0],)).copy()
        if np.any(stds <= 0):
            raise ValueError(f"stds must be positive, got {stds}")
        weights = np.ones(means.shape[0]) if self.weights is None else np.asarray(self.weights, dtype=np.float64)
        if weights.shape != (means.shape[0],) or np.any(weights < 0) or weights.sum() <= 0:
            raise ValueError(f"weights must be {means.shape[0]} non-negative numbers with a positive sum")
        object.__setattr__(self, "_means", means)
        object.__setattr__(self, "_stds", stds)
        object.__setattr__(self, "_weights", weights / weights.sum())

    @property
    def dim(self) -> int:
        return self._means.shape[1]

    def pdf(self, x) -> np.ndarray:
        """Density at ``x``: shape (...) in 1-D, (..., dim) otherwise."""
        x = np.asarray(x, dtype=np.float64)
        if self.dim == 1:
            x = x[..., None]
        diff = x[..., None, :] - self._means               # (..., K, dim)
        sq = (diff ** 2).sum(-1) / self._stds ** 2           # (..., K)
        norm = (2 * math.pi * self._stds ** 2) ** (-self.dim / 2)
        return (self._weights * norm * np.exp(-0.5 * sq)).sum(-1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` samples, float32 tensor (n, dim)."""
        weights = torch.as_tensor(self._weights)
        k = torch.multinomial(weights, n, replacement=True, generator=generator)   # (n,) component ids
        means = torch.as_tensor(self._means, dtype=torch.float32)[k]               # (n, dim)
        stds = torch.as_tensor(self._stds, dtype=torch.float32)[k, None]           # (n, 1)
        return means + stds * torch.randn(n, self.dim, generator=generator)


@dataclass(frozen=True)
class Uniform1D:
    """The uniform density on ``[low, high]``: the book's example of a bounded support."""

    low: float = 0.0
    high: float = 1.0

    def __post_init__(self):
        if not self.high > self.low:
            raise ValueError(f"need high > low, got [{self.low}, {self.high}]")

    dim = 1

    def pdf(self, x) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return np.where((x >= self.low) & (x <= self.high), 1.0 / (self.high - self.low), 0.0)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        u = torch.rand(n, 1, generator=generator)
        return self.low + (self.high - self.low) * u


@dataclass(frozen=True)
class VerticalSegment:
    r"""The points :math:`(x, u)`, :math:`u \sim U[0, 1]`: a distribution on a segment of the plane.

    Two of them at different ``x`` are Arjovsky et al.'s (2017) Example 1 (parallel lines): their
    supports are disjoint for any shift, so :math:`\mathrm{JSD} = \log 2`, while
    :math:`W_1 = |x_1 - x_2|`. A segment has no density on the plane (it has area zero), so
    there is no ``pdf``: only samples.
    """

    x: float = 0.0
    dim = 2

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        u = torch.rand(n, 1, generator=generator)
        return torch.cat([torch.full_like(u, self.x), u], dim=1)      # (n, 2)


# ---------------------------------------------------------------------------------------------
# Quantities on a grid
# ---------------------------------------------------------------------------------------------
def optimal_discriminator(p_data, p_g) -> np.ndarray:
    r""":math:`D^*(x) = p_{data}(x) / (p_{data}(x) + p_g(x))`; 1/2 where both densities are 0
    (there the value of D does not enter :math:`V(D, G)`)."""
    p_data, p_g = np.asarray(p_data, dtype=np.float64), np.asarray(p_g, dtype=np.float64)
    total = p_data + p_g
    return np.divide(p_data, total, out=np.full_like(total, 0.5), where=total > 0)


def _plogp_over(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """p * log(p / q) with the convention 0 log(0/q) = 0 (q > 0 wherever p > 0)."""
    out = np.zeros_like(p)
    mask = p > 0
    out[mask] = p[mask] * np.log(p[mask] / q[mask])
    return out


def kl_divergence(p, q, cell: float) -> float:
    r""":math:`\mathrm{KL}(p\|q) = \int p \log(p/q)` by the midpoint rule; ``cell`` is the grid
    cell's length (1-D) or area (2-D). Infinite when p has mass where q has none."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    if np.any((p > 0) & (q <= 0)):
        return math.inf
    return float(_plogp_over(p, q).sum() * cell)


def js_divergence(p, q, cell: float) -> float:
    r""":math:`\mathrm{JSD}(p\|q) = \tfrac12 \mathrm{KL}(p\|m) + \tfrac12 \mathrm{KL}(q\|m)`, :math:`m = (p+q)/2`,
    by quadrature on a grid. In nats: between 0 and :math:`\log 2`."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    m = 0.5 * (p + q)
    return float(0.5 * (_plogp_over(p, m).sum() + _plogp_over(q, m).sum()) * cell)


def value_at_optimum(p_data, p_g, cell: float) -> float:
    r""":math:`V(D^*, G) = \int p_{data} \log D^* + p_g \log(1 - D^*)` by quadrature,
    computed from :math:`D^*` directly (not through the JSD identity, so it can check it)."""
    p_data, p_g = np.asarray(p_data, dtype=np.float64), np.asarray(p_g, dtype=np.float64)
    d_star = optimal_discriminator(p_data, p_g)
    real = np.zeros_like(p_data)
    fake = np.zeros_like(p_g)
    real[p_data > 0] = p_data[p_data > 0] * np.log(d_star[p_data > 0])
    fake[p_g > 0] = p_g[p_g > 0] * np.log1p(-d_star[p_g > 0])
    return float((real.sum() + fake.sum()) * cell)


def wasserstein1_1d(p, q, dx: float) -> float:
    r""":math:`W_1(p, q) = \int |F_p(x) - F_q(x)|\,dx` for densities on the same 1-D grid."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    cdf_p = np.cumsum(p) * dx
    cdf_q = np.cumsum(q) * dx
    return float(np.abs(cdf_p - cdf_q).sum() * dx)


def js_divergence_monte_carlo(p, q, n: int = 200_000, generator: torch.Generator | None = None) -> float:
    r"""JSD estimated from samples and exact densities, without a grid:

    .. math::
        \mathrm{JSD} = \tfrac12\,\mathbb{E}_{x\sim p}\Big[\log\frac{2p(x)}{p(x)+q(x)}\Big]
                     + \tfrac12\,\mathbb{E}_{x\sim q}\Big[\log\frac{2q(x)}{p(x)+q(x)}\Big]
    """
    def half(a, b):
        x = a.sample(n, generator).double().numpy()
        x = x[:, 0] if a.dim == 1 else x
        pa, pb = a.pdf(x), b.pdf(x)
        return float(np.mean(np.log(2 * pa / (pa + pb))))

    return 0.5 * half(p, q) + 0.5 * half(q, p)


def shifted_uniform_jsd(theta: float) -> float:
    r"""Closed form of :math:`\mathrm{JSD}(U[0,1] \,\|\, U[\theta, \theta+1]) = \min(|\theta|, 1)\log 2`."""
    return min(abs(theta), 1.0) * LOG2


def grid_1d(low: float, high: float, n: int = 2001) -> tuple[np.ndarray, float]:
    """Cell centres of an ``n``-cell grid on [low, high] and the cell length."""
    dx = (high - low) / n
    return low + dx * (np.arange(n) + 0.5), dx


def grid_2d(low: float, high: float, n: int = 301) -> tuple[np.ndarray, float]:
    """Cell centres of an n x n grid on [low, high]^2, shape (n, n, 2), and the cell area."""
    x, dx = grid_1d(low, high, n)
    xx, yy = np.meshgrid(x, x, indexing="xy")
    return np.stack([xx, yy], axis=-1), dx * dx


def gaussian_kde_1d(samples, grid, bandwidth: float | None = None) -> np.ndarray:
    """Kernel density estimate of 1-D samples on a grid (Gaussian kernel, Silverman's bandwidth).

    Used to draw :math:`p_g` of a trained generator, whose density has no closed form.
    """
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    grid = np.asarray(grid, dtype=np.float64)
    if bandwidth is None:
        iqr = np.subtract(*np.percentile(x, [75, 25]))
        spread = min(x.std(), iqr / 1.34) if iqr > 0 else x.std()
        bandwidth = 0.9 * max(spread, 1e-3) * len(x) ** (-0.2)
    out = np.zeros_like(grid)
    for chunk in np.array_split(x, max(1, len(x) // 2000)):   # bounded memory
        out += np.exp(-0.5 * ((grid[:, None] - chunk[None, :]) / bandwidth) ** 2).sum(1)
    return out / (len(x) * bandwidth * math.sqrt(2 * math.pi))


# ---------------------------------------------------------------------------------------------
# Tiny networks
# ---------------------------------------------------------------------------------------------
class MLP(nn.Module):
    """``in_dim -> hidden -> ... -> out_dim`` with LeakyReLU(0.2): the toy G and D.

    As a discriminator it returns logits of shape (B,) (``out_dim=1``, ``squeeze=True``).
    """

    def __init__(self, in_dim: int = 1, out_dim: int = 1, hidden: int = 32, depth: int = 2,
                 squeeze: bool = False):
        super().__init__()
        if depth < 1 or hidden < 1:
            raise ValueError("depth and hidden must be at least 1")
        layers, width = [], in_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.LeakyReLU(0.2)]
            width = hidden
        layers.append(nn.Linear(width, out_dim))
        self.net = nn.Sequential(*layers)
        self.squeeze = squeeze

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)                       # (B, out_dim)
        return out.squeeze(-1) if self.squeeze else out


def make_generator(latent_dim: int = 1, dim: int = 1, hidden: int = 32, depth: int = 2) -> MLP:
    """G: z (B, latent_dim) -> x (B, dim)."""
    return MLP(latent_dim, dim, hidden, depth)


def make_discriminator(dim: int = 1, hidden: int = 32, depth: int = 2) -> MLP:
    """D: x (B, dim) -> logit (B,); :math:`D(x) = \\sigma(\\text{logit})`."""
    return MLP(dim, 1, hidden, depth, squeeze=True)


@torch.no_grad()
def d_on_grid(D: nn.Module, grid, dim: int = 1) -> np.ndarray:
    """:math:`D(x) = \\sigma(\\text{logit})` on grid points: shape (...) for ``dim=1``, (..., dim) otherwise."""
    grid = np.asarray(grid, dtype=np.float32)
    device = next(D.parameters()).device
    flat = torch.from_numpy(grid.reshape(-1, dim)).to(device)     # (N, dim)
    prob = torch.sigmoid(D(flat)).cpu().double().numpy()
    return prob.reshape(grid.shape if dim == 1 else grid.shape[:-1])


def fit_discriminator(D: nn.Module, p_data, p_g, steps: int = 2000, batch_size: int = 512,
                      lr: float = 1e-3, generator: torch.Generator | None = None) -> list[float]:
    """Train D alone, on samples of two fixed densities, with the minimax D loss.

    Returns the loss per step. With enough capacity and steps, D approaches :math:`D^*`,
    and ``-loss`` approaches :math:`V(D^*, G) = -\\log 4 + 2\\,\\mathrm{JSD}`.
    """
    def step(x_real, x_fake):
        loss = losses.d_loss_minimax(D(x_real), D(x_fake)).total
        return loss, float(loss.detach())

    return _fit(D, torch.optim.Adam(D.parameters(), lr=lr), p_data, p_g, steps, batch_size, generator, step)


def _fit(net: nn.Module, opt: torch.optim.Optimizer, p_data, p_g, steps: int, batch_size: int,
         generator: torch.Generator | None, step, after_step=None) -> list[float]:
    """``steps`` optimiser steps of ``net`` on fresh batches of ``p_data`` and ``p_g``: ``step(x_real,
    x_fake)`` returns (the loss to minimise, the number to record); ``after_step()`` runs after each."""
    device = next(net.parameters()).device
    history = []
    for _ in range(steps):
        x_real = p_data.sample(batch_size, generator).to(device)   # (B, dim)
        x_fake = p_g.sample(batch_size, generator).to(device)
        loss, record = step(x_real, x_fake)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if after_step is not None:
            after_step()
        history.append(record)
    return history


def fit_critic(f: nn.Module, p_data, p_g, steps: int = 1000, batch_size: int = 512, lr: float = 1e-3,
               constraint: str = "gp", gp_weight: float = 10.0, clip_value: float = 0.01,
               generator: torch.Generator | None = None) -> list[float]:
    r"""Train a Wasserstein critic ``f`` alone, on samples of two fixed densities.

    Each step maximises :math:`\mathbb{E}_{p_{data}}[f] - \mathbb{E}_{p_g}[f]` (minimises
    :func:`gan_lab.losses.wasserstein_critic_loss`) under one of the two Lipschitz constraints:
    ``constraint="gp"`` adds ``gp_weight`` times :func:`gan_lab.losses.gradient_penalty`
    (Adam(lr, betas (0, 0.9)), as Gulrajani et al.); ``constraint="clip"`` clips every weight to
    [-c, c] after the step (RMSprop(lr), as Arjovsky et al.). ``f`` returns one score per sample,
    e.g. :func:`make_discriminator` (its output read as a raw score, no sigmoid).

    Returns the critic's estimate :math:`\mathbb{E}_{p_{data}}[f] - \mathbb{E}_{p_g}[f]` on each
    step's batch (before the step): with the penalty it approaches :math:`W_1(p_{data}, p_g)`, with
    clipping :math:`K \cdot W_1` for the unknown Lipschitz bound K that the clipping implies.
    """
    if constraint not in ("gp", "clip"):
        raise ValueError(f"constraint must be 'gp' or 'clip', got {constraint!r}")
    if constraint == "gp":
        opt = torch.optim.Adam(f.parameters(), lr=lr, betas=(0.0, 0.9))
    else:
        opt = torch.optim.RMSprop(f.parameters(), lr=lr)

    def step(x_real, x_fake):
        loss = losses.wasserstein_critic_loss(f(x_real), f(x_fake))
        estimate = -float(loss.total.detach())
        if constraint == "gp":
            return loss.total + gp_weight * losses.gradient_penalty(f, x_real, x_fake), estimate
        return loss.total, estimate

    @torch.no_grad()
    def clip():
        for p in f.parameters():
            p.clamp_(-clip_value, clip_value)

    return _fit(f, opt, p_data, p_g, steps, batch_size, generator, step, clip if constraint == "clip" else None)


@torch.no_grad()
def value_estimate(D: nn.Module, p_data, p_g, n: int = 100_000,
                   generator: torch.Generator | None = None) -> float:
    r"""Monte Carlo :math:`V(D, G) = \mathbb{E}_{p_{data}}[\log D] + \mathbb{E}_{p_g}[\log(1 - D)]`
    of a given D (at most :math:`V(D^*, G)`)."""
    device = next(D.parameters()).device
    return -float(losses.d_loss_minimax(D(p_data.sample(n, generator).to(device)),
                                        D(p_g.sample(n, generator).to(device))).total)


__all__ = [
    "GaussianMixture", "Uniform1D", "VerticalSegment", "optimal_discriminator", "kl_divergence", "js_divergence",
    "value_at_optimum", "wasserstein1_1d", "js_divergence_monte_carlo", "shifted_uniform_jsd",
    "grid_1d", "grid_2d", "gaussian_kde_1d", "MLP", "make_generator", "make_discriminator",
    "d_on_grid", "fit_discriminator", "fit_critic", "value_estimate", "LOG2",
]
