# %% markdown
# # Assignment 8: SinGAN's noise amplitude and per-pixel gradient penalty
#
# Goes with the chapter *SinGAN: a generative model from a single image*. Two pieces of one scale of
# SinGAN (Shaham, Dekel & Michaeli, 2019): the amplitude $\sigma_n$ of the noise the scale adds, and the
# gradient penalty with one norm per pixel. Then you use the penalty on a linear critic, where it can
# be worked out by hand.
#
# Run every cell from the top; replace each `raise NotImplementedError()` with your code.

# %% id=setup
import math

import torch
import torch.nn.functional as F

from gan_lab import exercises

# %% markdown
# ## 1. The noise amplitude of a scale
#
# Scale $n$ adds noise $\sigma_n z_n$. The amplitude is set once, when the scale starts training, from
# how far the upsampled reconstruction of the scales below, $\tilde x^{rec}_{n-1}{\uparrow}$, still is
# from the real image $x_n$:
#
# $$\sigma_n = 0.1 \cdot \mathrm{RMSE}(\tilde x^{rec}_{n-1}{\uparrow}, x_n)$$
#
# (the root of the mean squared error over all pixels and channels). `factor` is the 0.1.
# Return a Python float.

# %% solution id=noise_amp
def noise_amplitude(x_rec_up, x_real, factor=0.1):
    """sigma_n = factor * RMSE(x_rec_up, x_real)."""
    ### BEGIN SOLUTION
    return factor * math.sqrt(F.mse_loss(x_rec_up, x_real).item())
    ### END SOLUTION

# %% tests id=test_noise_amp points=2
exercises.check_noise_amplitude(noise_amplitude)

# %% markdown
# ## 2. The per-pixel gradient penalty
#
# Assignment 5 wrote WGAN-GP's penalty, one gradient norm per *sample*. SinGAN's critic judges
# patches, and its gradient penalty mixes real and generated images with **one**
# weight $\epsilon \sim U[0, 1]$ per image, $\hat x = \epsilon x + (1 - \epsilon)\tilde x$, takes the gradient of
# the *sum* of the critic's score map with respect to $\hat x$, and penalises, at **every pixel**, the
# norm of that gradient over the colour channels:
#
# $$GP = \frac{1}{BHW}\sum_{b,i,j}\big(\lVert\nabla_{\hat x_{b,:,i,j}} \textstyle\sum D(\hat x)\rVert_2 - 1\big)^2$$
#
# The penalty is part of the critic's loss, so it must be differentiable with respect to the critic's
# weights: `torch.autograd.grad(..., create_graph=True)`.

# %% solution id=pixel_gp
def pixel_gradient_penalty(critic, x_real, x_fake):
    """SinGAN's gradient penalty: one norm per pixel, averaged over batch and pixels."""
    ### BEGIN SOLUTION
    eps = torch.rand(x_real.shape[0], 1, 1, 1, device=x_real.device, dtype=x_real.dtype)
    x_hat = (eps * x_real + (1 - eps) * x_fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)     # (B, C, H, W)
    norms = grad.pow(2).sum(dim=1).sqrt()                                              # (B, H, W)
    return (norms - 1).pow(2).mean()
    ### END SOLUTION

# %% tests id=test_pixel_gp points=4
exercises.check_pixel_gradient_penalty(pixel_gradient_penalty)

# %% markdown
# ## 3. A linear critic
#
# For the 1x1 convolution `conv = torch.nn.Conv2d(3, 1, 1, bias=False)` with weight vector $w$, the
# gradient of $\sum D$ at every pixel is $w$. Write `expected_penalty(w_norm)`, the per-pixel penalty as
# a formula in $\lVert w \rVert$, and `best_norm`, the $\lVert w \rVert$ that minimises it. Does the image
# size enter?

# %% solution id=linear
def expected_penalty(w_norm):
    ### BEGIN SOLUTION
    return (w_norm - 1) ** 2
    ### END SOLUTION


### BEGIN SOLUTION
best_norm = 1.0
### END SOLUTION

# %% tests id=test_linear points=2
torch.manual_seed(0)
conv = torch.nn.Conv2d(3, 1, 1, bias=False)
w_norm = conv.weight.detach().norm().item()
for size in ((8, 8), (20, 30)):
    x_real, x_fake = torch.randn(2, 3, *size), torch.randn(2, 3, *size)
    assert abs(pixel_gradient_penalty(conv, x_real, x_fake).item() - expected_penalty(w_norm)) < 1e-4, size
### BEGIN HIDDEN TESTS
assert abs(best_norm - 1.0) < 1e-9
assert abs(expected_penalty(3.0) - 4.0) < 1e-9
### END HIDDEN TESTS
