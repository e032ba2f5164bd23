"""Evaluation of sentence models: likelihood, the latent code, and interpolation between sentences.

Likelihood. For the language model log p(s) is exact; for the sentence VAE it is estimated from below by
the importance-weighted bound with K posterior samples (Burda et al. 2016),

    log p(s) >= L_K(s) = log (1/K) sum_k p(s, z_k) / q(z_k | s),    z_k ~ q(z | s),

which is the ELBO for K = 1 and increases towards log p(s) with K. We report the negative log-likelihood
per sentence (nats) and the perplexity per token ``exp(sum_s NLL(s) / sum_s (n_s + 1))``: every sentence
of n words is scored on n + 1 predictions, its words and the end-of-sentence token ``<eos>`` (Bowman et
al. also count the end token). The VAE's number is an upper bound on its true NLL and perplexity.

Interpolation (sec. 4.2 of the thesis). For two sentences a and b, the posterior means z_a, z_b are
joined by a path (``lerp`` or ``slerp`` of :mod:`thesis_code.latent`), each of ``steps`` points is
decoded greedily, and the homotopy is scored by

(a) :func:`distinct_share`: the share of decoded points that are distinct sentences (a path that decodes
    to only its two endpoints has a share of 2 / steps: it jumps rather than moves);
(b) :func:`monotonicity`: for the word edit distance d_a(t) from the decoded start and d_b(t) to the
    decoded end, the fraction of consecutive steps with d_a non-decreasing and d_b non-increasing
    (1 = every step moves away from a and towards b), and the Spearman correlation of d_a with t and of
    d_b with -t (undefined, hence NaN, on a path that never changes);
(c) :func:`fluency`: the perplexity that an independent language model assigns to the decoded
    interpolants (grammatical midpoints have a low perplexity).

Score (b) counts a step on which the decoding does not change as monotone, so a path that stays on its
start and then jumps to its end in one step is perfectly monotone. :func:`largest_step` complements it:
the largest edit distance between consecutive decodings as a share of d(start, end), 1 / (steps - 1) for
a path that covers the distance in equal steps and 1 (or more) for one that jumps. It says how gradually,
not how monotonically, the path moves; it is reported beside (b), never instead of it.

Decoding. ``allow_unk`` lets the greedy decoder emit ``<unk>``. :meth:`_SentenceModel._decode` bans it
by default (for display), but with a truncated vocabulary ``<unk>`` is a frequent token, and a decoder
denied it may fall into loops that run to ``max_len``; :func:`reconstruction_error` measures which
decoding reconstructs held-out sentences better (the chapter chooses on the validation split).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from scipy.stats import spearmanr

from ..latent import lerp, slerp
from ..objectives import iwae_bound

PATHS: dict[str, Callable] = {"lerp": lerp, "slerp": slerp}


def _batches(data, batch_size: int):
    n = len(data)
    for start in range(0, n, batch_size):
        idx = torch.arange(start, min(start + batch_size, n), device=data.device)
        yield data.batch(idx)[0]


def _device(model) -> torch.device:
    return next(model.parameters()).device


# ---------------------------------------------------------------- likelihood

@dataclass(frozen=True)
class TextLikelihood:
    """Per-sentence log-likelihoods (nats; a lower bound for a latent-variable model) and token counts."""

    log_px: torch.Tensor           # (N,)
    n_tokens: torch.Tensor         # (N,) words + <eos> per sentence
    k: int                         # importance samples (0 = exact)

    @property
    def nll(self) -> float:
        """Mean negative log-likelihood per sentence, nats."""
        return float(-self.log_px.mean())

    @property
    def perplexity(self) -> float:
        """exp(total NLL / total tokens), tokens = words + <eos>."""
        return math.exp(float(-self.log_px.sum() / self.n_tokens.sum()))


@torch.no_grad()
def sentence_log_likelihood(model, data, k: int = 100, batch_size: int = 100,
                            generator: torch.Generator | None = None, seed: int = 0) -> TextLikelihood:
    """log p(s) of every sentence of ``data`` (a :class:`~thesis_code.data.text.TextData`).

    Models with ``log_prob`` (the language model) are scored exactly (``k`` is ignored, reported as 0);
    models with ``log_weights`` (the sentence VAE) by the K-sample importance-weighted bound, whose samples
    come from ``generator`` or a new one seeded with ``seed`` (never the global RNG)."""
    if generator is None:
        generator = torch.Generator(device=_device(model)).manual_seed(seed)
    model.eval()
    exact = hasattr(model, "log_prob") and not hasattr(model, "log_weights")
    if not exact and not hasattr(model, "log_weights"):
        raise TypeError(f"{type(model).__name__} has neither log_prob (exact) nor log_weights (bound)")
    if not exact and k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    data = data.to(_device(model))
    out, counts = [], []
    for xb in _batches(data, batch_size):
        if exact:
            out.append(model.log_prob(xb).cpu())
        else:
            chunks = [model.log_weights(xb, min(20, k - i), generator=generator) for i in range(0, k, 20)]
            out.append(iwae_bound(torch.cat(chunks, 0)).cpu())
        counts.append((xb.lengths - 1).cpu())
    return TextLikelihood(torch.cat(out), torch.cat(counts), 0 if exact else k)


# ---------------------------------------------------------------- the code

@dataclass(frozen=True)
class SentenceCodes:
    mu: torch.Tensor        # (N, D) posterior means
    logvar: torch.Tensor    # (N, D)

    def kl_per_dim(self) -> torch.Tensor:
        """Mean over sentences of KL(q(z_d | s) || N(0, 1)), (D,)."""
        return (0.5 * (self.mu.pow(2) + self.logvar.exp() - 1.0 - self.logvar)).mean(0)

    @property
    def kl(self) -> float:
        return float(self.kl_per_dim().sum())

    def activity(self) -> torch.Tensor:
        """Cov_s(E_q[z_d | s]) per dimension (Burda et al. 2016, sec. 5.2)."""
        return self.mu.var(0, unbiased=True) if len(self.mu) > 1 else torch.zeros(self.mu.shape[1])

    def active_units(self, threshold: float = 0.01) -> int:
        return int((self.activity() > threshold).sum())


@torch.no_grad()
def sentence_codes(model, data, batch_size: int = 500) -> SentenceCodes:
    """Posterior means and log-variances of every sentence (a deterministic autoencoder's codes get
    log-variance 0 placeholders: only ``mu`` is meaningful for it)."""
    model.eval()
    data = data.to(_device(model))
    mus, logvars = [], []
    for xb in _batches(data, batch_size):
        enc = model.encode(xb)
        mu, logvar = enc if isinstance(enc, tuple) else (enc, torch.zeros_like(enc))
        mus.append(mu.cpu())
        logvars.append(logvar.cpu())
    return SentenceCodes(torch.cat(mus), torch.cat(logvars))


# ---------------------------------------------------------------- decoding helpers

def decode_ids(vocab, ids: torch.Tensor) -> list[str]:
    return [vocab.decode(row.tolist()) for row in ids.cpu()]


def encode_sentences(model, vocab, sentences: Sequence[str]) -> torch.Tensor:
    """Posterior means (or deterministic codes) of raw sentences, tokenized like the corpus."""
    from ..data.text import pad_batch, tokenize
    batch = pad_batch([vocab.encode(" ".join(tokenize(s))) for s in sentences], vocab.pad_id)
    model.eval()
    with torch.no_grad():
        enc = model.encode(batch.to(_device(model)))
    return (enc[0] if isinstance(enc, tuple) else enc).cpu()


def homotopy(model, vocab, z_a: torch.Tensor, z_b: torch.Tensor, steps: int = 9, path: str = "lerp",
             max_len: int = 30, allow_unk: bool = False) -> list[str]:
    """Greedy decodes of ``steps`` equally spaced points on the path from z_a to z_b."""
    if path not in PATHS:
        raise ValueError(f"path must be one of {sorted(PATHS)}, got {path!r}")
    z = PATHS[path](z_a, z_b, steps)
    return decode_ids(vocab, model.decode_greedy(z, max_len, allow_unk=allow_unk))


@dataclass(frozen=True)
class Reconstruction:
    """Greedy reconstructions of held-out sentences from their codes."""

    error: float            # mean of edit distance(decoding, sentence) / words of the sentence
    at_max_len: float       # share of decodings that never emit <eos> (run to max_len)
    decodings: list


@torch.no_grad()
def reconstruction_error(model, vocab, data, allow_unk: bool = False, max_len: int = 30,
                         batch_size: int = 500) -> Reconstruction:
    """Greedy decodings of the codes (posterior means) of ``data``'s sentences, compared word by word with
    the sentences as written: a word outside the vocabulary counts as an error whether the decoder writes
    ``<unk>`` or another word, so neither decoding is favoured by the comparison itself."""
    codes = sentence_codes(model, data, batch_size).mu
    ids = torch.cat([model.decode_greedy(codes[i:i + batch_size], max_len, allow_unk=allow_unk)
                     for i in range(0, len(codes), batch_size)])
    decoded = decode_ids(vocab, ids)
    truth = [s.split() for s in data.sentences]
    err = [edit_distance(d.split(), t) / max(1, len(t)) for d, t in zip(decoded, truth)]
    at_max = (~(ids == vocab.eos_id).any(dim=1)).float().mean().item()
    return Reconstruction(float(np.mean(err)), float(at_max), decoded)


def nearest_sentences(codes: torch.Tensor, queries: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Indices (Q, k) of the k codes nearest (Euclidean) to each query code."""
    return torch.cdist(queries, codes).topk(k, largest=False).indices


