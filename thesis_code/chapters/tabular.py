"""Chapter 3.5, tabular data synthesis: the synthesizers side by side on the Adult census.

Every synthesizer is fitted on the 32,561 rows of ``adult.data`` and asked for as many synthetic rows;
all are scored by the same code (:mod:`thesis_code.evaluate.synthesis`) against the same real rows:

* ``marginals``: every column drawn independently from its empirical marginal (a floor: perfect
  one-column fidelity, no dependence between columns, so no signal for the income classifier beyond
  chance);
* ``copula``: a Gaussian copula (below): marginals kept, dependence reduced to one correlation matrix of
  normal scores;
* ``ours``: :class:`thesis_code.models.tabular.TabularVAE`, through the common trainer and cache, with
  the KL weight chosen by :func:`select_beta` on validation rows held out of ``adult.data`` (the test
  rows are not used for the choice);
* ``tvae`` and ``ctgan``: the reference implementations of the ``ctgan`` package (Xu et al. 2019),
  package defaults except the number of epochs, which is the same for the three neural synthesizers.

Two things are computed once and shared, because they are the same computation twice:

* one encoding (:class:`tables.TableTransformer`) for our VAE, fitted on the rows of ``adult.data`` that
  are not held out for validation (:func:`encoding`): the selection VAEs and the final VAEs use it;
* one fitted ``ctgan`` ``DataTransformer`` (and its encoding of the training rows) for TVAE and CTGAN:
  both classes fit ``DataTransformer()`` with its defaults on the same rows, and that fit is deterministic
  (rdt seeds it itself), so the shared copy is exactly the one each would fit (:func:`shared_ctgan_encoding`;
  ``tests/test_tables.py`` checks that the samples are identical with and without the sharing).

Results (samples and scores) are cached with ``experiments.evaluate_cached`` / ``train_cached``.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from scipy.stats import norm

from ..data import tables
from ..evaluate import synthesis
from ..evaluate.intervals import mean_interval
from ..experiments import evaluate_cached, train_cached
from ..models.tabular import TabularVAE, TabularVAEConfig
from ..profiles import Run
from ..train import TrainConfig

TARGET = tables.TARGET
# The KL weight of our VAE is not fixed here: it is selected from BETA_GRID by the TSTR F1 measured on
# validation rows held out of adult.data (``select_beta``); the test rows are used only for the final
# report. TVAE's own objective corresponds to beta = 1/2.
BETA_GRID = (0.5, 0.25, 0.1)
VALIDATION_FRACTION = 0.1
VALIDATION_SEED = 0
SELECT_EPOCHS_BOOK = 10
SELECT_ROWS_BOOK = 10_000


@dataclass(frozen=True)
class Budget:
    n_train: int | None          # training rows used (None = all 32,561)
    n_test: int | None           # real test rows used for TSTR (None = all 16,281)
    epochs: int                  # every neural synthesizer: our VAE, ctgan's TVAE and ctgan's CTGAN
    seeds: tuple[int, ...]       # our VAE
    peer_seeds: tuple[int, ...]  # the peers and the two simple baselines
    transformer_rows: int | None  # rows used to fit the mixtures (None = all)
    batch_size: int = 500        # TVAE's batch size
    beta_grid: tuple[float, ...] = BETA_GRID  # KL weights tried by the selection on validation rows
    select_epochs: int | None = None          # epochs of each selection run (None = ``epochs``)
    select_seed: int = 0                      # the one training seed of each selection run
    select_rows: int | None = None            # synthetic rows the selection's classifiers are trained on
                                              # (None = as many as the selection VAE was trained on)


def budget(run: Run) -> Budget:
    return run.pick(
        smoke=Budget(n_train=2000, n_test=2000, epochs=2, seeds=(0,), peer_seeds=(0,), transformer_rows=2000,
                     batch_size=500, beta_grid=(0.5, 0.1)),
        # 30 epochs for the three neural synthesizers; the selection runs are shorter and their
        # classifiers see fewer synthetic rows, so that the notebook stays within four minutes on 2 cores
        book=Budget(n_train=None, n_test=None, epochs=30, seeds=(0, 1, 2), peer_seeds=(0,),
                    transformer_rows=None, select_epochs=SELECT_EPOCHS_BOOK, select_rows=SELECT_ROWS_BOOK),
        full=Budget(n_train=None, n_test=None, epochs=300, seeds=(0, 1, 2, 3, 4), peer_seeds=(0, 1, 2),
                    transformer_rows=None),
    )


def adult(b: Budget) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The real training and test tables (a fixed random subset of rows in ``smoke``)."""
    train, test = tables.load_adult("train"), tables.load_adult("test")
    if b.n_train is not None:
        train = train.sample(b.n_train, random_state=0).reset_index(drop=True)
    if b.n_test is not None:
        test = test.sample(b.n_test, random_state=0).reset_index(drop=True)
    return train, test


