"""The minimax losses against values worked out by hand.

Logits used throughout: d_real = [0, 2], d_fake = [0, -1]; sigma(0) = 1/2, so
-log sigma(0) = log 2 = 0.693147, -log sigma(2) = log(1 + e^-2) = 0.126928,
-log(1 - sigma(-1)) = log(1 + e^-1) = 0.313262, -log sigma(-1) = log(1 + e) = 1.313262.
"""
import math

import pytest
import torch

from gan_lab import losses

D_REAL = torch.tensor([0.0, 2.0])
D_FAKE = torch.tensor([0.0, -1.0])


def test_d_loss_minimax_hand_value():
    loss = losses.d_loss_minimax(D_REAL, D_FAKE)
    # real part: (log 2 + log(1 + e^-2)) / 2; fake part: (log 2 + log(1 + e^-1)) / 2
    assert loss.real.item() == pytest.approx((0.693147181 + 0.126928011) / 2, abs=1e-6)
    assert loss.fake.item() == pytest.approx((0.693147181 + 0.313261688) / 2, abs=1e-6)
    assert loss.total.item() == pytest.approx(0.9132420298, abs=1e-6)


def test_d_loss_minimax_unpacks_into_total_real_fake():
    total, real, fake = losses.d_loss_minimax(D_REAL, D_FAKE)
    assert total.dim() == real.dim() == fake.dim() == 0
    assert losses.d_loss_minimax(D_REAL, D_FAKE)._fields == ("total", "real", "fake")


def test_d_loss_minimax_at_the_equilibrium_is_log4():
    # D(x) = 1/2 everywhere (logit 0): -log(1/2) - log(1/2) = log 4, each part log 2
    zeros = torch.zeros(5)
    total, real, fake = losses.d_loss_minimax(zeros, zeros)
    assert total.item() == pytest.approx(math.log(4), abs=1e-6)
    assert real.item() == pytest.approx(math.log(2), abs=1e-6) and fake.item() == pytest.approx(math.log(2), abs=1e-6)


def test_d_loss_one_sided_label_smoothing():
    # real target 0.9: -(0.9 log s + 0.1 log(1 - s)), averaged over the two real logits; fake term unchanged
    loss = losses.d_loss_minimax(D_REAL, D_FAKE, real_label=0.9)
    assert loss.real.item() == pytest.approx(0.5100375958, abs=1e-6)
    assert loss.fake.item() == pytest.approx(0.5032044340, abs=1e-6)
    assert loss.total.item() == pytest.approx(0.5100375958 + 0.5032044340, abs=1e-6)


def test_label_smoothing_only_touches_real_term():
    d_fake = torch.tensor([-3.0, 4.0])
    zero_real = torch.full((2,), 50.0)  # sigma -> 1: the unsmoothed real term vanishes
    loss = losses.d_loss_minimax(zero_real, d_fake)
    assert loss.real.item() == pytest.approx(0.0, abs=1e-6)
    assert loss.total.item() == pytest.approx(sum(math.log1p(math.exp(x)) for x in d_fake.tolist()) / 2, abs=1e-6)


def test_generator_losses_hand_values():
    # saturating: mean log(1 - sigma(s)) = -(log 2 + log(1 + e^-1)) / 2
    assert losses.g_loss_saturating(D_FAKE).item() == pytest.approx(-0.5032044340, abs=1e-6)
    # non-saturating: mean -log sigma(s) = (log 2 + log(1 + e)) / 2
    assert losses.g_loss_nonsaturating(D_FAKE).item() == pytest.approx(1.0032044340, abs=1e-6)


def test_generator_gradients_saturate_where_expected():
    # d/ds log(1 - sigma(s)) = -sigma(s): tiny when D rejects the fake (s very negative)
    s = torch.tensor([-8.0], requires_grad=True)
    losses.g_loss_saturating(s).backward()
    assert s.grad.item() == pytest.approx(-1 / (1 + math.exp(8)), rel=1e-5)
    s.grad = None
    # d/ds -log sigma(s) = sigma(s) - 1: close to -1 there
    losses.g_loss_nonsaturating(s).backward()
    assert s.grad.item() == pytest.approx(1 / (1 + math.exp(8)) - 1, rel=1e-5)


def test_losses_stable_for_huge_logits():
    big = torch.tensor([1e4, -1e4])
    for value in (*losses.d_loss_minimax(big, -big), losses.g_loss_saturating(big), losses.g_loss_nonsaturating(big)):
        assert torch.isfinite(value)


def test_d_accuracy():
    assert losses.d_accuracy(D_REAL, D_FAKE).item() == pytest.approx(0.75)  # d_real 0 counts as 'fake'


def test_bad_label():
    with pytest.raises(ValueError):
        losses.d_loss_minimax(D_REAL, D_FAKE, real_label=0.0)
