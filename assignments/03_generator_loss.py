# %% markdown
# # Assignment 3: saturating and non-saturating generator losses
#
# Goes with the chapter *Saturating and non-saturating generator losses*. You code the saturating
# loss, derive the gradient of both losses with respect to the discriminator's logit, and measure
# how far apart they are when the discriminator rejects the fakes confidently.
#
# Run every cell from the top; replace each `raise NotImplementedError()` with your code.

# %% id=setup
import torch
import torch.nn.functional as F

from gan_lab import exercises, losses

# %% markdown
# ## 1. The saturating loss
#
# The generator's side of the minimax game is the loss it *minimises*,
# $L_G^{sat} = \mathbb{E}_z[\log(1 - D(G(z)))]$, with $D = \sigma(s)$ on logits $s$. Keep it finite for
# logits of size 100.

# %% solution id=g_sat
def g_loss_saturating(d_fake):
    """E[log(1 - D(G(z)))] from logits: a scalar tensor."""
    ### BEGIN SOLUTION
    return -F.softplus(d_fake).mean()
    ### END SOLUTION

# %% tests id=test_g_sat points=2
exercises.check_g_loss_saturating(g_loss_saturating)

# %% markdown
# ## 2. The gradients on the logit
#
# Differentiate by hand, for one sample, $\log(1 - \sigma(s))$ and $-\log\sigma(s)$ with respect to $s$.
# Code the two derivatives as functions of a tensor of logits (elementwise, no autograd).

# %% solution id=grads
def grad_saturating(s):
    """d/ds log(1 - sigmoid(s))."""
    ### BEGIN SOLUTION
    return -torch.sigmoid(s)
    ### END SOLUTION


def grad_nonsaturating(s):
    """d/ds -log sigmoid(s)."""
    ### BEGIN SOLUTION
    return torch.sigmoid(s) - 1
    ### END SOLUTION

# %% tests id=test_grads points=3
s = torch.linspace(-8, 8, 33, dtype=torch.float64)
assert grad_saturating(s).shape == s.shape and grad_nonsaturating(s).shape == s.shape, "one derivative per logit"
### BEGIN HIDDEN TESTS
for loss, mine in ((losses.g_loss_saturating, grad_saturating), (losses.g_loss_nonsaturating, grad_nonsaturating)):
    x = s.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(loss(x) * x.numel(), x)       # the loss is a mean: undo the 1/N
    assert torch.allclose(mine(s), auto, atol=1e-12), loss.__name__
### END HIDDEN TESTS

# %% markdown
# ## 3. When the discriminator wins
#
# Early in training $D(G(z))$ is small. Compute `ratio`, the size of the non-saturating gradient divided
# by the size of the saturating one, at $D(G(z)) = 0.01$, using your functions (convert the
# probability to a logit with `torch.logit`). Then write `ratio_formula`, the same ratio as a formula in
# $D = D(G(z))$ (evaluate it at 0.01).

# %% solution id=ratio
### BEGIN SOLUTION
logit = torch.logit(torch.tensor(0.01, dtype=torch.float64))
ratio = float(grad_nonsaturating(logit).abs() / grad_saturating(logit).abs())
ratio_formula = (1 - 0.01) / 0.01
### END SOLUTION

# %% tests id=test_ratio points=2
assert abs(ratio - ratio_formula) < 1e-6 * ratio_formula, "your measured and your formula's ratio disagree"
### BEGIN HIDDEN TESTS
assert abs(ratio - 99.0) < 1e-6
### END HIDDEN TESTS
