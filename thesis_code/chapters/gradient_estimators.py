"""Monte Carlo gradient estimators for an expectation under a Gaussian (chapter 2.2 and 2.3).

We want the gradient of F(mu, sigma) = E_{z ~ N(mu, sigma^2)}[f(z)] with respect to mu and
log sigma. Two unbiased estimators exist:

* the score-function (REINFORCE, likelihood-ratio) estimator (Williams 1992),
      grad F = E_q[ f(z) grad log q(z) ],
  which only needs f(z), not its derivative;
* the pathwise (reparameterization) estimator (Kingma & Welling 2013, sec. 2.4),
      z = mu + sigma * eps, eps ~ N(0, 1),   grad F = E_eps[ f'(z) grad z ],
  which differentiates through f.

Both are computed here for a batch of independent draws so that their variances can be measured.
A coordinate-wise f is assumed: z and mu have shape ``(D,)``, f maps ``(S, D) -> (S, D)`` elementwise
(the expectation is then a sum of D independent one-dimensional problems).

The functions for the trained VAE (:func:`vae_elbo_gradients`) compare AEVB estimators A and B
(Kingma & Welling 2013, eq. 6 and 7) by the spread of their encoder gradients.
"""
from __future__ import annotations

from typing import Callable

import torch

from .. import objectives as obj

Function = Callable[[torch.Tensor], torch.Tensor]
ESTIMATORS = ("pathwise", "score")


def _check_params(mu: torch.Tensor, log_sigma: torch.Tensor) -> None:
    if mu.dim() != 1 or log_sigma.shape != mu.shape:
        raise ValueError(f"expected mu and log_sigma of shape (D,), got {tuple(mu.shape)} and "
                         f"{tuple(log_sigma.shape)}")


def _noise(n: int, d: int, generator: torch.Generator | None, dtype) -> torch.Tensor:
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")
    return torch.randn(n, d, generator=generator, dtype=dtype)


def score_function_gradients(f: Function, mu: torch.Tensor, log_sigma: torch.Tensor, n: int,
                             generator: torch.Generator | None = None, baseline: float = 0.0
                             ) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` single-sample score-function estimates of (dF/dmu, dF/dlog sigma), each ``(n, D)``.

    For q = N(mu, sigma^2):  d log q / d mu = (z - mu) / sigma^2 and
    d log q / d log sigma = (z - mu)^2 / sigma^2 - 1. Subtracting a constant ``baseline`` from f keeps
    the estimator unbiased, because E_q[grad log q] = 0, and can reduce its variance.
    """
    _check_params(mu, log_sigma)
    eps = _noise(n, mu.shape[0], generator, mu.dtype)
    sigma = log_sigma.exp()
    z = mu + sigma * eps
    weight = f(z) - baseline
    return weight * eps / sigma, weight * (eps.pow(2) - 1.0)


def pathwise_gradients(f: Function, mu: torch.Tensor, log_sigma: torch.Tensor, n: int,
                       generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` single-sample pathwise estimates of (dF/dmu, dF/dlog sigma), each ``(n, D)``.

    With z = mu + sigma * eps: dz/dmu = 1 and dz/dlog sigma = sigma * eps, so the estimates are
    f'(z) and f'(z) * sigma * eps; f'(z) is obtained by automatic differentiation.
    """
    _check_params(mu, log_sigma)
    eps = _noise(n, mu.shape[0], generator, mu.dtype)
    mu_ = mu.detach().expand(n, -1).clone().requires_grad_(True)
    ls_ = log_sigma.detach().expand(n, -1).clone().requires_grad_(True)
    with torch.enable_grad():
        z = mu_ + ls_.exp() * eps                   # the reparameterization, eq. (eq-reparam)
        g_mu, g_ls = torch.autograd.grad(f(z).sum(), (mu_, ls_))
    return g_mu, g_ls


def gradients(estimator: str, f: Function, mu: torch.Tensor, log_sigma: torch.Tensor, n: int,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Dispatch to :func:`pathwise_gradients` or :func:`score_function_gradients` by name."""
    if estimator == "pathwise":
        return pathwise_gradients(f, mu, log_sigma, n, generator)
    if estimator == "score":
        return score_function_gradients(f, mu, log_sigma, n, generator)
    raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")