# ---------------------------------------------------------------- interpolation metrics

def edit_distance(a: Sequence[str], b: Sequence[str]) -> int:
    """Levenshtein distance between two word sequences (insertions, deletions, substitutions)."""
    prev = list(range(len(b) + 1))
    for i, wa in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, wb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (wa != wb))
        prev = cur
    return prev[-1]


def distinct_share(sentences: Sequence[str]) -> float:
    return len(set(sentences)) / len(sentences)


def largest_step(sentences: Sequence[str]) -> float:
    """The largest word edit distance between consecutive decodings of a path, as a share of the edit
    distance between its first and last decodings: 1 / (steps - 1) at best (equal steps), 1 for a path
    that jumps from start to end at once, more for one that detours. NaN when start and end decode to
    the same sentence (there is no distance to share)."""
    if len(sentences) < 2:
        raise ValueError("a path needs at least two points")
    words = [s.split() for s in sentences]
    total = edit_distance(words[0], words[-1])
    if total == 0:
        return float("nan")
    return max(edit_distance(u, v) for u, v in zip(words, words[1:])) / total


@dataclass(frozen=True)
class Monotonicity:
    steps: float        # fraction of consecutive steps moving away from the start and towards the end
    spearman: float     # mean of Spearman(d_start, t) and Spearman(d_end, -t); NaN on a constant path


