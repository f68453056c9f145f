# %% markdown
# # Assignment 1: the two losses of the game
#
# Goes with the chapter *The game*. You write the discriminator's loss and the non-saturating
# generator loss of Goodfellow et al. (2014) on **logits** $s$, the discriminator's scores before the
# sigmoid, $D(x) = \sigma(s(x))$, and check them with `gan_lab.exercises`.
#
# Run every cell from the top. Replace each `raise NotImplementedError()` with your code; do not
# rename the functions. A test cell that prints `... passed` is a good sign; the grader also runs
# hidden tests.

# %% id=setup
import math

import torch
import torch.nn.functional as F

from gan_lab import exercises

# %% markdown
# ## 1. The discriminator's loss
#
# $$L_D = -\mathbb{E}_{x\sim p_{data}}[\log D(x)] - \mathbb{E}_{z}[\log(1 - D(G(z)))]$$
#
# Both expectations are batch means. `d_real` and `d_fake` are logits of any shape, and the two
# batches need not have the same size. Computing `torch.log(torch.sigmoid(s))` gives `-inf` for
# $s = -100$; find a form that stays finite (hint: $\log\sigma(s) = -\mathrm{softplus}(-s)$).

# %% solution id=d_loss
def d_loss_minimax(d_real, d_fake):
    """-E[log D(x)] - E[log(1 - D(G(z)))] from logits: a scalar tensor."""
    ### BEGIN SOLUTION
    loss_real = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
    loss_fake = F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
    return loss_real + loss_fake
    ### END SOLUTION

# %% tests id=test_d_loss points=3
exercises.check_d_loss_minimax(d_loss_minimax)
### BEGIN HIDDEN TESTS
# a confident, correct discriminator has a loss close to 0
assert float(d_loss_minimax(torch.full((5,), 30.0), torch.full((7,), -30.0))) < 1e-9
### END HIDDEN TESTS

# %% markdown
# ## 2. The non-saturating generator loss
#
# $$L_G^{ns} = -\mathbb{E}_{z}[\log D(G(z))]$$
#
# the loss the generator minimises in practice (Goodfellow et al., 2014, section 3).

# %% solution id=g_loss
def g_loss_nonsaturating(d_fake):
    """-E[log D(G(z))] from logits: a scalar tensor."""
    ### BEGIN SOLUTION
    return F.softplus(-d_fake).mean()
    ### END SOLUTION

# %% tests id=test_g_loss points=2
exercises.check_g_loss_nonsaturating(g_loss_nonsaturating)

# %% markdown
# ## 3. The losses at the equilibrium
#
# At the end of the game $p_g = p_{data}$ and the best discriminator outputs $D(x) = 1/2$ everywhere
# (logit 0). Work out $L_D$ and $L_G^{ns}$ there by hand and write the two numbers as Python
# expressions (e.g. with `math.log`), not by calling your functions.

# %% solution id=equilibrium
### BEGIN SOLUTION
equilibrium_d_loss = math.log(4)
equilibrium_g_loss = math.log(2)
### END SOLUTION

# %% tests id=test_equilibrium points=2
zeros = torch.zeros(16)
assert abs(float(d_loss_minimax(zeros, zeros)) - equilibrium_d_loss) < 1e-6, "your L_D at logit 0 and your number disagree"
### BEGIN HIDDEN TESTS
assert abs(equilibrium_d_loss - math.log(4)) < 1e-9
assert abs(equilibrium_g_loss - math.log(2)) < 1e-9
### END HIDDEN TESTS
