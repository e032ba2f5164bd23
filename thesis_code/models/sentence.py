"""Recurrent models of sentences: the sentence VAE of Bowman et al. (2016), its language-model baseline,
and the deterministic sequence autoencoder it is compared with.

All three read a :class:`thesis_code.data.text.TokenBatch` (``<bos> w_1 .. w_n <eos>`` then padding)
and score the n + 1 targets ``w_1 .. w_n <eos>`` under a categorical likelihood
(:class:`thesis_code.likelihoods.Categorical`, padding masked out).

* :class:`SentenceVAE`: q(z | s) = N(mu(s), diag sigma^2(s)) from the last state of a recurrent encoder;
  the decoder is a recurrent language model whose initial state is ``tanh(W z + b)`` and whose every
  input is the previous word's embedding concatenated with z (Bowman et al. feed z only to the initial
  state; feeding it at every step too makes it harder for the decoder to forget z). Training minimizes
  ``rec + kl_weight(step) * KL`` with two remedies for posterior collapse, both driven by the trainer's
  step through :meth:`SentenceVAE.set_step`:

  - KL annealing (Bowman et al. 2016, sec. 3.1): ``kl_weight`` is a :class:`thesis_code.schedules.Schedule`
    (logistic or linear from 0 to 1, or constant 1 = no annealing);
  - word dropout (sec. 3.2): each decoder input word (not ``<bos>``) is replaced by ``<unk>`` with
    probability ``word_dropout(step)``, so the decoder must rely on z. Bowman et al. state the keep rate
    k; here the drop rate 1 - k is stored. The mask is drawn from the global torch RNG, which
    :func:`thesis_code.train.fit` seeds and saves in its checkpoints, so a resumed run draws the same
    masks.

  A third remedy, not in Bowman et al., is optional:

  - free bits (Kingma et al. 2016, "Improved variational inference with inverse autoregressive flow",
    the appendix on free bits): the KL term of the *training objective* is replaced by
    ``max(lambda, mean over the mini-batch of KL(q(z | s) || p(z)))``, see :func:`free_bits_kl`. Below
    lambda nats the encoder gets no gradient from the KL term, so it is never pushed to give up its
    first lambda nats of information; above it the term and its gradient are the plain KL's. Kingma et
    al. split the code into groups with one floor each; we use a single group (the whole code), so
    ``free_bits`` is in *total* nats per sentence: the target of the experiment is a total KL, and one
    floor leaves the encoder free to spread those nats over the dimensions as the decoder finds useful
    (a floor per dimension would force every dimension to carry lambda / D nats). Every reported number
    (``kl``, ``nelbo``, :meth:`SentenceVAE.elbo`, :meth:`SentenceVAE.log_weights`) is the true KL and
    bound, whatever lambda is.

* :class:`RNNLanguageModel`: the same decoder without z; its log-likelihood is exact, the baseline the
  VAE's bound is compared with.
* :class:`SequenceAutoencoder`: the same encoder and decoder with a deterministic code (no noise, no KL).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from .. import objectives as obj
from ..likelihoods import Categorical
from ..schedules import Schedule

ScheduleOrFloat = Union[Schedule, float]
RNNS = ("gru", "lstm")


def _as_schedule(value: ScheduleOrFloat) -> Schedule:
    return value if isinstance(value, Schedule) else Schedule("constant", start=float(value), end=float(value))


@dataclass(frozen=True)
class SentenceVAEConfig:
    vocab_size: int
    embed_dim: int = 128
    hidden_dim: int = 256
    latent_dim: int = 16
    rnn: str = "gru"                                   # gru | lstm
    word_dropout: ScheduleOrFloat = 0.0                # probability of replacing a decoder input by <unk>
    kl_weight: ScheduleOrFloat = field(default_factory=lambda: Schedule("logistic", 0.0, 1.0, 2000, 0.0025))
    z_every_step: bool = True                          # also concatenate z to every decoder input
    free_bits: float = 0.0                             # KL floor lambda (total nats) in the training loss
    pad_id: int = 0
    unk_id: int = 1
    bos_id: int = 2
    eos_id: int = 3

    def __post_init__(self):
        if self.rnn not in RNNS:
            raise ValueError(f"rnn must be one of {RNNS}, got {self.rnn!r}")
        if self.vocab_size <= max(self.pad_id, self.unk_id, self.bos_id, self.eos_id):
            raise ValueError(f"vocab_size {self.vocab_size} is too small for the special token ids")
        for name in ("embed_dim", "hidden_dim", "latent_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not (float(self.free_bits) >= 0.0 and float(self.free_bits) < float("inf")):
            raise ValueError(f"free_bits is a KL floor in nats, >= 0 and finite, got {self.free_bits}")
        rate = self.word_dropout
        if not isinstance(rate, Schedule) and not 0.0 <= float(rate) <= 1.0:
            raise ValueError(f"word_dropout is a probability in [0, 1], got {rate}")


def _check_batch(x) -> None:
    if not (hasattr(x, "tokens") and hasattr(x, "lengths")):
        raise TypeError(f"expected a TokenBatch(tokens (B, T), lengths (B,)), got {type(x).__name__}")
    if x.tokens.dim() != 2 or x.lengths.dim() != 1 or x.tokens.shape[0] != x.lengths.shape[0]:
        raise ValueError(f"expected tokens of shape (B, T) and lengths of shape (B,), got "
                         f"{tuple(x.tokens.shape)} and {tuple(x.lengths.shape)}")
    if x.tokens.shape[1] < 2:
        raise ValueError("a sentence needs at least <bos> and <eos> (T >= 2)")


def free_bits_kl(kl: torch.Tensor, free_bits: float) -> torch.Tensor:
    """The KL term of the free-bits objective (Kingma et al. 2016) with one group of latent dimensions:
    ``max(lambda, mean_s KL(q(z | s) || p(z)))`` from the per-sentence KLs ``kl`` (B,), a scalar.

    The floor acts on the mini-batch mean, as in Kingma et al.; below it the value is the constant lambda
    (zero gradient), above it the plain mean KL (the plain gradient). ``free_bits = 0`` is the ELBO's
    KL term exactly."""
    mean = kl.mean()
    if free_bits <= 0.0:
        return mean
    return torch.clamp(mean, min=float(free_bits))


def _rnn(kind: str, input_size: int, hidden: int) -> nn.RNNBase:
    return (nn.GRU if kind == "gru" else nn.LSTM)(input_size, hidden, batch_first=True)


class RecurrentEncoder(nn.Module):
    """Embedding + one recurrent layer; the state after the last real token summarizes the sentence."""

    def __init__(self, vocab_size: int, embed_dim: int, hidden_dim: int, rnn: str, pad_id: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.rnn = _rnn(rnn, embed_dim, hidden_dim)

    def forward(self, x) -> torch.Tensor:
        packed = pack_padded_sequence(self.embed(x.tokens), x.lengths.cpu(), batch_first=True,
                                      enforce_sorted=False)
        _, state = self.rnn(packed)
        h = state[0] if isinstance(state, tuple) else state         # LSTM: (h, c)
        return h[-1]                                                # (B, hidden)


class RecurrentDecoder(nn.Module):
    """A recurrent language model over ``<bos> w_1 .. w_n``, optionally conditioned on a code c:
    initial state ``tanh(W c + b)`` and (``every_step``) c concatenated to each input embedding."""

    def __init__(self, vocab_size: int, embed_dim: int, hidden_dim: int, rnn: str, pad_id: int,
                 cond_dim: int = 0, every_step: bool = True):
        super().__init__()
        self.kind, self.hidden_dim, self.cond_dim = rnn, hidden_dim, cond_dim
        self.every_step = every_step and cond_dim > 0
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.rnn = _rnn(rnn, embed_dim + (cond_dim if self.every_step else 0), hidden_dim)
        n_states = 2 if rnn == "lstm" else 1
        self.init = nn.Linear(cond_dim, n_states * hidden_dim) if cond_dim > 0 else None
        self.out = nn.Linear(hidden_dim, vocab_size)

    def initial_state(self, c: torch.Tensor | None, batch: int, device):
        if self.init is None:
            return None                                             # zeros (PyTorch's default)
        h = torch.tanh(self.init(c)).unsqueeze(0)                   # (1, B, n_states * hidden)
        if self.kind == "lstm":
            h0, c0 = h.chunk(2, dim=-1)
            return (h0.contiguous(), c0.contiguous())
        return h.contiguous()

    def hidden(self, inputs: torch.Tensor, c: torch.Tensor | None = None, state=None):
        """The recurrent states ``(B, T, H)`` after each input id (before the output layer), and the last."""
        e = self.embed(inputs)
        if self.every_step:
            e = torch.cat([e, c.unsqueeze(1).expand(-1, e.shape[1], -1)], dim=-1)
        if state is None:
            state = self.initial_state(c, inputs.shape[0], inputs.device)
        return self.rnn(e, state)

    def forward(self, inputs: torch.Tensor, c: torch.Tensor | None = None, state=None):
        """Logits ``(B, T, V)`` of the next token after each input id, and the final state."""
        h, state = self.hidden(inputs, c, state)
        return self.out(h), state


def _inputs_targets(x) -> tuple[torch.Tensor, torch.Tensor]:
    """Teacher forcing: inputs ``<bos> w_1 .. w_n`` and targets ``w_1 .. w_n <eos>`` (padding kept)."""
    return x.tokens[:, :-1], x.tokens[:, 1:]


class _SentenceModel(nn.Module):
    """What the three models share: the likelihood, decoding from a code, step bookkeeping."""

    config: SentenceVAEConfig
    decoder: RecurrentDecoder

    def _setup(self, config: SentenceVAEConfig):
        self.config = config
        self.likelihood = Categorical(pad=config.pad_id)
        self.step = 0

    def set_step(self, step: int) -> None:
        """Called by the trainer before every batch: the schedules below are read at this step."""
        self.step = int(step)

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def score(self, inputs: torch.Tensor, targets: torch.Tensor, c: torch.Tensor | None = None,
              ignore: int | None = None) -> torch.Tensor:
        """log p(targets | inputs, c) summed over each sentence's real targets, ``(B,)`` nats; with
        ``ignore`` the predictions of that token id are left out too (it still conditions what follows).

        The same number as the categorical likelihood of the full logits ``decoder(inputs, c)`` with the
        padding masked out, but the output layer and the softmax over the vocabulary, which dominate the
        cost, are applied to the real targets only: padding fills about half of the target positions of a
        mini-batch of 128 WordNet sentences, and skipping it speeds up training and evaluation alike."""
        h, _ = self.decoder.hidden(inputs, c)
        real = targets != self.config.pad_id                                      # (B, T)
        if ignore is not None:
            real &= targets != ignore
        logits = self.decoder.out(h[real])                                         # (N, V), N real targets
        token_lp = self.likelihood.log_prob(targets[real].unsqueeze(-1), logits.unsqueeze(-2))   # (N,)
        per_token = torch.zeros(targets.shape, dtype=token_lp.dtype, device=token_lp.device)
        return per_token.masked_scatter(real, token_lp).sum(dim=-1)

    def n_targets(self, x) -> torch.Tensor:
        """Tokens scored per sentence: its words and ``<eos>`` (``lengths - 1``)."""
        return x.lengths - 1

    @torch.no_grad()
    def _decode(self, c: torch.Tensor | None, n: int, max_len: int, greedy: bool,
                generator: torch.Generator | None, temperature: float = 1.0, allow_unk: bool = False
                ) -> torch.Tensor:
        """Ids ``(n, L)`` without ``<bos>``; after ``<eos>`` everything is ``<pad>``.

        ``<pad>`` and ``<bos>`` are never emitted, and ``<unk>`` only with ``allow_unk``: with a truncated
        vocabulary ``<unk>`` is the most frequent token, and a greedy decoder would otherwise fill its
        sentences with it (the usual practice when decoding such models for display)."""
        cfg, device = self.config, self._device()
        was_training = self.training
        self.eval()
        token = torch.full((n, 1), cfg.bos_id, dtype=torch.long, device=device)
        state = None
        out = torch.full((n, max_len), cfg.pad_id, dtype=torch.long, device=device)
        done = torch.zeros(n, dtype=torch.bool, device=device)
        for t in range(max_len):
            logits, state = self.decoder(token, c, state)
            logits = logits[:, -1].clone()
            banned = [cfg.pad_id, cfg.bos_id] + ([] if allow_unk else [cfg.unk_id])
            logits[:, banned] = float("-inf")
            if greedy:
                nxt = logits.argmax(-1)
            else:
                probs = torch.softmax(logits / temperature, dim=-1)
                nxt = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
            out[:, t] = torch.where(done, torch.full_like(nxt, cfg.pad_id), nxt)
            done |= nxt == cfg.eos_id
            if bool(done.all()):
                break
            token = nxt.unsqueeze(1)
        self.train(was_training)
        return out


class SentenceVAE(_SentenceModel):
    def __init__(self, config: SentenceVAEConfig):
        super().__init__()
        self._setup(config)
        c = config
        self.latent_dim = c.latent_dim
        self.encoder = RecurrentEncoder(c.vocab_size, c.embed_dim, c.hidden_dim, c.rnn, c.pad_id)
        self.to_posterior = nn.Linear(c.hidden_dim, 2 * c.latent_dim)
        self.decoder = RecurrentDecoder(c.vocab_size, c.embed_dim, c.hidden_dim, c.rnn, c.pad_id,
                                        cond_dim=c.latent_dim, every_step=c.z_every_step)
        self._kl_weight = _as_schedule(c.kl_weight)
        self._word_dropout = _as_schedule(c.word_dropout)

    # ---------------------------------------------------------------- schedules
    def kl_weight(self) -> float:
        return self._kl_weight(self.step)

    def word_dropout_rate(self) -> float:
        return self._word_dropout(self.step)

    def drop_words(self, inputs: torch.Tensor) -> torch.Tensor:
        """Replace each word input (not ``<bos>``, not padding) by ``<unk>`` with the current rate
        (training mode only; global torch RNG, see the module docstring)."""
        rate = self.word_dropout_rate()
        if not self.training or rate <= 0.0:
            return inputs
        cfg = self.config
        drop = torch.rand(inputs.shape, device=inputs.device) < rate
        drop &= (inputs != cfg.pad_id) & (inputs != cfg.bos_id)
        return inputs.masked_fill(drop, cfg.unk_id)

    # ---------------------------------------------------------------- the VAE protocol
    def encode(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        _check_batch(x)
        mu, logvar = self.to_posterior(self.encoder(x)).chunk(2, dim=-1)
        return mu, logvar

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def decode(self, z: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, T, V)`` of the next token given z and the (teacher-forced) inputs."""
        return self.decoder(inputs, z)[0]

    def log_px_given_z(self, x, z: torch.Tensor) -> torch.Tensor:
        """log p(s | z) summed over the targets; z of shape (B, D) or (K, B, D) -> (B,) or (K, B)."""
        inputs, targets = _inputs_targets(x)
        if z.dim() == 3:
            k, b = z.shape[:2]
            return self.score(inputs.repeat(k, 1), targets.repeat(k, 1), z.reshape(k * b, -1)).view(k, b)
        return self.score(inputs, targets, z)

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        return obj.log_normal(z, 0.0, 0.0, event_dims=1)

    def elbo(self, x) -> torch.Tensor:
        """One-sample ELBO per sentence, (B,) (no word dropout in eval mode)."""
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar)
        return self.log_px_given_z(x, z) - obj.kl_normal(mu, logvar)

    def log_weights(self, x, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """log p(s, z_k) - log q(z_k | s) for K posterior samples, (K, B): their log-mean-exp is the
        importance-weighted bound of Burda et al. (2016), increasing to log p(s) as K grows."""
        mu, logvar = self.encode(x)
        std = torch.exp(0.5 * logvar)
        eps = torch.randn((k, *mu.shape), generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + std * eps
        log_q = obj.log_normal(z, mu.expand_as(z), logvar.expand_as(z), event_dims=1)
        return self.log_px_given_z(x, z) + self.log_prior(z) - log_q

    def loss(self, x, y=None):
        _check_batch(x)
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar)
        inputs, targets = _inputs_targets(x)
        rec = -self.score(self.drop_words(inputs), targets, z)
        kl = obj.kl_normal(mu, logvar)                       # the true KL per sentence, (B,)
        w = self.kl_weight()
        # the training objective: free bits (if any) floor the KL term; the metrics below stay the true
        # KL and negative ELBO whatever the floor
        loss = rec.mean() + w * free_bits_kl(kl, self.config.free_bits)
        return loss, {"loss": loss.item(), "rec": rec.mean().item(), "kl": kl.mean().item(),
                      "kl_weight": w, "nelbo": (rec + kl).mean().item()}

    # ---------------------------------------------------------------- decoding
    def decode_greedy(self, z: torch.Tensor, max_len: int = 30, allow_unk: bool = False) -> torch.Tensor:
        """The most likely next word at every step (argmax), from codes z (B, D): ids (B, <= max_len)."""
        return self._decode(z.to(self._device()), z.shape[0], max_len, True, None, allow_unk=allow_unk)

    def decode_sample(self, z: torch.Tensor, generator: torch.Generator | None = None, max_len: int = 30,
                      temperature: float = 1.0, allow_unk: bool = False) -> torch.Tensor:
        """Ancestral sampling of each next word from p(w_t | w_<t, z) (renormalized without the banned
        tokens, see ``_decode``)."""
        return self._decode(z.to(self._device()), z.shape[0], max_len, False, generator, temperature, allow_unk)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn(n, self.latent_dim, generator=generator).to(self._device())

    def reconstruct(self, x, max_len: int = 30) -> torch.Tensor:
        """Greedy decoding from the posterior means."""
        return self.decode_greedy(self.encode(x)[0], max_len)


class RNNLanguageModel(_SentenceModel):
    """The decoder of :class:`SentenceVAE` without z: p(s) = prod_t p(w_t | w_<t), exactly."""

    def __init__(self, config: SentenceVAEConfig):
        super().__init__()
        self._setup(config)
        c = config
        self.decoder = RecurrentDecoder(c.vocab_size, c.embed_dim, c.hidden_dim, c.rnn, c.pad_id, cond_dim=0)

    def log_prob(self, x) -> torch.Tensor:
        """Exact log p(s) per sentence (B,), in nats."""
        _check_batch(x)
        inputs, targets = _inputs_targets(x)
        return self.score(inputs, targets)

    def loss(self, x, y=None):
        nll = -self.log_prob(x)
        loss = nll.mean()
        return loss, {"loss": loss.item(), "rec": loss.item()}

    def sample(self, n: int, generator: torch.Generator | None = None, max_len: int = 30) -> torch.Tensor:
        return self._decode(None, n, max_len, False, generator)

    def decode_greedy(self, n: int = 1, max_len: int = 30) -> torch.Tensor:
        return self._decode(None, n, max_len, True, None)


class SequenceAutoencoder(_SentenceModel):
    """Deterministic: code = W h_enc + b (latent_dim numbers), decoded like the VAE's z; trained on the
    reconstruction term alone (the autoencoder baseline of Bowman et al. 2016, sec. 4.2)."""

    def __init__(self, config: SentenceVAEConfig):
        super().__init__()
        self._setup(config)
        c = config
        self.code_dim = self.latent_dim = c.latent_dim
        self.encoder = RecurrentEncoder(c.vocab_size, c.embed_dim, c.hidden_dim, c.rnn, c.pad_id)
        self.to_code = nn.Linear(c.hidden_dim, c.latent_dim)
        self.decoder = RecurrentDecoder(c.vocab_size, c.embed_dim, c.hidden_dim, c.rnn, c.pad_id,
                                        cond_dim=c.latent_dim, every_step=c.z_every_step)

    def encode(self, x) -> torch.Tensor:
        _check_batch(x)
        return self.to_code(self.encoder(x))

    def log_px_given_code(self, x, code: torch.Tensor) -> torch.Tensor:
        inputs, targets = _inputs_targets(x)
        return self.score(inputs, targets, code)

    def loss(self, x, y=None):
        rec = -self.log_px_given_code(x, self.encode(x))
        loss = rec.mean()
        return loss, {"loss": loss.item(), "rec": loss.item()}

    def decode_greedy(self, code: torch.Tensor, max_len: int = 30, allow_unk: bool = False) -> torch.Tensor:
        return self._decode(code.to(self._device()), code.shape[0], max_len, True, None, allow_unk=allow_unk)

    def decode_sample(self, code: torch.Tensor, generator: torch.Generator | None = None, max_len: int = 30,
                      temperature: float = 1.0, allow_unk: bool = False) -> torch.Tensor:
        return self._decode(code.to(self._device()), code.shape[0], max_len, False, generator, temperature, allow_unk)

    def reconstruct(self, x, max_len: int = 30) -> torch.Tensor:
        return self.decode_greedy(self.encode(x), max_len)


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["SentenceVAEConfig", "SentenceVAE", "free_bits_kl", "RNNLanguageModel", "SequenceAutoencoder",
           "RecurrentEncoder", "RecurrentDecoder", "n_parameters"]