def monotonicity(sentences: Sequence[str]) -> Monotonicity:
    """How monotonically a decoded path moves from its first sentence to its last (see module doc)."""
    if len(sentences) < 2:
        raise ValueError("a path needs at least two points")
    words = [s.split() for s in sentences]
    d_a = np.array([edit_distance(words[0], w) for w in words], dtype=float)
    d_b = np.array([edit_distance(w, words[-1]) for w in words], dtype=float)
    ok = (np.diff(d_a) >= 0) & (np.diff(d_b) <= 0)
    t = np.arange(len(words))
    rhos = []
    for d, sign in ((d_a, 1), (d_b, -1)):
        rhos.append(float("nan") if np.all(d == d[0]) else float(spearmanr(d, sign * t).statistic))
    return Monotonicity(float(ok.mean()), float(np.mean(rhos)))


@torch.no_grad()
def fluency(lm, vocab, sentences: Sequence[str], batch_size: int = 200) -> float:
    """Perplexity per token (words + <eos>) of ``sentences`` under the language model ``lm``."""
    from ..data.text import TextData
    if not sentences:
        raise ValueError("no sentences to score")
    return sentence_log_likelihood(lm, TextData(list(sentences), vocab), batch_size=batch_size).perplexity


@torch.no_grad()
def fluency_without_unk(lm, vocab, sentences: Sequence[str], batch_size: int = 200) -> float:
    """Like :func:`fluency`, but the perplexity is taken over the predictions of known tokens only: the
    language model's predictions of ``<unk>`` targets are left out of the numerator and the count (an
    ``<unk>`` still conditions the words after it). A decoder that writes many ``<unk>`` cannot lower this
    score by them, since ``<unk>`` is a frequent, easily predicted token."""
    from ..data.text import TextData
    if not sentences:
        raise ValueError("no sentences to score")
    data = TextData(list(sentences), vocab).to(_device(lm))
    lm.eval()
    total, count = 0.0, 0
    for xb in _batches(data, batch_size):
        inputs, targets = xb.tokens[:, :-1], xb.tokens[:, 1:]
        total += float(lm.score(inputs, targets, ignore=vocab.unk_id).sum())
        count += int(((targets != vocab.pad_id) & (targets != vocab.unk_id)).sum())
    return math.exp(-total / count)          # count > 0: every sentence ends with a known <eos> target


