"""Sections 3.3 and 4.2: the sentence VAE on the WordNet example sentences.

Everything both notebooks train goes through :func:`train_models` / :func:`train_ablation`, with the
same configs in both, so the models are trained once and shared through the experiment cache.

Budgets (:func:`budget`): ``smoke`` runs a handful of batches of tiny models (a test of the code path);
``book`` trains small GRUs (embedding 64, hidden 128, latent 16, 2,000-word vocabulary) for a few epochs
on a 2-core CPU; ``full`` is the GPU setting closest to Bowman et al. (2016): LSTM, 191 hidden units,
353-dimensional embeddings, a 13-dimensional code, the 10k-word vocabulary of all words seen twice.

The main VAE's remedies for collapse are chosen on the validation split (:func:`select_main`): logistic KL
annealing always, and the word dropout rate and the free-bits floor (Kingma et al. 2016) of the candidate
that lies farthest inside the experiment's two targets (KL at least ``KL_TARGET`` nats, NLL at most
``NLL_TARGET`` above the language model's).

The homotopies of 4.2 are decoded greedily with or without ``<unk>``, chosen on the validation split by
reconstruction error (:func:`select_decoding`), and the VAE is compared with the autoencoder seed by seed
(:func:`paired_difference`: both are scored on the same pairs by the same language model).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data.text import Corpus, load_corpus
from ..evaluate import text as ev
from ..evaluate.intervals import mean_interval  # noqa: F401  (notebooks call S.mean_interval)
from ..experiments import evaluate_cached, train_cached
from ..models.sentence import RNNLanguageModel, SentenceVAE, SentenceVAEConfig, SequenceAutoencoder
from ..schedules import Schedule
from ..train import TrainConfig

DROPOUT_RATES = (0.0, 0.25, 0.5)           # word dropout = 1 - Bowman et al.'s keep rate
ANNEALING = ("none", "logistic")
KL_TARGET = 3.0                            # nats: the experiment's target for the main VAE's KL term
NLL_TARGET = 0.02                          # the VAE's NLL at most 2 % above the language model's


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
    # candidates for the main VAE, chosen on the validation split with the first seed (select_main)
    dropout_grid: tuple[float, ...] = (0.0, 0.25)
    # total nats, above KL_TARGET: a floor that binds holds the mean KL at about lambda, so a floor at the
    # target itself would leave no margin for the other seeds and the test split
    free_bits_grid: tuple[float, ...] = (4.0, 5.0)


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


def model_config(run, vocab_size: int, annealing: str = "logistic", dropout: float = 0.0,
                 epochs: int | None = None, n_train: int = 1, free_bits: float = 0.0) -> SentenceVAEConfig:
    """The config of a sentence model of the budget's size (the main VAE's dropout and free bits come from
    :func:`select_main`)."""
    b = budget(run)
    total = (epochs or b.epochs) * steps_per_epoch(b, n_train)
    return SentenceVAEConfig(vocab_size=vocab_size, embed_dim=b.embed_dim, hidden_dim=b.hidden_dim,
                             latent_dim=b.latent_dim, rnn=b.rnn, word_dropout=dropout,
                             kl_weight=kl_schedule(annealing, total), free_bits=free_bits)


def train_config(run, epochs: int | None = None, seed: int | None = None) -> TrainConfig:
    b = budget(run)
    return TrainConfig(epochs=epochs or b.epochs, batch_size=b.batch_size, lr=b.lr,
                       seed=run.seed if seed is None else seed,
                       grad_clip=5.0, max_batches_per_epoch=b.max_batches, progress=False)


def _train(name, cls, cfg, tc, c: Corpus, run):
    return train_cached(name, lambda: cls(cfg), tc, c.train, run=run, model_config=cfg,
                        validation=c.validation)


def train_vae(run, c: Corpus, annealing: str = "logistic", dropout: float = 0.0,
              epochs: int | None = None, seed: int | None = None, free_bits: float = 0.0):
    cfg = model_config(run, len(c.vocab), annealing, dropout, epochs, len(c.train), free_bits)
    return _train("sentence-vae", SentenceVAE, cfg, train_config(run, epochs, seed), c, run)


def validation_subset(run, c: Corpus):
    """The first ``eval_sentences`` validation sentences: the selection is scored like the test split."""
    n = budget(run).eval_sentences
    if n is None or n >= len(c.validation):
        return c.validation
    from ..data.text import TextData
    return TextData(c.validation.sentences[:n], c.vocab)


def train_lm(run, c: Corpus, seed: int | None = None):
    base = model_config(run, len(c.vocab), "none", 0.0, n_train=len(c.train))
    return _train("sentence-lm", RNNLanguageModel, base, train_config(run, seed=seed), c, run)


@dataclass(frozen=True)
class MainSelection:
    """The main VAE's word dropout and free-bits floor, chosen on the validation split."""

    dropout: float
    free_bits: float
    rows: list                 # per candidate: dropout, free_bits, NLL, KL, AU, gap (% above the LM), margin
    lm_nll: float              # the language model's validation NLL (same seed)
    seed: int
    n_validation: int

    @property
    def best(self) -> dict:
        return next(r for r in self.rows if r["dropout"] == self.dropout and r["free_bits"] == self.free_bits)


