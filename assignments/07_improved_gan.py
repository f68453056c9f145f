# %% markdown
# # Assignment 7: feature matching and minibatch discrimination
#
# For the Improved-GAN techniques (`gan_lab.models.improved`; Salimans et al., 2016, sections 3.1
# and 3.2). Both fight mode collapse: feature matching changes the generator's objective,
# minibatch discrimination lets the discriminator look at a whole batch at once.
#
# Run every cell from the top; replace each `raise NotImplementedError()` with your code.

# %% id=setup
import torch

from gan_lab import exercises

# %% markdown
# ## 1. Feature matching
#
# With $f$ an intermediate layer of the discriminator, flattened to one vector per sample,
#
# $$L_{FM} = \big\lVert \mathbb{E}_{x} f(x) - \mathbb{E}_{z} f(G(z)) \big\rVert_2^2$$
#
# The expectations are **batch means**, per feature; the squared norm sums over features. Comparing
# the features sample by sample is a different (and common) loss; the real and generated batches
# need not even have the same size.

# %% solution id=fm
def feature_matching(f_real, f_fake):
    """Squared distance between the batch means of two batches of features."""
    ### BEGIN SOLUTION
    return (f_real.flatten(1).mean(dim=0) - f_fake.flatten(1).mean(dim=0)).pow(2).sum()
    ### END SOLUTION

# %% tests id=test_fm points=4
exercises.check_feature_matching(feature_matching)

# %% markdown
# ## 2. Minibatch discrimination
#
# Features $f(x_i) \in \mathbb{R}^A$ are multiplied by a learned $T$ of shape `(A, B * C)` into
# $M_i$, viewed as `(B, C)` (B = `kernels`, C = `kernel_dim`). For each kernel $b$,
#
# $$c_b(x_i, x_j) = \exp(-\lVert M_{i,b} - M_{j,b}\rVert_{L_1}), \qquad o(x_i)_b = \sum_{j \ne i} c_b(x_i, x_j)$$
#
# Return $o$, shape `(N, kernels)` (the layer concatenates it to $f$; you return only $o$).

# %% solution id=mbd
def minibatch_features(f, T, kernels, kernel_dim):
    """o(x_i)_b = sum over j != i of exp(-||M_i,b - M_j,b||_1)."""
    ### BEGIN SOLUTION
    m = (f @ T).view(-1, kernels, kernel_dim)                        # (N, B, C)
    l1 = (m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(dim=3)         # (N, N, B)
    return torch.exp(-l1).sum(dim=1) - 1.0                           # leave out j = i
    ### END SOLUTION

# %% tests id=test_mbd points=4
exercises.check_minibatch_discrimination(minibatch_features)

# %% markdown
# ## 3. What a collapsed batch looks like
#
# Compute `o_collapsed`, the mean of $o$ over a batch of 16 *identical* feature vectors, and
# `o_diverse`, its mean over 16 independent `torch.randn(16, A)` vectors, for the `T` below. Which is
# larger, and what is the largest value $o$ can take for a batch of 16?

# %% solution id=collapse
torch.manual_seed(0)
A, kernels, kernel_dim = 12, 5, 3
T = torch.randn(A, kernels * kernel_dim)
### BEGIN SOLUTION
o_collapsed = float(minibatch_features(torch.randn(1, A).repeat(16, 1), T, kernels, kernel_dim).mean())
o_diverse = float(minibatch_features(torch.randn(16, A), T, kernels, kernel_dim).mean())
largest = 15.0
### END SOLUTION

# %% tests id=test_collapse points=2
assert o_collapsed > o_diverse
### BEGIN HIDDEN TESTS
assert abs(o_collapsed - 15.0) < 1e-5 and abs(largest - 15.0) < 1e-9
### END HIDDEN TESTS