@dataclass(frozen=True)
class InterpolationScores:
    distinct: float          # mean share of distinct sentences per path
    monotone_steps: float    # mean fraction of monotone steps
    spearman: float          # mean Spearman over paths where it is defined
    interior_perplexity: float   # LM perplexity of the decoded interior points (endpoints excluded)
    n_pairs: int
    paths: list              # the decoded paths (lists of sentences)
    largest_step: float = float("nan")   # mean largest_step over paths where it is defined
    interior_perplexity_known: float = float("nan")   # (c) over the predictions of known tokens only
    allow_unk: bool = False  # whether the greedy decoder could emit <unk>

    def as_row(self) -> dict:
        return {"distinct": self.distinct, "monotone steps": self.monotone_steps, "Spearman": self.spearman,
                "largest step": self.largest_step, "LM perplexity": self.interior_perplexity}


def random_pairs(n: int, n_pairs: int, seed: int = 0) -> torch.Tensor:
    """``n_pairs`` pairs of distinct indices in 0..n-1, drawn with a seeded generator: (n_pairs, 2)."""
    if n < 2:
        raise ValueError("need at least two sentences to form pairs")
    g = torch.Generator().manual_seed(seed)
    a = torch.randint(0, n, (n_pairs,), generator=g)
    b = (a + torch.randint(1, n, (n_pairs,), generator=g)) % n
    return torch.stack([a, b], 1)


@torch.no_grad()
def interpolation_scores(model, lm, vocab, codes: torch.Tensor, pairs: torch.Tensor, steps: int = 9,
                         path: str = "lerp", max_len: int = 30,
                         allow_unk: bool = False) -> InterpolationScores:
    """Scores (a)-(c) and :func:`largest_step` over the homotopies between the codes of ``pairs``
    (indices into ``codes``), greedy decoding with or without ``<unk>``."""
    if path not in PATHS:
        raise ValueError(f"path must be one of {sorted(PATHS)}, got {path!r}")
    z = PATHS[path](codes[pairs[:, 0]], codes[pairs[:, 1]], steps)          # (steps, P, D)
    ids = model.decode_greedy(z.transpose(0, 1).reshape(-1, z.shape[-1]), max_len, allow_unk=allow_unk)
    flat = decode_ids(vocab, ids)
    paths = [flat[i * steps:(i + 1) * steps] for i in range(len(pairs))]
    mono = [monotonicity(p) for p in paths]
    rhos = [m.spearman for m in mono if not math.isnan(m.spearman)]
    interior = [s for p in paths for s in p[1:-1]]
    jumps = [j for j in (largest_step(p) for p in paths) if not math.isnan(j)]
    return InterpolationScores(
        distinct=float(np.mean([distinct_share(p) for p in paths])),
        monotone_steps=float(np.mean([m.steps for m in mono])),
        spearman=float(np.mean(rhos)) if rhos else float("nan"),
        interior_perplexity=fluency(lm, vocab, interior),
        n_pairs=len(pairs), paths=paths,
        largest_step=float(np.mean(jumps)) if jumps else float("nan"), allow_unk=allow_unk,
        interior_perplexity_known=fluency_without_unk(lm, vocab, interior))
