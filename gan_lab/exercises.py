r"""Self-checks a student runs on their own implementation of a piece of the package.

Each ``check_*(fn)`` takes a function with the signature of the package function it stands for,
calls it and the package on random inputs (several shapes and seeds, float64), and

* prints one line (``check_kl_normal: 4 cases passed``) when the two agree, or
* raises ``AssertionError`` with a message that names the mistake when they do not: the shape,
  the sign, the reduction (per pixel vs per sample, sum vs mean), a missing factor, swapped
  arguments, a gradient penalty that cannot be back-propagated (no ``create_graph=True``).

The mistakes are recognised by computing the usual wrong answers from the same inputs and
seeing which one the student's value matches; a value that matches none gets the expected and
the returned numbers. The assignments of the course (``assignments/`` in the repository, built
by ``gan-lab assignments build``) call these checks in their test cells.

======================================  ==========================================================
check                                   stands for
======================================  ==========================================================
:func:`check_d_loss_minimax`            :func:`gan_lab.losses.d_loss_minimax` (``.total``)
:func:`check_g_loss_nonsaturating`      :func:`gan_lab.losses.g_loss_nonsaturating`
:func:`check_g_loss_saturating`         :func:`gan_lab.losses.g_loss_saturating`
:func:`check_optimal_discriminator`     :func:`gan_lab.toy.optimal_discriminator`, :math:`D^*`
:func:`check_js_divergence`             :func:`gan_lab.toy.js_divergence`
:func:`check_d_accuracy`                :func:`gan_lab.losses.d_accuracy`
:func:`check_gradient_penalty`          :func:`gan_lab.losses.gradient_penalty`
:func:`check_pixel_gradient_penalty`    :func:`gan_lab.losses.pixel_gradient_penalty`
:func:`check_noise_amplitude`           SinGAN's :math:`\sigma_n` (:mod:`gan_lab.models.singan`)
:func:`check_kl_normal`                 :func:`gan_lab.losses.kl_normal`
:func:`check_feature_matching`          :func:`gan_lab.losses.feature_matching` (``.total``)
:func:`check_minibatch_discrimination`  :class:`gan_lab.nn.MinibatchDiscrimination` (its ``o``)
======================================  ==========================================================
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gan_lab import losses, toy
from gan_lab.nn import MinibatchDiscrimination

Tensor = torch.Tensor

#: relative and absolute tolerance of every comparison (inputs are float64)
RTOL, ATOL = 1e-5, 1e-7


# -- helpers --------------------------------------------------------------------------------------

#: the seed of the random numbers a student's function draws (its mixing weights): a check gives the
#: same verdict each time it runs, and leaves the caller's random state as it was
SEED = 0


def _call(name: str, fn: Callable, *args):
    """``fn(*args)``, with an exception turned into a failed check that says where it came from."""
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(SEED)
            return fn(*args)
    except NotImplementedError:
        raise AssertionError(f"{name}: your function raises NotImplementedError; replace the stub "
                             f"(`raise NotImplementedError()`) with your code") from None
    except Exception as exc:       # any bug in the student's code is a failed check, with its cause
        shapes = ", ".join(str(tuple(a.shape)) for a in args if hasattr(a, "shape"))
        hint = ""
        if "Double" in str(exc) or "dtype" in str(exc):
            hint = ("; the check passes float64 tensors: make new tensors like the inputs "
                    "(torch.rand(..., dtype=x.dtype, device=x.device), torch.ones_like(x))")
        raise AssertionError(f"{name}: your function raised {type(exc).__name__}: {exc} "
                             f"(inputs of shape {shapes}){hint}") from exc


def _scalar(name: str, value, what: str = "a scalar") -> float:
    """The float in ``value`` (a 0-d or 1-element tensor/array, a float, or a loss tuple's first field)."""
    if isinstance(value, tuple):           # a loss named tuple: its total comes first
        value = value[0]
    if isinstance(value, (float, int, np.floating, np.integer)):
        return float(value)
    if isinstance(value, (Tensor, np.ndarray)):
        size = value.size if isinstance(value, np.ndarray) else value.numel()
        if size == 1:
            return float(value.detach().reshape(()) if isinstance(value, Tensor) else value.reshape(()))
        raise AssertionError(f"{name}: expected {what}, got an array of shape {tuple(value.shape)}; "
                             f"reduce it (the batch mean) to one number")
    raise AssertionError(f"{name}: expected {what}, got {type(value).__name__}")


def _close(a: float, b: float, rtol: float = RTOL, atol: float = ATOL) -> bool:
    return math.isfinite(a) and math.isfinite(b) and abs(a - b) <= atol + rtol * abs(b)


def _explain(name: str, got: float, expected: float, variants: dict[str, float], case: str) -> None:
    """Raise with the first wrong variant ``got`` matches, or with both numbers."""
    if _close(got, expected):
        return
    if not math.isfinite(got):
        raise AssertionError(f"{name}: your value is {got} on {case} (expected {expected:.6g}); look for a "
                             f"log or exp that overflows, or a division by zero")
    for message, value in variants.items():
        if _close(got, value):
            raise AssertionError(f"{name}: {message} (got {got:.6g}, expected {expected:.6g} on {case})")
    ratio = f", ratio {got / expected:.4g}" if expected != 0 else ""
    raise AssertionError(f"{name}: wrong value on {case}: got {got:.6g}, expected {expected:.6g}{ratio}")


def _grad_close(got: Tensor, ref: Tensor) -> bool:
    """Gradients agree as vectors (the package may compute in float32: compare norms, not elements)."""
    return float((got - ref).norm()) <= 1e-4 * float(ref.norm()) + 1e-9


def _passed(name: str, cases: int) -> None:
    print(f"{name}: {cases} cases passed")


def _as_tensor(value, like: Tensor) -> Tensor:
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if not isinstance(value, Tensor):
        value = torch.as_tensor(value, dtype=like.dtype)
    return value.to(dtype=like.dtype)


# -- chapter 1: the game --------------------------------------------------------------------------

_LOGIT_SHAPES = [((16,), (16,)), ((8, 1), (12, 1)), ((5,), (7,))]


def _logits(shape, generator, scale=3.0) -> Tensor:
    return torch.randn(shape, generator=generator, dtype=torch.float64) * scale


def check_d_loss_minimax(fn: Callable[[Tensor, Tensor], Tensor]) -> None:
    r"""Check ``fn(d_real, d_fake)`` against :func:`gan_lab.losses.d_loss_minimax`'s total,
    :math:`-\mathbb{E}[\log D(x)] - \mathbb{E}[\log(1 - D(G(z)))]` on logits (batch means).

    Also tries logits of size 100, where :math:`\log\sigma(s)` computed as ``log(sigmoid(s))``
    becomes ``log(0)``.
    """
    name = "check_d_loss_minimax"
    cases = 0
    for seed, (shape_real, shape_fake) in enumerate(_LOGIT_SHAPES):
        g = torch.Generator().manual_seed(seed)
        d_real, d_fake = _logits(shape_real, g), _logits(shape_fake, g)
        got = _scalar(name, _call(name, fn, d_real, d_fake))
        ref = losses.d_loss_minimax(d_real, d_fake)
        n_real, n_fake = d_real.numel(), d_fake.numel()
        variants = {
            "the targets are swapped: real samples have target 1, generated ones target 0":
                float(losses.d_loss_minimax(d_fake, d_real).total),
            "the sign is wrong: the loss is the *negative* log-likelihood (it is >= 0)": -float(ref.total),
            "each term is summed over the batch instead of averaged":
                float(ref.real) * n_real + float(ref.fake) * n_fake,
            "the two terms are averaged instead of added (the loss is their sum)": float(ref.total) / 2,
            "only the term on real samples is there; add -E[log(1 - D(G(z)))]": float(ref.real),
            "only the term on generated samples is there; add -E[log D(x)]": float(ref.fake),
            "the inputs are logits: apply the sigmoid (or use binary_cross_entropy_with_logits), "
            "do not treat them as probabilities":
                float(-(d_real.clamp(1e-12, 1).log().mean() + (1 - d_fake).clamp(1e-12, 1).log().mean())),
        }
        _explain(name, got, float(ref.total), variants, f"logits of shape {shape_real} and {shape_fake}")
        cases += 1
    big = torch.tensor([100.0, -100.0, 30.0], dtype=torch.float64)
    got = _scalar(name, _call(name, fn, big, -big))
    ref = float(losses.d_loss_minimax(big, -big).total)
    if not math.isfinite(got):
        raise AssertionError(f"{name}: your loss is {got} for logits of size 100 (expected {ref:.6g}): "
                             f"log(sigmoid(s)) underflows; use F.binary_cross_entropy_with_logits or "
                             f"F.softplus (log sigma(s) = -softplus(-s))")
    _explain(name, got, ref, {}, "large logits (+-100)")
    _passed(name, cases + 1)


def check_g_loss_nonsaturating(fn: Callable[[Tensor], Tensor]) -> None:
    r"""Check ``fn(d_fake)`` against :func:`gan_lab.losses.g_loss_nonsaturating`,
    :math:`-\mathbb{E}[\log D(G(z))]` on logits."""
    _check_g_loss("check_g_loss_nonsaturating", fn, losses.g_loss_nonsaturating, losses.g_loss_saturating,
                  "this is the saturating loss E[log(1 - D(G(z)))]; the non-saturating one is -E[log D(G(z))]")


def check_g_loss_saturating(fn: Callable[[Tensor], Tensor]) -> None:
    r"""Check ``fn(d_fake)`` against :func:`gan_lab.losses.g_loss_saturating`,
    :math:`\mathbb{E}[\log(1 - D(G(z)))]` on logits (the loss the generator *minimises*)."""
    _check_g_loss("check_g_loss_saturating", fn, losses.g_loss_saturating, losses.g_loss_nonsaturating,
                  "this is the non-saturating loss -E[log D(G(z))]; the saturating one is E[log(1 - D(G(z)))]")


def _check_g_loss(name, fn, reference, other, other_message) -> None:
    cases = 0
    for seed, (_, shape) in enumerate(_LOGIT_SHAPES):
        g = torch.Generator().manual_seed(100 + seed)
        d_fake = _logits(shape, g)
        got = _scalar(name, _call(name, fn, d_fake))
        ref = float(reference(d_fake))
        variants = {
            other_message: float(other(d_fake)),
            "the sign is wrong": -ref,
            "the loss is summed over the batch instead of averaged": ref * d_fake.numel(),
            "the inputs are logits: apply the sigmoid first": float(reference(torch.logit(
                d_fake.clamp(1e-6, 1 - 1e-6)))) if bool(((d_fake > 0) & (d_fake < 1)).all()) else math.nan,
        }
        _explain(name, got, ref, variants, f"logits of shape {shape}")
        cases += 1
    big = torch.tensor([100.0, -100.0, 40.0], dtype=torch.float64)
    got = _scalar(name, _call(name, fn, big))
    ref = float(reference(big))
    if not math.isfinite(got):
        raise AssertionError(f"{name}: your loss is {got} for logits of size 100 (expected {ref:.6g}): "
                             f"log(sigmoid(s)) underflows; use F.softplus or binary_cross_entropy_with_logits")
    _explain(name, got, ref, {}, "large logits (+-100)")
    _passed(name, cases + 1)


# -- chapter 2: the optimal discriminator and the JSD --------------------------------------------

def _densities(shape, rng: np.random.Generator, zeros: bool = False):
    p = rng.gamma(2.0, 1.0, size=shape)
    q = rng.gamma(2.0, 1.0, size=shape)
    if zeros:                                   # disjoint pieces of support, and a stretch where both are 0
        flat_p, flat_q = p.reshape(-1), q.reshape(-1)
        n = flat_p.size
        flat_p[: n // 4] = 0.0
        flat_q[n // 4: n // 2] = 0.0
        flat_p[-2:] = flat_q[-2:] = 0.0
    return p, q


def check_optimal_discriminator(fn: Callable) -> None:
    r"""Check ``fn(p_data, p_g)`` (density values, NumPy arrays of any shape) against
    :math:`D^*(x) = p_{data}(x) / (p_{data}(x) + p_g(x))` (:func:`gan_lab.toy.optimal_discriminator`).

    Where both densities are 0 the value of :math:`D` does not enter :math:`V(D, G)`; the check
    asks for :math:`1/2` there, as the package returns (no NaN).
    """
    name = "check_optimal_discriminator"
    cases = 0
    for seed, shape in enumerate([(50,), (7, 9), (3, 4, 5)]):
        rng = np.random.default_rng(seed)
        for zeros in (False, True):
            p_data, p_g = _densities(shape, rng, zeros)
            ref = toy.optimal_discriminator(p_data, p_g)
            out = _call(name, fn, p_data.copy(), p_g.copy())
            out = np.asarray(out.detach().cpu() if isinstance(out, Tensor) else out, dtype=np.float64)
            if out.shape != ref.shape:
                raise AssertionError(f"{name}: D* must have the shape of the densities {shape}, got "
                                     f"{out.shape}; compute it point by point, do not reduce")
            both_zero = (p_data + p_g) == 0
            if zeros and not np.allclose(out[both_zero], 0.5):
                raise AssertionError(f"{name}: where p_data = p_g = 0 your D* is {out[both_zero][:2]}; D does not "
                                     f"matter there, return 1/2 (e.g. np.divide(..., where=total > 0))")
            some = ~both_zero
            if np.allclose(out[some], ref[some], rtol=RTOL, atol=ATOL):
                cases += 1
                continue
            case = f"densities of shape {shape}"
            if np.allclose(out[some], 1 - ref[some], rtol=RTOL, atol=ATOL):
                raise AssertionError(f"{name}: p_data and p_g are swapped: you return p_g / (p_data + p_g), which "
                                     f"is 1 - D* (D* is the probability that x is *real*) on {case}")
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = p_data / p_g
            if np.allclose(out[some & (p_g > 0)], ratio[some & (p_g > 0)], rtol=RTOL):
                raise AssertionError(f"{name}: you return p_data / p_g; the denominator is p_data + p_g on {case}")
            if np.allclose(out[some], (p_data > p_g)[some].astype(float)):
                raise AssertionError(f"{name}: you return a hard 0/1 decision (p_data > p_g); D* is the "
                                     f"probability p_data / (p_data + p_g) on {case}")
            worst = int(np.argmax(np.abs(out - ref) * some))
            raise AssertionError(f"{name}: wrong value on {case}: at p_data = {p_data.flat[worst]:.4g}, "
                                 f"p_g = {p_g.flat[worst]:.4g} you give {out.flat[worst]:.6g}, "
                                 f"D* = {ref.flat[worst]:.6g}")
    _passed(name, cases)


def check_js_divergence(fn: Callable) -> None:
    r"""Check ``fn(p, q, cell)`` (density values on a grid, the grid cell's length or area) against
    :math:`\mathrm{JSD}(p\|q) = \tfrac12 \mathrm{KL}(p\|m) + \tfrac12 \mathrm{KL}(q\|m)`, :math:`m = (p+q)/2`,
    in nats (:func:`gan_lab.toy.js_divergence`). Densities with disjoint pieces of support included.
    """
    name = "check_js_divergence"
    cases = 0
    for seed, (shape, cell) in enumerate([((200,), 0.05), ((30, 40), 0.01), ((64,), 0.25)]):
        rng = np.random.default_rng(10 + seed)
        for zeros in (False, True):
            p, q = _densities(shape, rng, zeros)
            p, q = p / (p.sum() * cell), q / (q.sum() * cell)          # both integrate to 1
            got = _scalar(name, _call(name, fn, p.copy(), q.copy(), cell), "one number (the divergence)")
            ref = toy.js_divergence(p, q, cell)
            m = 0.5 * (p + q)
            kl_pm = toy.kl_divergence(p, m, cell)
            variants = {
                "your value is in bits (log base 2); the book uses nats (natural log)": ref / math.log(2),
                "the factor 1/2 in front of each KL term is missing": 2 * ref,
                "you return KL(p || m) only; JSD averages KL(p || m) and KL(q || m)": kl_pm,
                "the grid cell (dx) is missing: the integral is the sum times the cell": ref / cell,
                "you compare p with q directly (KL(p || q)); the JSD compares each with the mixture m = (p + q) / 2":
                    toy.kl_divergence(p, q, cell),
            }
            case = f"densities of shape {shape}, cell {cell}" + (" with disjoint pieces of support" if zeros else "")
            if not math.isfinite(got):
                raise AssertionError(f"{name}: your value is {got} on {case}; 0 log 0 counts as 0: sum only where "
                                     f"the density is > 0")
            _explain(name, got, ref, variants, case)
            cases += 1
    _passed(name, cases)


# -- chapter 4: accuracy --------------------------------------------------------------------------

def check_d_accuracy(fn: Callable[[Tensor, Tensor], Tensor]) -> None:
    """Check ``fn(d_real, d_fake)`` (logits) against :func:`gan_lab.losses.d_accuracy`: the share of all
    samples classified correctly, logit > 0 meaning 'real'. Batches of different sizes included."""
    name = "check_d_accuracy"
    cases = 0
    for seed, (shape_real, shape_fake) in enumerate([((40,), (40,)), ((10,), (30,)), ((25, 1), (5, 1))]):
        g = torch.Generator().manual_seed(200 + seed)
        d_real, d_fake = _logits(shape_real, g) + 0.5, _logits(shape_fake, g) - 0.5
        d_fake[0] = 0.0                    # a logit of exactly 0: D(x) = 1/2 counts as 'fake'
        got = _scalar(name, _call(name, fn, d_real, d_fake))
        ref = float(losses.d_accuracy(d_real, d_fake))
        acc_real, acc_fake = float((d_real > 0).double().mean()), float((d_fake <= 0).double().mean())
        variants = {
            "you average the accuracy on real and on fake samples; with batches of different sizes count "
            "all correct samples and divide by all samples": (acc_real + acc_fake) / 2,
            "you count the samples *wrongly* classified (1 - accuracy)": 1 - ref,
            "you return a percentage; return a share between 0 and 1": 100 * ref,
            "you count correct samples without dividing by the number of samples":
                float((d_real > 0).sum() + (d_fake <= 0).sum()),
            "a logit of exactly 0 is D(x) = 1/2, which counts as 'fake' (real means logit > 0)":
                float(((d_real > 0).sum() + (d_fake < 0).sum()) / (d_real.numel() + d_fake.numel())),
        }
        _explain(name, got, ref, variants, f"logits of shape {shape_real} and {shape_fake}")
        cases += 1
    _passed(name, cases)


# -- gradient penalties (WGAN-GP, SinGAN) ---------------------------------------------------------

class _RecordingCritic(nn.Module):
    """A small non-linear critic that remembers every input it is called on."""

    def __init__(self, channels: int, patch: bool, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.conv = nn.Conv2d(channels, 4, 3, padding=1).double()
        self.out = nn.Conv2d(4, 1, 1).double()
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.7)
        self.patch = patch
        self.inputs: list[Tensor] = []

    def forward(self, x: Tensor) -> Tensor:
        self.inputs.append(x)
        scores = self.out(torch.tanh(self.conv(x)))      # (B, 1, H, W)
        return scores if self.patch else scores.flatten(1).mean(dim=1)   # a map (PatchGAN) or (B,)


def _penalty_inputs(shape, seed):
    g = torch.Generator().manual_seed(seed)
    x_real = torch.randn(shape, generator=g, dtype=torch.float64)
    x_fake = torch.randn(shape, generator=g, dtype=torch.float64) + 0.5
    return x_real, x_fake


def _mixing_weights(name: str, critic: _RecordingCritic, x_real: Tensor, x_fake: Tensor) -> Tensor:
    """The interpolate the critic was differentiated at, after checking how it was mixed."""
    if not critic.inputs:
        raise AssertionError(f"{name}: your function never called the critic")
    x_hat = critic.inputs[-1]
    if x_hat.shape != x_real.shape:
        raise AssertionError(f"{name}: the critic got an input of shape {tuple(x_hat.shape)}; the interpolates "
                             f"have the shape of x_real {tuple(x_real.shape)}")
    eps = ((x_hat.detach() - x_fake) / (x_real - x_fake)).flatten(1)        # (B, C*H*W)
    if torch.allclose(eps, torch.ones_like(eps), atol=1e-6):
        raise AssertionError(f"{name}: the gradient is taken at x_real, not at random interpolates "
                             f"x_hat = eps x_real + (1 - eps) x_fake")
    if torch.allclose(eps, torch.zeros_like(eps), atol=1e-6):
        raise AssertionError(f"{name}: the gradient is taken at x_fake, not at random interpolates "
                             f"x_hat = eps x_real + (1 - eps) x_fake")
    if bool((eps < -1e-6).any() or (eps > 1 + 1e-6).any()):
        raise AssertionError(f"{name}: the critic's input is not between x_real and x_fake; mix them as "
                             f"eps x_real + (1 - eps) x_fake with eps ~ U[0, 1]")
    per_sample = eps.max(dim=1).values - eps.min(dim=1).values
    if bool((per_sample > 1e-6).any()):
        raise AssertionError(f"{name}: there is one mixing weight per pixel (eps of the shape of x); draw one "
                             f"per sample, shape (B, 1, 1, 1), and broadcast it over channels and pixels")
    if x_real.shape[0] > 1 and float(eps[:, 0].max() - eps[:, 0].min()) < 1e-9:
        raise AssertionError(f"{name}: one mixing weight is shared by the whole batch; draw one per sample, "
                             f"shape (B, 1, 1, 1)")
    return x_hat


def _grad_norms(critic, x_hat: Tensor) -> Tensor:
    x = x_hat.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x).sum(), x)
    critic.inputs.pop()
    return grad


def _check_differentiable(name: str, value: Tensor, reference: Tensor, critic: nn.Module) -> None:
    """The penalty must carry a graph back to the critic's weights, with the reference's gradient."""
    if not isinstance(value, Tensor) or not value.requires_grad:
        raise AssertionError(f"{name}: the penalty cannot be back-propagated into the critic (it does not "
                             f"require grad): pass create_graph=True to torch.autograd.grad")
    params = list(critic.parameters())
    got = torch.autograd.grad(value.sum(), params, allow_unused=True)
    ref = torch.autograd.grad(reference, params, allow_unused=True)   # the last bias has no input gradient
    got = [g if g is not None or r is None else None for g, r in zip(got, ref)]
    if all(g is None for g, r in zip(got, ref) if r is not None) or any(g is None and r is not None
                                                                         for g, r in zip(got, ref)):
        raise AssertionError(f"{name}: the penalty does not depend on the critic's weights (a gradient is "
                             f"None): pass create_graph=True to torch.autograd.grad and do not detach it")
    for g_got, g_ref in zip(got, ref):
        if g_ref is None:
            continue
        # relative 1e-3: where a pixel's gradient is near 0, the package's sqrt(. + 1e-12) differs a little
        if float((g_got - g_ref).norm()) > 1e-3 * float(g_ref.norm()) + 1e-7:
            raise AssertionError(f"{name}: the penalty has the right value but the wrong gradient with respect "
                                 f"to the critic's weights; is a part of it detached?")


_GP_CASES = [((8, 1, 6, 6), False), ((5, 3, 4, 4), True), ((12, 2, 5, 7), False)]


def check_gradient_penalty(fn: Callable) -> None:
    r"""Check ``fn(critic, x_real, x_fake)`` against :func:`gan_lab.losses.gradient_penalty`:

    .. math::
        \hat x = \epsilon x + (1-\epsilon)\tilde x,\ \epsilon \sim U[0,1] \text{ per sample},\qquad
        GP = \mathbb{E}\big[(\lVert\nabla_{\hat x} f(\hat x)\rVert_2 - 1)^2\big]

    The check records where the critic was called, so the random :math:`\epsilon` of the student
    and of the package need not agree: it reads the mixing weights back from :math:`\hat x`, then
    evaluates the package's penalty at that same :math:`\hat x`. It also back-propagates the
    penalty into the critic's weights (``create_graph=True``). Critics with one score per sample
    and with a map of scores (PatchGAN) are both tried.
    """
    name = "check_gradient_penalty"
    for seed, (shape, patch) in enumerate(_GP_CASES):
        critic = _RecordingCritic(shape[1], patch, seed)
        x_real, x_fake = _penalty_inputs(shape, 300 + seed)
        value = _call(name, fn, critic, x_real, x_fake)
        got = _scalar(name, value, "a scalar (the penalty averaged over the batch)")
        x_hat = _mixing_weights(name, critic, x_real, x_fake)
        critic.inputs.clear()
        # the package's penalty at the same interpolates: x_hat mixed with itself is x_hat
        reference = losses.gradient_penalty(critic, x_hat.detach(), x_hat.detach())
        critic.inputs.clear()
        grad = _grad_norms(critic, x_hat)
        norms = grad.flatten(1).norm(dim=1)
        n_scores = shape[0] * (shape[2] * shape[3] if patch else 1)
        per_pixel = grad.pow(2).sum(dim=1).sqrt()
        variants = {
            "the norm is taken per pixel (over channels); WGAN-GP takes it over the whole sample "
            "(flatten all but the batch dimension)": float((per_pixel - 1).pow(2).mean()),
            "the penalty is summed over the batch instead of averaged": float((norms - 1).pow(2).sum()),
            "the squared norm is used; the penalty is (||grad||_2 - 1)^2": float((norms.pow(2) - 1).pow(2).mean()),
            "the '- 1' is missing: the penalty pulls the norm towards 1, (||grad|| - 1)^2":
                float(norms.pow(2).mean()),
            "this is the one-sided penalty max(0, ||grad|| - 1)^2; WGAN-GP's is two-sided":
                float((norms - 1).clamp(min=0).pow(2).mean()),
            "the norm of the gradient of the *mean* score is used; differentiate the sum of the scores "
            "(each sample's gradient of its own score)": float(((norms / n_scores) - 1).pow(2).mean()),
        }
        _explain(name, got, float(reference.detach()), variants, f"x of shape {shape}"
                 + (" with a PatchGAN critic" if patch else ""))
        _check_differentiable(name, value, reference, critic)
    _passed(name, len(_GP_CASES))


def check_pixel_gradient_penalty(fn: Callable) -> None:
    r"""Check ``fn(critic, x_real, x_fake)`` against :func:`gan_lab.losses.pixel_gradient_penalty`,
    SinGAN's penalty with one gradient norm per pixel (over the colour channels), averaged over
    batch and pixels; one mixing weight per image, as in :func:`check_gradient_penalty`."""
    name = "check_pixel_gradient_penalty"
    for seed, (shape, _) in enumerate(_GP_CASES):
        critic = _RecordingCritic(shape[1], True, 50 + seed)
        x_real, x_fake = _penalty_inputs(shape, 400 + seed)
        value = _call(name, fn, critic, x_real, x_fake)
        got = _scalar(name, value, "a scalar (the penalty averaged over batch and pixels)")
        x_hat = _mixing_weights(name, critic, x_real, x_fake)
        critic.inputs.clear()
        ones = torch.ones(shape[0], 1, 1, 1, dtype=x_hat.dtype)
        reference = losses.pixel_gradient_penalty(critic, x_hat.detach(), x_hat.detach(), eps=ones)
        critic.inputs.clear()
        grad = _grad_norms(critic, x_hat)
        per_pixel = grad.pow(2).sum(dim=1).sqrt()          # (B, H, W)
        variants = {
            "the norm is taken over the whole image (WGAN-GP's penalty); SinGAN's takes one norm per pixel, "
            "over the channels (dim=1)": float((grad.flatten(1).norm(dim=1) - 1).pow(2).mean()),
            "the per-pixel terms are summed; average them over batch and pixels":
                float((per_pixel - 1).pow(2).sum()),
            "the squared norm is used; the penalty is (||grad||_2 - 1)^2": float((per_pixel.pow(2) - 1).pow(2).mean()),
            "the norm runs over the wrong dimension: the channels are dim=1 of (B, C, H, W)":
                float((grad.pow(2).sum(dim=-1).sqrt() - 1).pow(2).mean()),
            "the '- 1' is missing": float(per_pixel.pow(2).mean()),
        }
        _explain(name, got, float(reference.detach()), variants, f"x of shape {shape}")
        _check_differentiable(name, value, reference, critic)
    _passed(name, len(_GP_CASES))


# -- SinGAN ---------------------------------------------------------------------------------------

def check_noise_amplitude(fn: Callable) -> None:
    r"""Check ``fn(x_rec_up, x_real, factor)`` against SinGAN's noise amplitude of a scale,
    :math:`\sigma_n = \text{factor}\cdot\mathrm{RMSE}(\tilde x^{rec}_{n-1}{\uparrow}, x_n)`, the root
    of the mean squared error over every pixel and channel (as
    :class:`gan_lab.models.singan.SinGAN` sets ``noise_amp``; ``factor`` is its Config's
    ``noise_amp_factor``, 0.1 in the paper). Returns a float."""
    name = "check_noise_amplitude"
    cases = 0
    for seed, (shape, factor) in enumerate([((1, 3, 25, 33), 0.1), ((1, 1, 8, 8), 0.25), ((2, 3, 11, 7), 0.1)]):
        g = torch.Generator().manual_seed(500 + seed)
        x_real = torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1
        x_rec = x_real + 0.2 * torch.randn(shape, generator=g, dtype=torch.float64)
        got = _scalar(name, _call(name, fn, x_rec, x_real, factor), "one number (sigma_n)")
        mse = float(F.mse_loss(x_rec, x_real))
        ref = factor * math.sqrt(mse)
        variants = {
            "the square root is missing: sigma_n is factor times the *root* mean squared error": factor * mse,
            "the factor is missing": math.sqrt(mse),
            "the factor is applied twice": factor * factor * math.sqrt(mse),
            "the squared errors are summed instead of averaged over pixels and channels":
                factor * math.sqrt(mse * x_real.numel()),
            "the mean absolute error is used; sigma_n uses the root mean *squared* error":
                factor * float((x_rec - x_real).abs().mean()),
            "the standard deviation of the real image is used; sigma_n measures the reconstruction's error":
                factor * float(x_real.std()),
        }
        _explain(name, got, ref, variants, f"images of shape {shape}, factor {factor}")
        cases += 1
    _passed(name, cases)


# -- VAE-GAN: the KL term -------------------------------------------------------------------------

def check_kl_normal(fn: Callable[[Tensor, Tensor], Tensor]) -> None:
    r"""Check ``fn(mu, logvar)`` against :func:`gan_lab.losses.kl_normal`:
    :math:`-\tfrac12\sum_j (1 + \log\sigma_j^2 - \mu_j^2 - \sigma_j^2)`, summed over the latent
    dimensions and averaged over the batch; ``mu`` and ``logvar`` are (B, J). The result must
    be differentiable with respect to both."""
    name = "check_kl_normal"
    cases = 0
    for seed, (batch, latent) in enumerate([(16, 8), (5, 3), (32, 20), (1, 4)]):
        g = torch.Generator().manual_seed(600 + seed)
        mu = torch.randn(batch, latent, generator=g, dtype=torch.float64).requires_grad_(True)
        logvar = (torch.randn(batch, latent, generator=g, dtype=torch.float64) * 0.8).requires_grad_(True)
        value = _call(name, fn, mu, logvar)
        if isinstance(value, Tensor) and value.numel() != 1:
            raise AssertionError(f"{name}: expected a scalar, got shape {tuple(value.shape)} for (B, J) = "
                                 f"({batch}, {latent}); sum over the latent dimensions, then average over the batch")
        got = _scalar(name, value)
        ref_t = losses.kl_normal(mu, logvar)
        ref = float(ref_t.detach())
        per_dim = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).detach()
        sigma = logvar.detach().exp()
        variants = {
            "the sign is wrong: KL(q || p) >= 0, it is -1/2 sum(1 + log sigma^2 - mu^2 - sigma^2)": -ref,
            "the latent dimensions are averaged; sum them (the KL of a J-dimensional Gaussian is a sum over j)":
                float(per_dim.mean()),
            "the batch is summed; average the per-sample KL over the batch": float(per_dim.sum()),
            "the factor 1/2 is missing": 2 * ref,
            "exp(logvar) is squared: logvar is log sigma^2, so sigma^2 = exp(logvar), not exp(logvar)^2":
                float((-0.5 * (1 + logvar.detach() - mu.detach().pow(2) - sigma.pow(2))).sum(dim=1).mean()),
            "logvar is used as log sigma; it is log sigma^2":
                float((-0.5 * (1 + 2 * logvar.detach() - mu.detach().pow(2) - (2 * logvar.detach()).exp()))
                      .sum(dim=1).mean()),
            "the '1 +' inside the sum is missing":
                float((-0.5 * (logvar.detach() - mu.detach().pow(2) - sigma)).sum(dim=1).mean()),
        }
        _explain(name, got, ref, variants, f"mu and logvar of shape ({batch}, {latent})")
        if not isinstance(value, Tensor) or not value.requires_grad:
            raise AssertionError(f"{name}: the KL term must stay a tensor that can be back-propagated into the "
                                 f"encoder (do not call .item() or convert to NumPy)")
        got_grads = torch.autograd.grad(value.sum(), (mu, logvar), allow_unused=True)
        ref_grads = torch.autograd.grad(ref_t, (mu, logvar))
        if any(gg is None or not _grad_close(gg, rg) for gg, rg in zip(got_grads, ref_grads)):
            raise AssertionError(f"{name}: the value is right but its gradient with respect to mu or logvar "
                                 f"is not; is a part of it detached?")
        cases += 1
    _passed(name, cases)


