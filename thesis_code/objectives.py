"""Closed forms, bounds and penalties used by every model of the thesis.

Conventions
-----------
* A batch dimension comes first; "per example" functions return a tensor of shape ``(B,)``.
* Gaussians are parameterized by mean and *log*-variance (``logvar``), as the encoders output them.
* Log-densities are summed over the event dimensions. ``event_dims=None`` means "every dimension after
  the first"; pass ``event_dims=k`` to sum over the last ``k`` dimensions only, e.g. for tensors with
  leading sample dimensions ``(K, B, D)``.

References: Kingma & Welling 2013 (AEVB, estimators A and B, eq. 6-7, closed-form KL in appendix B);
Burda, Grosse & Salakhutdinov 2015 (IWAE bound); Ng 2011 (sparse autoencoder, Bernoulli KL penalty);
Rifai et al. 2011 (contractive autoencoder, eq. for the sigmoid Jacobian).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2.0 * math.pi)


def _sum_event(t: torch.Tensor, event_dims: int | None) -> torch.Tensor:
    """Sum over the event dimensions (all but the first by default)."""
    if event_dims is None:
        return t.reshape(t.shape[0], -1).sum(dim=1) if t.dim() > 1 else t
    if event_dims == 0:
        return t
    return t.sum(dim=tuple(range(-event_dims, 0)))


# ----------------------------------------------------------------------------- KL divergences

def kl_normal_per_dim(mu_q: torch.Tensor, logvar_q: torch.Tensor,
                      mu_p: torch.Tensor | float = 0.0, logvar_p: torch.Tensor | float = 0.0
                      ) -> torch.Tensor:
    """KL(N(mu_q, exp(logvar_q)) || N(mu_p, exp(logvar_p))) for each coordinate, shape of ``mu_q``.

    For one dimension,
        KL = 1/2 [ logvar_p - logvar_q + (var_q + (mu_q - mu_p)^2) / var_p - 1 ].
    With the standard normal prior (mu_p = 0, logvar_p = 0) this is Kingma & Welling's appendix B,
    -1/2 (1 + logvar - mu^2 - var).
    """
    mu_p = torch.as_tensor(mu_p, dtype=mu_q.dtype, device=mu_q.device)
    logvar_p = torch.as_tensor(logvar_p, dtype=mu_q.dtype, device=mu_q.device)
    return 0.5 * (logvar_p - logvar_q
                  + (logvar_q.exp() + (mu_q - mu_p).pow(2)) * torch.exp(-logvar_p) - 1.0)


def kl_normal(mu_q: torch.Tensor, logvar_q: torch.Tensor,
              mu_p: torch.Tensor | float = 0.0, logvar_p: torch.Tensor | float = 0.0) -> torch.Tensor:
    """KL between diagonal Gaussians, summed over the last dimension: ``(B, D) -> (B,)``."""
    return kl_normal_per_dim(mu_q, logvar_q, mu_p, logvar_p).sum(dim=-1)


def kl_normal_full(m0: torch.Tensor, S0: torch.Tensor, m1: torch.Tensor, S1: torch.Tensor) -> torch.Tensor:
    """KL(N(m0, S0) || N(m1, S1)) = 1/2 [tr(S1^-1 S0) + (m1-m0)^T S1^-1 (m1-m0) - k + log det S1/det S0]
    for one pair of mean vectors ``(k,)`` and covariance matrices ``(k, k)``; a scalar tensor.

    The full-covariance form of :func:`kl_normal` (needed for exact posteriors, which are not diagonal)."""
    k = m0.shape[0]
    if m0.shape != (k,) or m1.shape != (k,) or S0.shape != (k, k) or S1.shape != (k, k):
        raise ValueError(f"expected means of shape (k,) and covariances of shape (k, k), got "
                         f"{tuple(m0.shape)}, {tuple(S0.shape)}, {tuple(m1.shape)}, {tuple(S1.shape)}")
    S1_inv = torch.linalg.inv(S1)
    dm = m1 - m0
    return 0.5 * (torch.trace(S1_inv @ S0) + dm @ S1_inv @ dm - k
                  + torch.linalg.slogdet(S1).logabsdet - torch.linalg.slogdet(S0).logabsdet)


def kl_bernoulli(p: torch.Tensor | float, q: torch.Tensor | float, eps: float = 1e-7) -> torch.Tensor:
    """KL(Bernoulli(p) || Bernoulli(q)) elementwise: p log(p/q) + (1-p) log((1-p)/(1-q)).

    ``q`` is clamped to [eps, 1-eps] (it is usually a mean activation that can touch 0 or 1);
    0 log 0 = 0 is handled by ``xlogy``, so p may be exactly 0 or 1.
    """
    p = torch.as_tensor(p)
    q = torch.as_tensor(q, dtype=p.dtype if p.is_floating_point() else None, device=p.device)
    q = q.clamp(eps, 1.0 - eps)
    return (torch.xlogy(p, p) - torch.xlogy(p, q)
            + torch.xlogy(1 - p, 1 - p) - torch.xlogy(1 - p, 1 - q))


# ----------------------------------------------------------------------------- log-densities

def log_normal(x: torch.Tensor, mu: torch.Tensor | float = 0.0, logvar: torch.Tensor | float = 0.0,
               event_dims: int | None = None) -> torch.Tensor:
    """log N(x; mu, diag(exp(logvar))), summed over the event dimensions (see module docstring)."""
    mu = torch.as_tensor(mu, dtype=x.dtype, device=x.device)
    logvar = torch.as_tensor(logvar, dtype=x.dtype, device=x.device)
    logvar = logvar.expand_as(x) if logvar.dim() == 0 else logvar
    elementwise = -0.5 * (LOG_2PI + logvar + (x - mu).pow(2) * torch.exp(-logvar))
    return _sum_event(elementwise, event_dims)


def log_bernoulli_logits(x: torch.Tensor, logits: torch.Tensor, event_dims: int | None = None
                         ) -> torch.Tensor:
    """log Bernoulli(x; sigmoid(logits)) = x log p + (1-x) log(1-p), summed over the event dimensions.

    Computed from logits (numerically stable, no log(0)); ``x`` may be binary or in [0, 1]
    (then it is the negative binary cross-entropy).
    """
    x = x.expand_as(logits) if x.shape != logits.shape else x
    elementwise = -F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    return _sum_event(elementwise, event_dims)


# ----------------------------------------------------------------------------- ELBO and IWAE

def elbo_estimator_a(log_px_given_z: torch.Tensor, log_pz: torch.Tensor, log_qz_given_x: torch.Tensor
                     ) -> torch.Tensor:
    """AEVB estimator A (Kingma & Welling 2013, eq. 6): the generic Monte Carlo ELBO

        L^A = 1/L sum_l [ log p(x, z_l) - log q(z_l | x) ],   z_l ~ q(z | x).

    All three arguments are evaluated at the same samples, each of shape ``(L, B)`` (or ``(B,)`` for
    L = 1). Returns ``(B,)``. The KL term is estimated by sampling, so it needs no closed form.
    """
    terms = log_px_given_z + log_pz - log_qz_given_x
    return terms.mean(dim=0) if terms.dim() > 1 else terms


def elbo_estimator_b(log_px_given_z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor
                     ) -> torch.Tensor:
    """AEVB estimator B (Kingma & Welling 2013, eq. 7): analytic KL to the N(0, I) prior plus a Monte
    Carlo reconstruction term,

        L^B = -KL(q(z|x) || p(z)) + 1/L sum_l log p(x | z_l).

    ``log_px_given_z`` is ``(L, B)`` or ``(B,)``; ``mu``, ``logvar`` are the encoder outputs ``(B, D)``.
    Returns ``(B,)``. It usually has lower variance than estimator A because the KL is exact.
    """
    rec = log_px_given_z.mean(dim=0) if log_px_given_z.dim() > 1 else log_px_given_z
    return rec - kl_normal(mu, logvar)


def iwae_bound(log_weights: torch.Tensor) -> torch.Tensor:
    """Importance-weighted bound (Burda et al. 2015, eq. 8) from log w_k = log p(x, z_k) - log q(z_k|x):

        L_K = log (1/K sum_k w_k) = logsumexp_k(log w_k) - log K,

    ``log_weights`` of shape ``(K, B)`` -> ``(B,)``. L_1 is the ELBO; L_K increases with K towards log p(x).
    """
    if log_weights.dim() != 2:
        raise ValueError(f"expected log_weights of shape (K, B), got {tuple(log_weights.shape)}")
    k = log_weights.shape[0]
    return torch.logsumexp(log_weights, dim=0) - math.log(k)


# ----------------------------------------------------------------------------- regularizers

def sparse_l1_penalty(h: torch.Tensor) -> torch.Tensor:
    """L1 sparsity penalty: sum_j |h_j| per example, averaged over the batch (a scalar).

    Minimizing it is MAP estimation under a factorized Laplace prior on the code.
    """
    return h.abs().reshape(h.shape[0], -1).sum(dim=1).mean()


def sparse_kl_penalty(h: torch.Tensor, rho: float) -> torch.Tensor:
    """Bernoulli-KL sparsity penalty (Ng 2011): sum_j KL(rho || rho_hat_j), a scalar.

    ``h`` of shape ``(B, units)`` holds activations in (0, 1) (e.g. sigmoid units); ``rho_hat_j`` is the
    mean activation of unit j over the batch and ``rho`` the small target activation.
    """
    if not 0.0 < rho < 1.0:
        raise ValueError(f"rho must lie in (0, 1), got {rho}")
    rho_hat = h.reshape(h.shape[0], -1).mean(dim=0)
    return kl_bernoulli(torch.full_like(rho_hat, rho), rho_hat).sum()


def contractive_penalty_sigmoid(h: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """Squared Frobenius norm of the Jacobian of h = sigmoid(W x + b), per example (Rifai et al. 2011):

        ||J_h(x)||_F^2 = sum_j (h_j (1 - h_j))^2 sum_i W_ji^2,

    because dh_j/dx_i = h_j (1 - h_j) W_ji. ``h``: ``(B, H)``; ``W``: ``(H, D)`` as in ``nn.Linear.weight``.
    """
    if h.dim() != 2 or W.dim() != 2 or W.shape[0] != h.shape[1]:
        raise ValueError(f"expected h of shape (B, H) and W of shape (H, D), "
                         f"got {tuple(h.shape)} and {tuple(W.shape)}")
    return (h * (1 - h)).pow(2) @ W.pow(2).sum(dim=1)


def contractive_penalty_autograd(encoder: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                                 create_graph: bool = True) -> torch.Tensor:
    """Exact ||d encoder(x) / dx||_F^2 per example, by automatic differentiation, for any encoder.

    One backward pass per code unit: row j of every example's Jacobian is the gradient of
    sum_b h_bj with respect to x (examples do not interact, so the sum separates them; this assumes the
    encoder treats examples independently, e.g. no batch norm in training mode).
    With ``create_graph=True`` the result can be differentiated again, so it can be trained through.
    Returns ``(B,)``.
    """
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        h = encoder(x)
        h = h.reshape(h.shape[0], -1)
        total = x.new_zeros(x.shape[0])
        for j in range(h.shape[1]):
            (g,) = torch.autograd.grad(h[:, j].sum(), x, create_graph=create_graph, retain_graph=True)
            total = total + g.reshape(g.shape[0], -1).pow(2).sum(dim=1)
    return total