def transformer(run: Run, train: pd.DataFrame, b: Budget) -> tables.TableTransformer:
    """The fitted TableTransformer, cached (fitting ten-mode mixtures on 32k rows takes ~30 s)."""
    cfg = {"data": tables.table_checksum(train), "max_modes": 10, "weight_threshold": 0.005, "seed": 0,
           "max_fit_rows": b.transformer_rows}

    def compute():
        tt = tables.TableTransformer(10, 0.005, seed=0, max_fit_rows=b.transformer_rows)
        return tt.fit(train, continuous=list(tables.CONTINUOUS)).state()

    return tables.TableTransformer.from_state(evaluate_cached("adult-transformer", cfg, compute, run=run))


def encoding(run: Run, train: pd.DataFrame, b: Budget) -> tables.TableTransformer:
    """The one encoding of our VAE: the TableTransformer fitted on the fit rows of ``split_validation``
    (never on the validation rows), shared by the selection VAEs and the final VAEs."""
    return transformer(run, split_validation(train)[0], b)


def split_validation(train: pd.DataFrame, fraction: float = VALIDATION_FRACTION, seed: int = VALIDATION_SEED
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A fixed, seeded random split of the real training rows into (fit rows, validation rows).

    The validation rows are used only to choose beta: the selection VAEs (and their transformer) are
    fitted on the other rows, and the classifiers trained on their synthetic rows are scored on them."""
    if not 0 < fraction < 1:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    n_val = int(round(fraction * len(train)))
    if n_val < 1 or n_val >= len(train):
        raise ValueError(f"a validation fraction of {fraction} leaves no rows on one side of {len(train)} rows")
    perm = np.random.default_rng(seed).permutation(len(train))
    val_idx, fit_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    return train.iloc[fit_idx].reset_index(drop=True), train.iloc[val_idx].reset_index(drop=True)


def vae_config(tt: tables.TableTransformer, **kw) -> TabularVAEConfig:
    if "beta" not in kw:
        raise TypeError("vae_config needs an explicit beta (select it with select_beta)")
    return TabularVAEConfig(output_info=tuple(tt.output_info), transformer_fingerprint=tt.fingerprint(), **kw)


def train_vae(run: Run, tt: tables.TableTransformer, train: pd.DataFrame, b: Budget, seed: int = 0,
              config: TabularVAEConfig | None = None, *, beta: float | None = None, epochs: int | None = None):
    """Our TabularVAE, trained (or loaded) through the common cached trainer. TVAE's optimizer settings:
    Adam, lr 1e-3, weight decay 1e-5, batch 500. Give ``config`` or ``beta``."""
    if config is None and beta is None:
        raise TypeError("train_vae needs a config or a beta (select it with select_beta)")
    cfg = config or vae_config(tt, beta=beta)
    data = tables.table_data(tt, train)
    tc = TrainConfig(epochs=epochs or b.epochs, batch_size=b.batch_size, lr=1e-3, weight_decay=1e-5, seed=seed,
                     progress=False)
    return train_cached("tabular-vae", lambda: TabularVAE(cfg, tt), tc, data, run=run, model_config=cfg)


# ------------------------------------------------------------------------------------ choosing beta

def validation_f1(run: Run, fit_rows: pd.DataFrame, val_rows: pd.DataFrame, tt_fit: tables.TableTransformer,
                  b: Budget, beta: float) -> dict:
    """One selection run: a VAE with KL weight ``beta`` fitted on ``fit_rows`` (transformer ``tt_fit``,
    fitted on the same rows), ``len(fit_rows)`` synthetic rows, and the TSTR F1 of the SDGym classifiers
    trained on them and scored on ``val_rows``. Cached."""
    epochs = b.select_epochs or b.epochs
    model, _ = train_vae(run, tt_fit, fit_rows, b, b.select_seed, beta=beta, epochs=epochs)
    n = b.select_rows or len(fit_rows)

    def compute():
        g = torch.Generator(device=model.device).manual_seed(b.select_seed)
        synthetic = model.sample_rows(n, g)
        return synthesis.tstr_f1(synthetic, val_rows, TARGET, reference=fit_rows, seed=b.select_seed)

    cfg = {"beta": beta, "epochs": epochs, "seed": b.select_seed, "rows": n,
           "fit": tables.table_checksum(fit_rows), "validation": tables.table_checksum(val_rows)}
    return evaluate_cached("tabular-beta-selection", cfg, compute, run=run, model=model)


@dataclass(frozen=True)
class BetaSelection:
    beta: float                       # the selected KL weight
    f1: dict[float, float]            # validation TSTR F1 (mean of the four classifiers) per beta
    n_fit: int                        # rows the selection VAEs were trained on
    n_validation: int                 # held-out rows they were scored on
    epochs: int
    seed: int
    n_synthetic: int                  # synthetic rows the classifiers of each selection run were fitted on


def select_beta(run: Run, train: pd.DataFrame, b: Budget) -> BetaSelection:
    """Choose beta from ``b.beta_grid`` by validation TSTR F1 (one training seed per beta; ties go to the
    first value of the grid). The test rows are never touched. The selection VAEs use the encoding fitted
    on the fit rows (the same one as :func:`encoding`)."""
    if not b.beta_grid:
        raise ValueError("the beta grid is empty")
    fit_rows, val_rows = split_validation(train)
    tt_fit = transformer(run, fit_rows, b)
    f1 = {float(beta): validation_f1(run, fit_rows, val_rows, tt_fit, b, beta)["mean"] for beta in b.beta_grid}
    best = max(f1, key=lambda k: (f1[k], -list(f1).index(k)))
    return BetaSelection(beta=best, f1=f1, n_fit=len(fit_rows), n_validation=len(val_rows),
                         epochs=b.select_epochs or b.epochs, seed=b.select_seed,
                         n_synthetic=b.select_rows or len(fit_rows))


# ------------------------------------------------------------------------------------ baselines

def independent_marginals(train: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """Each column resampled on its own from the real column: right marginals, no dependence."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({c: train[c].to_numpy()[rng.integers(0, len(train), n)] for c in train.columns}
                        ).astype(train.dtypes.to_dict())