def target_margin(kl: float, gap_percent: float) -> float:
    """How far a (KL, NLL gap) lies inside both targets, as the smaller of the two relative margins
    ``(KL - KL_TARGET) / KL_TARGET`` and ``(2 % - gap) / 2 %``: positive when both targets are met, and the
    larger, the more room is left for the other seeds and the test split to differ from the validation
    run."""
    limit = 100 * NLL_TARGET
    return min((kl - KL_TARGET) / KL_TARGET, (limit - gap_percent) / limit)


def select_main(run, c: Corpus) -> MainSelection:
    """Choose the main VAE's word dropout and free bits on the validation split (the test split is never
    touched). Every (dropout, free bits) of the budget's grids is trained with logistic annealing and the
    first seed of the main comparison, for the main budget, and scored on ``validation_subset`` like the
    test split (importance-sampled NLL with the same K, KL, active units); the language model of the same
    seed gives the reference NLL. The winner has the largest :func:`target_margin`: it meets both targets
    with the most room to spare (the targets are judged on the test split and the mean over all seeds,
    which one validation run only estimates), or, if no candidate meets both, misses them by the least.
    Ties go to the first candidate of the grids. The winner is the main VAE of that seed, so its training
    is shared with :func:`train_models`."""
    b = budget(run)
    if not b.dropout_grid or not b.free_bits_grid:
        raise ValueError("the selection grids of the budget are empty")
    seed = b.seeds[0]
    val = validation_subset(run, c)
    lm, _ = train_lm(run, c, seed)
    lm_nll = likelihood_row(run, lm, c, f"lm-seed{seed}", data=val, split="validation")["NLL"]
    rows = []
    for d in b.dropout_grid:
        for fb in b.free_bits_grid:
            vae, _ = train_vae(run, c, "logistic", d, seed=seed, free_bits=fb)
            r = likelihood_row(run, vae, c, f"vae-d{d:g}-fb{fb:g}-seed{seed}", data=val, split="validation")
            gap = 100 * (r["NLL"] - lm_nll) / lm_nll
            rows.append({"dropout": float(d), "free_bits": float(fb), "NLL": r["NLL"], "KL": r["KL"],
                         "AU": r["AU"], "gap": gap, "margin": target_margin(r["KL"], gap)})
    best = max(rows, key=lambda r: (r["margin"], -rows.index(r)))
    return MainSelection(best["dropout"], best["free_bits"], rows, lm_nll, seed, len(val))


def train_main_vae(run, c: Corpus, seed: int | None = None, selection: MainSelection | None = None):
    """The main sentence VAE: logistic annealing with the selected word dropout and free bits."""
    sel = selection or select_main(run, c)
    return train_vae(run, c, "logistic", sel.dropout, seed=seed, free_bits=sel.free_bits)


def train_models(run, c: Corpus, seed: int | None = None, selection: MainSelection | None = None) -> dict:
    """The main sentence VAE, the language model and the deterministic autoencoder, all of one size
    (the LM and the autoencoder have neither noise, KL, free bits nor word dropout)."""
    vae, h_vae = train_main_vae(run, c, seed, selection)
    base = model_config(run, len(c.vocab), "none", 0.0, n_train=len(c.train))
    lm, h_lm = train_lm(run, c, seed)
    ae, h_ae = _train("sentence-ae", SequenceAutoencoder, base, train_config(run, seed=seed), c, run)
    return {"vae": vae, "lm": lm, "ae": ae, "history": {"vae": h_vae, "lm": h_lm, "ae": h_ae}}


def train_ablation(run, c: Corpus) -> dict:
    """{no annealing, logistic annealing} x word dropout {0, 0.25, 0.5}, ``ablation_epochs`` each."""
    e = budget(run).ablation_epochs
    return {(a, d): train_vae(run, c, a, d, e)[0] for a in ANNEALING for d in DROPOUT_RATES}


def train_ablation_free_bits(run, c: Corpus, selection: MainSelection):
    """The main VAE's recipe (logistic annealing, the selected dropout and free bits) at the ablation's
    budget: the row that sets free bits beside the six settings of :func:`train_ablation`."""
    return train_vae(run, c, "logistic", selection.dropout, budget(run).ablation_epochs,
                     free_bits=selection.free_bits)[0]