# -- Improved GAN: feature matching and minibatch discrimination -----------------------------------

def check_feature_matching(fn: Callable[[Tensor, Tensor], Tensor]) -> None:
    r"""Check ``fn(f_real, f_fake)`` against :func:`gan_lab.losses.feature_matching` (its ``total``
    with ``std_weight=0``): :math:`\lVert \mathbb{E}_x f(x) - \mathbb{E}_z f(G(z)) \rVert_2^2`, the
    squared distance between the *batch means* of the features (flattened per sample). Batches of
    different sizes and (B, C, H, W) feature maps are included."""
    name = "check_feature_matching"
    cases = 0
    for seed, (shape_real, shape_fake) in enumerate([((16, 10), (16, 10)), ((8, 4, 3, 3), (8, 4, 3, 3)),
                                                     ((12, 6), (20, 6))]):
        g = torch.Generator().manual_seed(700 + seed)
        f_real = torch.randn(shape_real, generator=g, dtype=torch.float64)
        f_fake = (torch.randn(shape_fake, generator=g, dtype=torch.float64) * 1.3 + 0.4).requires_grad_(True)
        case = f"features of shape {shape_real} and {shape_fake}"
        try:
            value = fn(f_real, f_fake)
        except NotImplementedError:
            raise AssertionError(f"{name}: your function raises NotImplementedError; replace the stub with "
                                 f"your code") from None
        except Exception as exc:
            hint = (" (the real and generated batches have different sizes: compare their batch *means*, not "
                    "sample by sample)") if shape_real[0] != shape_fake[0] else ""
            raise AssertionError(f"{name}: your function raised {type(exc).__name__}: {exc} on {case}{hint}") from exc
        ref_t = losses.feature_matching(f_real, f_fake).total
        ref = float(ref_t.detach())
        a, b = f_real.flatten(1), f_fake.detach().flatten(1)
        diff_mean = a.mean(dim=0) - b.mean(dim=0)
        variants = {
            "the reduction is wrong: you compare each real sample's features with one generated sample's "
            "(a per-sample distance); feature matching compares the batch *means* of the features":
                float((a - b).pow(2).sum(dim=1).mean()) if a.shape == b.shape else math.nan,
            "the features are compared per sample with a mean over everything; feature matching compares the "
            "batch means": float((a - b).pow(2).mean()) if a.shape == b.shape else math.nan,
            "the features are averaged instead of summed over the feature dimension (||.||^2 sums them)":
                float(diff_mean.pow(2).mean()),
            "the norm is not squared: the loss is ||mean f(x) - mean f(G(z))||_2^2": float(diff_mean.norm()),
            "the absolute difference is used; the loss is the squared L2 distance": float(diff_mean.abs().sum()),
            "each feature map is averaged over its pixels before matching; flatten the features instead":
                float((f_real.flatten(2).mean(2).mean(0) - f_fake.detach().flatten(2).mean(2).mean(0)).pow(2).sum())
                if len(shape_real) == 4 else math.nan,
        }
        got = _scalar(name, value, "a scalar")
        _explain(name, got, ref, variants, case)
        total = value[0] if isinstance(value, tuple) else value
        if not isinstance(total, Tensor) or not total.requires_grad:
            raise AssertionError(f"{name}: the loss must stay a tensor the generator can be trained through "
                                 f"(no .item(), no .detach() of f_fake)")
        (got_grad,) = torch.autograd.grad(total.sum(), f_fake)
        (ref_grad,) = torch.autograd.grad(ref_t, f_fake)
        if not _grad_close(got_grad, ref_grad):
            raise AssertionError(f"{name}: the value is right but the gradient with respect to f_fake is not")
        cases += 1
    _passed(name, cases)