class GaussianCopula:
    """A Gaussian copula over mixed columns.

    Each column is mapped to a standard-normal score through its empirical distribution: a continuous
    value to ``Phi^-1`` of its mid-rank ``(rank - 1/2) / n``; a category to ``Phi^-1`` of a point drawn
    uniformly inside the category's interval of the cumulative frequencies (categories ordered by
    frequency), which makes the scores of a categorical column exactly standard normal. The correlation
    matrix of the scores is the whole dependence model. Sampling draws scores from N(0, R) and maps them
    back through the inverse empirical distributions (quantiles of the real column, or the category whose
    interval contains ``Phi(score)``)."""

    def fit(self, df: pd.DataFrame, seed: int = 0) -> "GaussianCopula":
        rng = np.random.default_rng(seed)
        self.columns, self.dtypes, self.kinds, self.values = list(df.columns), df.dtypes.to_dict(), {}, {}
        scores = []
        for c in self.columns:
            s = df[c]
            if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
                v = s.to_numpy(float)
                u = (pd.Series(v).rank(method="average").to_numpy() - 0.5) / len(v)
                self.kinds[c], self.values[c] = "continuous", np.sort(v)
            else:
                freq = s.astype(object).value_counts(normalize=True)
                cats, p = freq.index.to_numpy(), freq.to_numpy()
                hi = np.cumsum(p)
                lo = hi - p
                k = pd.Index(cats).get_indexer(s.astype(object))
                u = lo[k] + rng.uniform(size=len(s)) * p[k]
                self.kinds[c], self.values[c] = "categorical", (cats, hi)
            scores.append(norm.ppf(np.clip(u, 1e-6, 1 - 1e-6)))
        self.corr = np.corrcoef(np.stack(scores, 1), rowvar=False)
        return self

    def sample(self, n: int, seed: int = 0) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        z = rng.multivariate_normal(np.zeros(len(self.columns)), self.corr, size=n, method="cholesky")
        u = norm.cdf(z)
        out = {}
        for j, c in enumerate(self.columns):
            if self.kinds[c] == "continuous":
                v = np.quantile(self.values[c], u[:, j], method="inverted_cdf")
                out[c] = v
            else:
                cats, hi = self.values[c]
                out[c] = cats[np.minimum(np.searchsorted(hi, u[:, j], side="right"), len(cats) - 1)]
        df = pd.DataFrame(out)
        for c, dt in self.dtypes.items():
            df[c] = (pd.Categorical(df[c], categories=dt.categories) if isinstance(dt, pd.CategoricalDtype)
                     else df[c].astype(dt))
        return df