def test_subset(run, c: Corpus):
    n = budget(run).eval_sentences
    if n is None or n >= len(c.test):
        return c.test
    from ..data.text import TextData
    return TextData(c.test.sentences[:n], c.vocab)


def likelihood_row(run, model, c: Corpus, name: str, data=None, split: str = "test") -> dict:
    """NLL per sentence, perplexity, KL and active units on the test split, or on ``data`` (then named
    ``split``, e.g. the validation subset of :func:`select_main`) (cached)."""
    b = budget(run)
    if data is None:
        if split != "test":
            raise ValueError("pass the data of a split other than the test split")
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

    config = {"k": b.k, "n": len(data), "seed": run.seed}
    if split != "test":                      # the test entries keep the keys they always had
        config["split"] = split
    return evaluate_cached(f"sentence-likelihood-{name}", config, compute, run=run, model=model)


DECODINGS = {"<unk> banned": False, "<unk> allowed": True}   # greedy decoding, with or without <unk>


@dataclass(frozen=True)
class DecodingSelection:
    """The greedy decoding of the homotopy scores, chosen on the validation split."""

    name: str                  # a key of DECODINGS
    rows: list                 # per decoding and model: error, share run to max_len
    seed: int
    n_validation: int

    @property
    def allow_unk(self) -> bool:
        return DECODINGS[self.name]


def select_decoding(run, c: Corpus, models: dict, seed: int) -> DecodingSelection:
    """Choose whether the greedy decoder of the homotopies may emit ``<unk>``, on the validation split:
    the decoding whose reconstructions of the ``validation_subset`` sentences from their codes have the
    smaller word error (:func:`thesis_code.evaluate.text.reconstruction_error`), averaged over the VAE
    and the autoencoder of ``models`` (those of training seed ``seed``). The criterion is how well a
    decoding turns codes back into the sentences they came from, the same for both models; it does not
    look at any homotopy score or at the test split. Ties go to the first decoding (``<unk>`` banned,
    the display default)."""
    val = validation_subset(run, c)

    def compute():
        rows = []
        for name, allow in DECODINGS.items():
            for m in ("vae", "ae"):
                r = ev.reconstruction_error(models[m], c.vocab, val, allow_unk=allow)
                rows.append({"decoding": name, "model": m, "error": r.error, "at_max_len": r.at_max_len})
        return rows

    rows = evaluate_cached("sentence-decoding-choice", {"n": len(val), "split": "validation", "seed": seed},
                           compute, run=run, models={"vae": models["vae"], "ae": models["ae"]})
    mean = {d: sum(r["error"] for r in rows if r["decoding"] == d) / 2 for d in DECODINGS}
    best = min(DECODINGS, key=lambda d: (mean[d], list(DECODINGS).index(d)))
    return DecodingSelection(best, rows, seed, len(val))


def interpolation_row(run, model, lm, c: Corpus, path: str, name: str,
                      allow_unk: bool = False) -> ev.InterpolationScores:
    """Homotopy scores over ``n_pairs`` random pairs of test sentences (the same pairs for every model of
    a build: they depend only on the run's seed and the test subset), cached."""
    b = budget(run)
    data = test_subset(run, c)

    def compute():
        codes = ev.sentence_codes(model, data).mu
        pairs = ev.random_pairs(len(data), b.n_pairs, seed=run.seed)
        return ev.interpolation_scores(model, lm, c.vocab, codes, pairs, steps=b.steps, path=path,
                                       allow_unk=allow_unk)

    config = {"n_pairs": b.n_pairs, "steps": b.steps, "n": len(data), "seed": run.seed}
    if allow_unk:                            # the entries of the <unk>-banned decoding keep their keys
        config["allow_unk"] = True
    return evaluate_cached(f"sentence-interpolation-{name}-{path}", config, compute, run=run,
                           models={"model": model, "lm": lm})


def paired_difference(a, b) -> tuple[float, float]:
    """Mean and 95 % t half-width of the per-seed differences ``a[i] - b[i]`` (two models evaluated on
    the same pairs with the same seed): pairing removes what the seeds share, e.g. a seed whose language
    model scores every interpolant lower."""
    if len(a) != len(b):
        raise ValueError(f"paired values need equal lengths, got {len(a)} and {len(b)}")
    return mean_interval([x - y for x, y in zip(a, b)])


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


def fmt_interval(values, digits: int = 2) -> str:
    m, h = mean_interval(values)
    return f"{m:.{digits}f} ± {h:.{digits}f}" if h > 0 else f"{m:.{digits}f}"
