"""Sections 3.3 and 4.2: the sentence VAE on the WordNet example sentences.

Everything both notebooks train goes through :func:`train_models` / :func:`train_ablation`, with the
same configs in both, so the models are trained once and shared through the experiment cache.

Budgets (:func:`budget`): ``smoke`` runs a handful of batches of tiny models (a test of the code path);
``book`` trains small GRUs (embedding 64, hidden 128, latent 16, 2,000-word vocabulary) for a few epochs
on a 2-core CPU; ``full`` is the GPU setting closest to Bowman et al. (2016): LSTM, 191 hidden units,
353-dimensional embeddings, a 13-dimensional code, the 10k-word vocabulary of all words seen twice.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data.text import Corpus, load_corpus
from ..evaluate import text as ev
from ..experiments import evaluate_cached, train_cached
from ..models.sentence import RNNLanguageModel, SentenceVAE, SentenceVAEConfig, SequenceAutoencoder
from ..schedules import Schedule
from ..train import TrainConfig

DROPOUT_RATES = (0.0, 0.25, 0.5)           # word dropout = 1 - Bowman et al.'s keep rate
ANNEALING = ("none", "logistic")


@dataclass(frozen=True)
class Budget:
    max_vocab: int | None
    embed_dim: int
    hidden_dim: int
    latent_dim: int
    rnn: str
    epochs: int
    ablation_epochs: int
    batch_size: int
    lr: float
    max_batches: int | None       # per epoch (smoke only)
    k: int                        # importance samples for the test NLL
    eval_sentences: int | None    # test sentences scored (None = all)
    n_pairs: int                  # sentence pairs for the interpolation scores
    steps: int                    # points per homotopy
    seeds: tuple[int, ...] = (0,)  # training seeds of the main comparison (VAE, LM, AE)
    main_dropout: float = 0.5     # the word dropout of the main VAE


BUDGETS = {
    "smoke": Budget(300, 16, 32, 8, "gru", 1, 1, 64, 3e-3, 4, 4, 64, 6, 7, seeds=(0, 1)),
    "book": Budget(2000, 64, 128, 16, "gru", 2, 1, 128, 3e-3, None, 20, 1000, 100, 9, seeds=(0, 1, 2)),
    "full": Budget(None, 353, 191, 13, "lstm", 30, 30, 64, 1e-3, None, 500, None, 500, 9, seeds=(0, 1, 2)),
}


def budget(run) -> Budget:
    return BUDGETS[run.profile]


def corpus(run) -> Corpus:
    return load_corpus(min_count=2, max_size=budget(run).max_vocab)


def steps_per_epoch(b: Budget, n_train: int) -> int:
    n = -(-n_train // b.batch_size)
    return min(n, b.max_batches) if b.max_batches is not None else n


def kl_schedule(kind: str, total_steps: int) -> Schedule:
    """KL weight over training: ``none`` = 1 from the first step; ``logistic`` = Bowman et al.'s sigmoid
    centred at 40 % of the run, rising from 5 % to 95 % over the middle half; ``linear`` = 0 -> 1 over
    the first half."""
    if kind == "none":
        return Schedule("constant", 1.0, 1.0)
    if kind == "logistic":
        return Schedule("logistic", 0.0, 1.0, steps=int(0.4 * total_steps), steepness=12.0 / total_steps)
    if kind == "linear":
        return Schedule("linear", 0.0, 1.0, steps=max(1, total_steps // 2))
    raise ValueError(f"annealing must be none, logistic or linear, got {kind!r}")


def model_config(run, vocab_size: int, annealing: str = "logistic", dropout: float | None = None,
                 epochs: int | None = None, n_train: int = 1) -> SentenceVAEConfig:
    b = budget(run)
    total = (epochs or b.epochs) * steps_per_epoch(b, n_train)
    return SentenceVAEConfig(vocab_size=vocab_size, embed_dim=b.embed_dim, hidden_dim=b.hidden_dim,
                             latent_dim=b.latent_dim, rnn=b.rnn,
                             word_dropout=b.main_dropout if dropout is None else dropout,
                             kl_weight=kl_schedule(annealing, total))


def train_config(run, epochs: int | None = None, seed: int | None = None) -> TrainConfig:
    b = budget(run)
    return TrainConfig(epochs=epochs or b.epochs, batch_size=b.batch_size, lr=b.lr,
                       seed=run.seed if seed is None else seed,
                       grad_clip=5.0, max_batches_per_epoch=b.max_batches, progress=False)


def _train(name, cls, cfg, tc, c: Corpus, run):
    return train_cached(name, lambda: cls(cfg), tc, c.train, run=run, model_config=cfg,
                        validation=c.validation)


def train_vae(run, c: Corpus, annealing: str = "logistic", dropout: float | None = None,
              epochs: int | None = None, seed: int | None = None):
    cfg = model_config(run, len(c.vocab), annealing, dropout, epochs, len(c.train))
    return _train("sentence-vae", SentenceVAE, cfg, train_config(run, epochs, seed), c, run)


def train_models(run, c: Corpus, seed: int | None = None) -> dict:
    """The main sentence VAE, the language model and the deterministic autoencoder, all of one size
    (the LM and the autoencoder have neither noise, KL nor word dropout)."""
    vae, h_vae = train_vae(run, c, seed=seed)
    base = model_config(run, len(c.vocab), "none", 0.0, n_train=len(c.train))
    lm, h_lm = _train("sentence-lm", RNNLanguageModel, base, train_config(run, seed=seed), c, run)
    ae, h_ae = _train("sentence-ae", SequenceAutoencoder, base, train_config(run, seed=seed), c, run)
    return {"vae": vae, "lm": lm, "ae": ae, "history": {"vae": h_vae, "lm": h_lm, "ae": h_ae}}


def train_ablation(run, c: Corpus) -> dict:
    """{no annealing, logistic annealing} x word dropout {0, 0.25, 0.5}, ``ablation_epochs`` each."""
    e = budget(run).ablation_epochs
    return {(a, d): train_vae(run, c, a, d, e)[0] for a in ANNEALING for d in DROPOUT_RATES}


def test_subset(run, c: Corpus):
    n = budget(run).eval_sentences
    if n is None or n >= len(c.test):
        return c.test
    from ..data.text import TextData
    return TextData(c.test.sentences[:n], c.vocab)


def likelihood_row(run, model, c: Corpus, name: str) -> dict:
    """NLL per sentence, perplexity, KL and active units on the test split (cached)."""
    b = budget(run)
    data = test_subset(run, c)

    def compute():
        g = torch.Generator(device=next(model.parameters()).device).manual_seed(run.seed)
        lik = ev.sentence_log_likelihood(model, data, k=b.k, generator=g)
        row = {"NLL": lik.nll, "PPL": lik.perplexity, "K": lik.k}
        if isinstance(model, SentenceVAE):
            codes = ev.sentence_codes(model, data)
            row.update(KL=codes.kl, AU=codes.active_units())
            elbo = ev.sentence_log_likelihood(model, data, k=1, generator=g)
            row.update(ELBO_NLL=elbo.nll)
        return row

    return evaluate_cached(f"sentence-likelihood-{name}", {"k": b.k, "n": len(data), "seed": run.seed},
                           compute, run=run, model=model)


def interpolation_row(run, model, lm, c: Corpus, path: str, name: str) -> ev.InterpolationScores:
    b = budget(run)
    data = test_subset(run, c)

    def compute():
        codes = ev.sentence_codes(model, data).mu
        pairs = ev.random_pairs(len(data), b.n_pairs, seed=run.seed)
        return ev.interpolation_scores(model, lm, c.vocab, codes, pairs, steps=b.steps, path=path)

    return evaluate_cached(f"sentence-interpolation-{name}-{path}",
                           {"n_pairs": b.n_pairs, "steps": b.steps, "n": len(data), "seed": run.seed},
                           compute, run=run, models={"model": model, "lm": lm})


def markdown_table(headers, rows, caption: str | None = None, name: str | None = None) -> str:
    """A pipe table of already formatted cells; with a caption, wrapped in MyST's ``table`` directive so
    that the book numbers it and ``{numref}`` can point at ``name``."""
    rows = [[str(c) for c in r] for r in rows]
    if any(len(r) != len(headers) for r in rows):
        raise ValueError(f"every row needs {len(headers)} cells")
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(r).replace("<", "&lt;").replace(">", "&gt;") + " |" for r in rows]
    if caption is not None:
        lines = [f":::{{table}} {caption}"] + ([f":name: {name}"] if name else []) + [""] + lines + [":::"]
    return "\n".join(lines)


def mean_interval(values) -> tuple[float, float]:
    """Mean and half-width of the 95 % Student-t interval of the mean (0 for a single value)."""
    import numpy as np
    from scipy.stats import t as student_t
    v = np.asarray(list(values), dtype=float)
    if len(v) < 2:
        return float(v.mean()), 0.0
    return float(v.mean()), float(student_t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))


def fmt_interval(values, digits: int = 2) -> str:
    m, h = mean_interval(values)
    return f"{m:.{digits}f} ± {h:.{digits}f}" if h > 0 else f"{m:.{digits}f}"