def _ctgan_frame(df: pd.DataFrame) -> pd.DataFrame:
    """ctgan wants discrete columns as plain strings."""
    out = df.copy()
    for c in out.columns:
        if not (pd.api.types.is_numeric_dtype(out[c].dtype) and not pd.api.types.is_bool_dtype(out[c].dtype)):
            out[c] = out[c].astype(str)
    return out


def _from_ctgan(df: pd.DataFrame, like: pd.DataFrame) -> pd.DataFrame:
    out = {}
    for c in like.columns:
        dt = like[c].dtype
        if isinstance(dt, pd.CategoricalDtype):
            out[c] = pd.Categorical(df[c].astype(str), categories=dt.categories)
        elif pd.api.types.is_bool_dtype(dt):
            out[c] = df[c].astype(str).to_numpy() == "True"
        else:
            out[c] = np.round(df[c].to_numpy(float)).astype(dt)
    return pd.DataFrame(out)


_CTGAN_ENCODING: dict[str, tuple] = {}   # one entry: content key -> (DataTransformer, encoded rows, seconds)


def _ctgan_key(frame: pd.DataFrame, discrete: list[str]) -> str:
    return tables.table_checksum(frame) + repr(list(discrete))


def _ctgan_encoding(frame: pd.DataFrame, discrete: list[str]):
    """ctgan's ``DataTransformer()`` fitted on ``frame`` and its encoding of ``frame``, exactly as TVAE.fit
    and CTGAN.fit compute them (fit, then transform), computed once per table content."""
    from ctgan.data_transformer import DataTransformer
    key = _ctgan_key(frame, discrete)
    if key not in _CTGAN_ENCODING:
        _CTGAN_ENCODING.clear()                            # keep one table's encoding (tens of MB) at most
        t0 = time.perf_counter()
        dt = DataTransformer()
        dt.fit(frame, discrete)
        encoded = dt.transform(frame)
        _CTGAN_ENCODING[key] = (dt, encoded, time.perf_counter() - t0)
    return _CTGAN_ENCODING[key]


SHARING_VERIFIED_FOR = "0.12.1"   # the ctgan release pinned in pyproject.toml


@contextlib.contextmanager
def shared_ctgan_encoding(frame: pd.DataFrame, discrete: list[str]):
    """Within the block, TVAE and CTGAN fitted on the object ``frame`` receive a copy of the one fitted
    DataTransformer (its state after fit and transform, random states included) and the encoded rows,
    instead of fitting and encoding again. Both classes construct ``DataTransformer()`` with its defaults
    and rdt seeds the mixture fits itself, so the result is the same as without the sharing (tested);
    any other table goes through the package's own code."""
    import ctgan.synthesizers.ctgan as ctgan_module
    import ctgan.synthesizers.tvae as tvae_module
    from ctgan.data_transformer import DataTransformer
    fitted, encoded, _ = _ctgan_encoding(frame, discrete)

    class SharedDataTransformer(DataTransformer):
        _shared = False

        def fit(self, raw_data, discrete_columns=()):
            if raw_data is not frame or list(discrete_columns) != list(discrete):
                return super().fit(raw_data, discrete_columns)
            self.__dict__.update(copy.deepcopy(fitted.__dict__))
            self._shared = True

        def transform(self, raw_data):
            if self._shared and raw_data is frame:
                return encoded.copy()
            return super().transform(raw_data)

    saved = ctgan_module.DataTransformer, tvae_module.DataTransformer
    ctgan_module.DataTransformer = tvae_module.DataTransformer = SharedDataTransformer
    try:
        yield
    finally:
        ctgan_module.DataTransformer, tvae_module.DataTransformer = saved


