# %% markdown
# # Assignment 5: the gradient penalty of WGAN-GP
#
# For the WGAN-GP model (`gan_lab.models.wgan_gp`; Gulrajani et al., 2017, Algorithm 1). The
# critic of a Wasserstein GAN must be 1-Lipschitz; WGAN-GP asks for it softly, by penalising input
# gradients whose norm differs from 1 at points between real and generated samples.
#
# Run every cell from the top; replace each `raise NotImplementedError()` with your code.

# %% id=setup
import torch

from gan_lab import exercises

# %% markdown
# ## 1. The penalty
#
# $$\hat x = \epsilon x + (1 - \epsilon)\tilde x,\quad \epsilon \sim U[0, 1] \text{ (one per sample)},\qquad
# GP = \mathbb{E}_{\hat x}\big[(\lVert \nabla_{\hat x} f(\hat x) \rVert_2 - 1)^2\big]$$
#
# * one $\epsilon$ per **sample**, shape `(B, 1, 1, 1)`, broadcast over channels and pixels
#   (one per pixel is a known bug of public implementations);
# * the norm runs over everything of a sample (`grad.flatten(1)`);
# * a critic may return a map of scores: differentiate the **sum** of the scores;
# * the critic is trained *through* the penalty: `create_graph=True`.
#
# Return the batch mean without the weight $\lambda = 10$.

# %% solution id=gp
def gradient_penalty(critic, x_real, x_fake):
    """WGAN-GP's two-sided penalty at random interpolates, averaged over the batch."""
    ### BEGIN SOLUTION
    x_real, x_fake = x_real.detach(), x_fake.detach()
    eps = torch.rand(x_real.shape[0], *([1] * (x_real.dim() - 1)), device=x_real.device, dtype=x_real.dtype)
    x_hat = (eps * x_real + (1 - eps) * x_fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()
    ### END SOLUTION

# %% tests id=test_gp points=5
exercises.check_gradient_penalty(gradient_penalty)

# %% markdown
# ## 2. One critic step
#
# Use your penalty in one step of a critic: `critic_step(critic, optimizer, x_real, x_fake, lam=10.0)`
# computes $L_C = \mathbb{E}[f(\tilde x)] - \mathbb{E}[f(x)] + \lambda\,GP$, takes one optimizer step and returns
# $L_C$ as a float.

# %% solution id=step
def critic_step(critic, optimizer, x_real, x_fake, lam=10.0):
    ### BEGIN SOLUTION
    optimizer.zero_grad()
    loss = critic(x_fake.detach()).mean() - critic(x_real).mean() + lam * gradient_penalty(critic, x_real, x_fake)
    loss.backward()
    optimizer.step()
    return loss.item()
    ### END SOLUTION

# %% tests id=test_step points=2
torch.manual_seed(0)
critic = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
optimizer = torch.optim.Adam(critic.parameters(), lr=1e-2, betas=(0.0, 0.9))
before = [p.detach().clone() for p in critic.parameters()]
x_real, x_fake = torch.randn(32, 1, 4, 4) + 1.0, torch.randn(32, 1, 4, 4)
value = critic_step(critic, optimizer, x_real, x_fake)
assert isinstance(value, float)
assert any(not torch.equal(a, p) for a, p in zip(before, critic.parameters())), "the step did not change the critic"
### BEGIN HIDDEN TESTS
# the penalty alone must move the weights: a critic step with lam large and identical batches
critic.zero_grad()
x = torch.randn(16, 1, 4, 4)
lw = [p.detach().clone() for p in critic.parameters()]
critic_step(critic, torch.optim.SGD(critic.parameters(), lr=1e-2), x, x.clone(), lam=100.0)
assert any(not torch.equal(a, p) for a, p in zip(lw, critic.parameters())), "the penalty does not reach the weights"
for _ in range(200):
    critic_step(critic, optimizer, x_real, x_fake)
with torch.enable_grad():
    xh = x_real.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(critic(xh).sum(), xh)
assert g.flatten(1).norm(dim=1).mean() < 3.0, "after training the critic's gradient norms stay near 1"
### END HIDDEN TESTS