def check_minibatch_discrimination(fn: Callable[[Tensor, Tensor, int, int], Tensor]) -> None:
    r"""Check ``fn(f, T, kernels, kernel_dim)`` against the side features :math:`o(x_i)` of
    :class:`gan_lab.nn.MinibatchDiscrimination` (Salimans et al., 2016, §3.2): ``f`` is (N, A),
    ``T`` is (A, kernels * kernel_dim); :math:`M_i = f_i T` viewed as (kernels, kernel_dim),
    :math:`o(x_i)_b = \sum_{j\ne i} \exp(-\lVert M_{i,b} - M_{j,b}\rVert_1)`, shape (N, kernels)."""
    name = "check_minibatch_discrimination"
    cases = 0
    for seed, (n, a, kernels, kernel_dim) in enumerate([(6, 10, 4, 3), (9, 5, 7, 2), (4, 8, 3, 5)]):
        g = torch.Generator().manual_seed(800 + seed)
        layer = MinibatchDiscrimination(a, kernels, kernel_dim).double()
        with torch.no_grad():
            layer.T.copy_(torch.randn(layer.T.shape, generator=g, dtype=torch.float64) * 0.2)
        f = torch.randn(n, a, generator=g, dtype=torch.float64)
        out = _call(name, fn, f, layer.T.detach().clone(), kernels, kernel_dim)
        out = _as_tensor(out, f)
        ref = layer(f)[:, a:].detach()                            # (N, kernels): the side features o
        case = f"N={n}, A={a}, kernels={kernels}, kernel_dim={kernel_dim}"
        if tuple(out.shape) != tuple(ref.shape):
            extra = " (return only o, not [f, o])" if tuple(out.shape) == (n, a + kernels) else ""
            raise AssertionError(f"{name}: expected o of shape {tuple(ref.shape)} = (N, kernels), got "
                                 f"{tuple(out.shape)}{extra} on {case}")
        if torch.allclose(out, ref, rtol=RTOL, atol=ATOL):
            cases += 1
            continue
        m = (f @ layer.T.detach()).view(n, kernels, kernel_dim)
        diff = m.unsqueeze(0) - m.unsqueeze(1)                   # (N, N, kernels, kernel_dim)
        l1 = diff.abs().sum(dim=3)
        variants = {
            "x_i is compared with itself too: leave out j = i (it adds exp(0) = 1 to every o)": ref + 1,
            "the L2 distance is used; the paper uses the L1 norm of M_i,b - M_j,b":
                torch.exp(-diff.pow(2).sum(dim=3).sqrt()).sum(dim=1) - 1,
            "the exp(-.) is missing: c_b = exp(-||M_i,b - M_j,b||_1)": l1.sum(dim=1),
            "the sign in exp(-.) is missing": torch.exp(l1).sum(dim=1) - 1,
            "the L1 distance runs over the kernels instead of the kernel dimension: M is (N, kernels, kernel_dim)":
                torch.exp(-diff.abs().sum(dim=2)).sum(dim=1)[:, :kernels] - 1 if kernel_dim >= kernels else None,
            "the similarities are averaged over the batch; sum them over j":
                (torch.exp(-l1).sum(dim=1) - 1) / (n - 1),
        }
        for message, value in variants.items():
            if value is not None and value.shape == out.shape and torch.allclose(out, value, rtol=RTOL, atol=ATOL):
                raise AssertionError(f"{name}: {message} (on {case})")
        worst = (out - ref).abs().max().item()
        raise AssertionError(f"{name}: wrong values on {case}: largest difference {worst:.4g} "
                             f"(o[0] = {out[0, :3].tolist()} vs {ref[0, :3].tolist()})")
    _passed(name, cases)


__all__: Sequence[str] = [
    "check_d_loss_minimax", "check_g_loss_nonsaturating", "check_g_loss_saturating",
    "check_optimal_discriminator", "check_js_divergence", "check_d_accuracy",
    "check_gradient_penalty", "check_pixel_gradient_penalty", "check_noise_amplitude",
    "check_kl_normal", "check_feature_matching", "check_minibatch_discrimination",
]