def ctgan_synthesizer(kind: str, train: pd.DataFrame, n: int, epochs: int, seed: int, *,
                      share_encoding: bool = True, timing: dict | None = None) -> pd.DataFrame:
    """Fit ctgan's ``TVAE`` or ``CTGAN`` (package defaults but ``epochs``) on the CPU and sample ``n``.
    With ``share_encoding`` the fitted DataTransformer is reused between calls on the same table
    (:func:`shared_ctgan_encoding`; same result, one fit instead of two); ``timing`` (a dict) then receives
    ``encoding_seconds``, the time of that one fit and encoding, whichever call paid it."""
    import ctgan
    cls = {"tvae": ctgan.TVAE, "ctgan": ctgan.CTGAN}[kind]
    if share_encoding and ctgan.__version__ != SHARING_VERIFIED_FOR:
        # the sharing replaces a class inside the package; it is verified (tests/test_tabular*.py) for one
        # release only, so any other release runs the package's own code, slower but certainly its own
        warnings.warn(f"ctgan {ctgan.__version__} is not {SHARING_VERIFIED_FOR}: TVAE and CTGAN fit their own "
                      "encodings (no sharing)", stacklevel=2)
        share_encoding = False
    discrete = [c for c in train.columns if c not in tables.CONTINUOUS]
    frame = _ctgan_frame(train)
    model = cls(epochs=epochs, enable_gpu=torch.cuda.is_available())
    model.set_random_state(seed)
    if share_encoding and timing is not None:
        timing["encoding_reused"] = _ctgan_key(frame, discrete) in _CTGAN_ENCODING
    sharing = shared_ctgan_encoding(frame, discrete) if share_encoding else contextlib.nullcontext()
    with torch.random.fork_rng(), sharing:
        torch.manual_seed(seed)
        np.random.seed(seed)
        model.fit(frame, discrete_columns=discrete)
        sample = model.sample(n)
    if share_encoding and timing is not None:
        timing["encoding_seconds"] = _ctgan_encoding(frame, discrete)[2]
    return _from_ctgan(sample, train)


# ------------------------------------------------------------------------------------ scoring

def score(train: pd.DataFrame, test: pd.DataFrame, synthetic: pd.DataFrame, seed: int = 0) -> dict:
    """TSTR F1 per classifier and mean, fidelity and privacy of one synthetic table."""
    t0 = time.perf_counter()
    f1 = synthesis.tstr_f1(synthetic, test, TARGET, reference=train, seed=seed)
    cols = synthesis.column_distances(train, synthetic)
    priv = synthesis.privacy(train, test, synthetic, n=2000, seed=seed)
    return {"f1": f1, "ks": float(cols.loc[cols.metric == "KS", "distance"].mean()),
            "tv": float(cols.loc[cols.metric == "TV", "distance"].mean()),
            "columns": cols.to_dict("list"),
            "assoc": synthesis.association_difference(train, synthetic),
            "dcr": dataclasses.asdict(priv), "dcr_ratio": priv.ratio, "score_seconds": time.perf_counter() - t0}