def estimator_variance(estimator: str, f: Function, mu: torch.Tensor, log_sigma: torch.Tensor,
                       n_samples: int, repeats: int = 2000, generator: torch.Generator | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Empirical variance of the ``n_samples``-sample average estimator, over ``repeats`` independent
    estimates: returns (var of dF/dmu, var of dF/dlog sigma), each ``(D,)``.

    The variance is measured, not derived from the single-sample one, so the plot shows what an
    optimizer would see with a budget of ``n_samples`` draws per step.
    """
    g_mu, g_ls = gradients(estimator, f, mu, log_sigma, n_samples * repeats, generator)
    g_mu = g_mu.reshape(repeats, n_samples, -1).mean(dim=1)
    g_ls = g_ls.reshape(repeats, n_samples, -1).mean(dim=1)
    return g_mu.var(dim=0), g_ls.var(dim=0)


# ---------------------------------------------------------------------------- a case with a known answer

def quadratic(a: float = 0.0) -> Function:
    """f(z) = (z - a)^2, whose expectation under N(mu, sigma^2) is (mu - a)^2 + sigma^2."""
    return lambda z: (z - a).pow(2)


def quadratic_exact_gradient(mu: torch.Tensor, log_sigma: torch.Tensor, a: float = 0.0
                             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact (dF/dmu, dF/dlog sigma) = (2 (mu - a), 2 sigma^2) for :func:`quadratic`."""
    return 2.0 * (mu - a), 2.0 * (2.0 * log_sigma).exp()


# ---------------------------------------------------------------------------- estimators A and B on a VAE

def vae_elbo_gradients(model, x: torch.Tensor, estimator: str, repeats: int = 50,
                       parameters: list[torch.Tensor] | None = None) -> torch.Tensor:
    """``repeats`` independent gradients of the mean ELBO over the batch ``x``, flattened to
    ``(repeats, P)``, for AEVB estimator ``"A"`` (Monte Carlo KL, eq. 6) or ``"B"`` (closed-form KL,
    eq. 7), with one sample z per example (L = 1).

    ``parameters`` defaults to the encoder's, the only ones whose gradient differs between A and B
    (the decoder sees the same reconstruction term in both). ``model`` follows the VAE protocol
    (``encode``, ``reparameterize``, ``log_px_given_z``, ``log_prior``).
    """
    if estimator not in ("A", "B"):
        raise ValueError(f"estimator must be 'A' or 'B', got {estimator!r}")
    params = list(parameters if parameters is not None else model.encoder.parameters())
    rows = []
    with torch.enable_grad():
        for _ in range(repeats):
            mu, logvar = model.encode(x)
            z = model.reparameterize(mu, logvar)
            log_px = model.log_px_given_z(x, z)
            if estimator == "A":
                elbo = obj.elbo_estimator_a(log_px, model.log_prior(z),
                                            obj.log_normal(z, mu, logvar, event_dims=1))
            else:
                elbo = obj.elbo_estimator_b(log_px, mu, logvar)
            grads = torch.autograd.grad(elbo.mean(), params)
            rows.append(torch.cat([g.reshape(-1) for g in grads]))
    return torch.stack(rows)


def total_variance(samples: torch.Tensor) -> float:
    """Trace of the covariance of the rows of ``samples`` ``(R, P)``: the summed per-coordinate variance,
    i.e. E||g - E g||^2, the quantity that slows stochastic gradient ascent."""
    if samples.dim() != 2 or samples.shape[0] < 2:
        raise ValueError(f"expected samples of shape (R >= 2, P), got {tuple(samples.shape)}")
    return float(samples.var(dim=0).sum())
