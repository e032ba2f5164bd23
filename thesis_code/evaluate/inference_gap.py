"""The inference gap of a VAE split into an approximation and an amortization part (Cremer, Li & Duvenaud
2018, "Inference suboptimality in variational autoencoders", sec. 3):

    log p(x) - ELBO(q_phi(z|x)) = [log p(x) - ELBO(q*)]  +  [ELBO(q*) - ELBO(q_phi(z|x))]
                                   approximation gap         amortization gap

q_phi(z|x) = N(mu_phi(x), diag exp(logvar_phi(x))) is what the encoder outputs; q* is the best member of
the same diagonal-Gaussian family for this one x, found here by gradient ascent on the per-example ELBO
over (mu, logvar), started at the encoder's output, with the decoder fixed (Cremer et al. optimize the
local parameters the same way). The approximation gap is what the family cannot do, the amortization gap
what one shared encoder network fails to do.

Works with any model that has ``encode(x) -> (mu, logvar)``, ``log_px_given_z(x, z) -> (..., B)`` and
``log_prior(z) -> (..., B)`` (``models.VAE`` and its subclasses, any prior; the linear-Gaussian model of
the tests wrapped with an encoder).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch

from .. import objectives as obj

__all__ = ["InferenceGaps", "optimal_local_posterior", "elbo_and_log_weights", "inference_gaps"]


@contextmanager
def _frozen_eval(model) -> Iterator[None]:
    """Model parameters are constants (no gradient, eval mode) inside; restored afterwards."""
    flags = [p.requires_grad for p in model.parameters()]
    was_training = model.training
    for p in model.parameters():
        p.requires_grad_(False)
    model.eval()
    try:
        yield
    finally:
        for p, flag in zip(model.parameters(), flags):
            p.requires_grad_(flag)
        model.train(was_training)


def _log_weights(model, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor
                 ) -> torch.Tensor:
    """log p(x, z) - log q(z | x) at z = mu + sigma * eps, eps ``(K, B, d)`` -> ``(K, B)``."""
    z = mu + torch.exp(0.5 * logvar) * eps
    return model.log_px_given_z(x, z) + model.log_prior(z) - obj.log_normal(z, mu, logvar, event_dims=1)


def optimal_local_posterior(model, x: torch.Tensor, steps: int = 300, lr: float = 0.05,
                            n_samples: int = 16, seed: int = 0, init: tuple[torch.Tensor, torch.Tensor] | None = None
                            ) -> tuple[torch.Tensor, torch.Tensor]:
    """q* = N(mu*, diag exp(logvar*)) for every example of ``x``: gradient ascent (Adam) on the
    per-example ELBO, estimated with ``n_samples`` reparameterized draws per step (step size decaying
    linearly from ``lr`` to 0), over the local
    parameters (mu, logvar) ``(B, d)``, started at the encoder's output (or at ``init``). The model's
    parameters are frozen. The examples do not interact (the objective is a sum over examples and Adam
    acts coordinate-wise), so a batch is optimized at once. All noise comes from a generator seeded with
    ``seed``. Returns ``(mu*, logvar*)``, detached.
    """
    if steps < 0 or n_samples < 1 or lr <= 0:
        raise ValueError(f"need steps >= 0, n_samples >= 1, lr > 0; got {steps}, {n_samples}, {lr}")
    generator = torch.Generator().manual_seed(seed)
    x = x.detach()
    with _frozen_eval(model):
        if init is None:
            with torch.no_grad():
                init = model.encode(x)
        mu = init[0].detach().clone().requires_grad_(True)
        logvar = init[1].detach().clone().requires_grad_(True)
        opt = torch.optim.Adam([mu, logvar], lr=lr)
        # The gradient is a Monte Carlo estimate: a step size decaying linearly to zero lets the iterates
        # settle at the optimum instead of jittering around it at a distance set by lr.
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1.0 - t / max(steps, 1))
        for _ in range(steps):
            eps = torch.randn(n_samples, *mu.shape, generator=generator, dtype=mu.dtype).to(mu.device)
            elbo = _log_weights(model, x, mu, logvar, eps).mean(0)   # (B,)
            opt.zero_grad()
            (-elbo.sum()).backward()
            opt.step()
            sched.step()
    return mu.detach(), logvar.detach()


@torch.no_grad()
def elbo_and_log_weights(model, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, k: int,
                         generator: torch.Generator, chunk: int = 100) -> tuple[torch.Tensor, torch.Tensor]:
    """(ELBO estimate, importance-sampled log p(x) estimate), each ``(B,)``, from the same ``k`` draws of
    q = N(mu, diag exp(logvar)): the mean and the log-mean-exp of the log weights (Burda et al. 2015)."""
    total_mean = torch.zeros(len(x), dtype=mu.dtype, device=mu.device)
    chunks = []
    done = 0
    while done < k:
        m = min(chunk, k - done)
        eps = torch.randn(m, *mu.shape, generator=generator, dtype=mu.dtype).to(mu.device)
        lw = _log_weights(model, x, mu, logvar, eps)
        total_mean += lw.sum(0)
        chunks.append(torch.logsumexp(lw, 0))
        done += m
    log_px = torch.logsumexp(torch.stack(chunks), 0) - torch.log(torch.tensor(float(k), dtype=mu.dtype))
    return total_mean / k, log_px


@dataclass
class InferenceGaps:
    """Per-example quantities ``(B,)`` in nats, and the local optimum (mu*, logvar*)."""

    log_px: torch.Tensor            # importance-sampled log p(x), the better of the two proposals
    elbo_amortized: torch.Tensor    # ELBO of the encoder's q_phi(z|x)
    elbo_optimal: torch.Tensor      # ELBO of q*, the per-example optimum of the same family
    mu_optimal: torch.Tensor
    logvar_optimal: torch.Tensor

    @property
    def approximation_gap(self) -> torch.Tensor:
        return self.log_px - self.elbo_optimal

    @property
    def amortization_gap(self) -> torch.Tensor:
        return self.elbo_optimal - self.elbo_amortized

    @property
    def inference_gap(self) -> torch.Tensor:
        return self.log_px - self.elbo_amortized

    def summary(self) -> dict[str, float]:
        """Means over the examples."""
        return {"log_px": float(self.log_px.mean()), "elbo_amortized": float(self.elbo_amortized.mean()),
                "elbo_optimal": float(self.elbo_optimal.mean()),
                "approximation_gap": float(self.approximation_gap.mean()),
                "amortization_gap": float(self.amortization_gap.mean()),
                "inference_gap": float(self.inference_gap.mean())}


def inference_gaps(model, x: torch.Tensor, k: int = 1000, steps: int = 300, lr: float = 0.05,
                   n_samples: int = 16, seed: int = 0, batch_size: int = 100) -> InferenceGaps:
    """Split log p(x) - ELBO(q_phi) of every example of ``x`` into approximation and amortization gaps.

    ELBO(q_phi) and ELBO(q*) are estimated with ``k`` draws from each distribution, the same standard
    normal draws for both (common random numbers, so their difference, the amortization gap, is not
    swamped by sampling noise). log p(x) is the importance-sampled estimate (Burda et al. 2015) with ``k``
    draws from whichever of q_phi and q* has the higher ELBO for this example, i.e. the smaller
    KL(q || p(z|x)) = log p(x) - ELBO (usually q*). Not the larger of the two estimates: an estimate from
    a poor proposal is heavy-tailed, and the maximum would pick its upward outliers. With the same draws
    the log-mean-exp is never below the mean, so the approximation gap is >= 0 by construction; the
    amortization gap is >= 0 only up to sampling and optimization error.
    """
    if x.dim() < 2:
        raise ValueError(f"expected a batch x of shape (B, ...), got {tuple(x.shape)}")
    parts = []
    for i, xb in enumerate(x.split(batch_size)):
        mu_star, logvar_star = optimal_local_posterior(model, xb, steps, lr, n_samples, seed + i)
        with _frozen_eval(model), torch.no_grad():
            mu, logvar = model.encode(xb)
            g = torch.Generator().manual_seed(seed + 10_000 + i)
            state = g.get_state()
            elbo_a, logpx_a = elbo_and_log_weights(model, xb, mu, logvar, k, g)
            g.set_state(state)     # the same draws eps for q*
            elbo_s, logpx_s = elbo_and_log_weights(model, xb, mu_star, logvar_star, k, g)
        # the proposal with the higher ELBO is closer to the posterior in KL (log p(x) - ELBO = KL)
        log_px = torch.where(elbo_s >= elbo_a, logpx_s, logpx_a)
        parts.append((log_px, elbo_a, elbo_s, mu_star, logvar_star))
    return InferenceGaps(*(torch.cat(t) for t in zip(*parts)))