def run_synthesizer(run: Run, name: str, train: pd.DataFrame, test: pd.DataFrame, b: Budget, seed: int,
                    tt: tables.TableTransformer | None = None, beta: float | None = None) -> dict:
    """Fit (or load) one synthesizer with one seed, sample len(train) rows, score them; cached. ``beta``
    (our VAE only) is the KL weight chosen by ``select_beta``."""
    n = len(train)
    data_id = {"train": tables.table_checksum(train), "test": tables.table_checksum(test)}
    if name == "ours":
        if beta is None:
            raise TypeError("our VAE needs the beta chosen by select_beta")
        model, history = train_vae(run, tt, train, b, seed, beta=beta)

        def compute():
            g = torch.Generator(device=model.device).manual_seed(seed)
            t0 = time.perf_counter()
            synthetic = model.sample_rows(n, g)
            return {**score(train, test, synthetic, seed), "sample": synthetic,
                    "fit_seconds": float(sum(history.get("time", []))),
                    "sample_seconds": time.perf_counter() - t0}
        return evaluate_cached("tabular-synthesis", {"name": name, "seed": seed, **data_id}, compute,
                               run=run, model=model)

    def compute():
        t0, extra = time.perf_counter(), 0.0
        if name == "marginals":
            synthetic = independent_marginals(train, n, seed)
        elif name == "copula":
            synthetic = GaussianCopula().fit(train, seed).sample(n, seed)
        elif name in ("tvae", "ctgan"):
            timing: dict = {}
            synthetic = ctgan_synthesizer(name, train, n, b.epochs, seed, timing=timing)
            # the shared encoding counts for both peers: add its time where it was reused, not paid
            extra = timing["encoding_seconds"] if timing.get("encoding_reused") else 0.0
        else:
            raise ValueError(f"unknown synthesizer {name!r}")
        fit_seconds = time.perf_counter() - t0 + extra
        return {**score(train, test, synthetic, seed), "sample": synthetic, "fit_seconds": fit_seconds}

    epochs = b.epochs if name in ("tvae", "ctgan") else None
    return evaluate_cached("tabular-synthesis", {"name": name, "seed": seed, "epochs": epochs, **data_id},
                           compute, run=run)


def real_reference(run: Run, train: pd.DataFrame, test: pd.DataFrame) -> dict:
    """The same classifiers trained on the real training rows (the efficacy ceiling)."""
    data_id = {"train": tables.table_checksum(train), "test": tables.table_checksum(test)}
    return evaluate_cached("tabular-real-f1", data_id,
                           lambda: synthesis.tstr_f1(train, test, TARGET, reference=train, seed=0), run=run)


SYNTHESIZERS = ("marginals", "copula", "tvae", "ctgan", "ours")
LABELS = {"marginals": "independent marginals", "copula": "Gaussian copula", "tvae": "TVAE (ctgan)",
          "ctgan": "CTGAN (ctgan)", "ours": "our tabular VAE"}


def compare(run: Run, train: pd.DataFrame, test: pd.DataFrame, tt: tables.TableTransformer, b: Budget,
            beta: float) -> dict[str, list[dict]]:
    """Every synthesizer with its seeds: {name: [result per seed]}; our VAE with KL weight ``beta``."""
    out = {}
    for name in SYNTHESIZERS:
        seeds = b.seeds if name == "ours" else b.peer_seeds
        out[name] = [run_synthesizer(run, name, train, test, b, s, tt, beta=beta) for s in seeds]
    return out


def summary_table(results: dict[str, list[dict]], b: Budget, real: dict) -> pd.DataFrame:
    """One row per synthesizer: TSTR F1 (mean ± interval over seeds), fidelity, privacy, time."""
    rows = []
    for name, runs in results.items():
        f1, hw = mean_interval([r["f1"]["mean"] for r in runs])
        epochs = b.epochs if name in ("ours", "tvae", "ctgan") else "–"
        rows.append({"synthesizer": LABELS[name], "epochs": epochs, "seeds": len(runs),
                     "TSTR F1": f1, "±": hw,
                     "KS (cont.)": float(np.mean([r["ks"] for r in runs])),
                     "TV (cat.)": float(np.mean([r["tv"] for r in runs])),
                     "assoc. diff.": float(np.mean([r["assoc"] for r in runs])),
                     "DCR ratio": float(np.mean([r["dcr_ratio"] for r in runs])),
                     "fit s": float(np.mean([r["fit_seconds"] for r in runs]))})
    rows.append({"synthesizer": "real training rows", "epochs": "–", "seeds": 1, "TSTR F1": real["mean"],
                 "±": float("nan"), "KS (cont.)": 0.0, "TV (cat.)": 0.0, "assoc. diff.": 0.0,
                 "DCR ratio": float("nan"), "fit s": float("nan")})
    return pd.DataFrame(rows)


def per_classifier_table(results: dict[str, list[dict]], real: dict) -> pd.DataFrame:
    rows = {LABELS[n]: {c: float(np.mean([r["f1"][c] for r in runs])) for c in synthesis.CLASSIFIERS}
            for n, runs in results.items()}
    rows["real training rows"] = {c: real[c] for c in synthesis.CLASSIFIERS}
    short = {c: c.replace("Binary", "").replace("Classifier", "") for c in synthesis.CLASSIFIERS}
    return pd.DataFrame(rows).T.rename(columns=short)
