"""How good is a synthetic table? Efficacy, fidelity and privacy, on a common feature encoding.

* **Machine-learning efficacy, train on synthetic, test on real (TSTR)**, the SDGym protocol (Xu et al.
  2019, section 5): fit a classifier of the target on the synthetic rows, score the binary F1 of the
  positive class on real test rows; average over SDGym's four classifiers (decision tree, depth 15,
  balanced classes; AdaBoost; logistic regression, lbfgs, balanced, 50 iterations; MLP with one hidden
  layer of 50, 50 iterations). The classifiers are sdmetrics 0.32's ``Binary*`` efficacy metrics, called
  with two precautions (DESIGN.md): the target is the boolean ``>50K`` column (with string labels
  sdmetrics takes the first label it meets as the positive class, which is ``<=50K`` on Adult), and the
  features are one-hot encoded *with the categories of the real data* before they reach sdmetrics (it would
  otherwise fit its encoder on the synthetic rows and fail on a test category the synthesizer never
  produced). sdmetrics then adds its imputer and ``RobustScaler``, as SDGym does. The classifiers' own
  randomness is fixed by seeding numpy's global generator before each fit (they take ``random_state=None``).
  One change of memory layout, not of settings: the MLP receives its features C-contiguous (sdmetrics'
  pipeline hands it a Fortran-ordered array, whose row gathers made up about 40 % of its fit time); its
  predictions are unchanged (``tests/test_tables.py`` compares them with the plain pipeline's).
* **Fidelity**: per-column distances between the real and the synthetic marginals (Kolmogorov–Smirnov
  statistic for continuous columns, total variation distance for categorical ones), and the mean absolute
  difference between the pairwise association matrices (Cramér's V of every pair of columns, continuous
  columns cut into deciles of the real data).
* **Privacy**: the distance from each synthetic row to its closest real training row (DCR), compared with the
  same distance for real rows that were held out of training. A synthesizer that copies training rows has
  DCRs well below the held-out ones (and many exact zeros).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

CLASSIFIERS = ("BinaryDecisionTreeClassifier", "BinaryAdaBoostClassifier", "BinaryLogisticRegression",
               "BinaryMLPClassifier")


def _metric(name: str):
    """sdmetrics' efficacy metric ``name``; the MLP one with C-contiguous input (module docstring)."""
    from sdmetrics.single_table import efficacy
    if name != "BinaryMLPClassifier":
        return getattr(efficacy, name)
    global _MLP_METRIC
    if _MLP_METRIC is None:
        from sklearn.neural_network import MLPClassifier

        class RowMajorMLPClassifier(MLPClassifier):
            """sklearn's MLPClassifier (same parameters, same algorithm) fitted on a row-major copy of X:
            its mini-batch loop gathers rows, which is slow on a column-major array."""

            def fit(self, X, y, **kw):
                return super().fit(np.ascontiguousarray(X), y, **kw)

        _MLP_METRIC = type("BinaryMLPClassifier", (efficacy.BinaryMLPClassifier,),
                           {"MODEL": RowMajorMLPClassifier})
    return _MLP_METRIC


_MLP_METRIC = None


def _is_continuous(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)


def _check_columns(real: pd.DataFrame, synthetic: pd.DataFrame) -> None:
    missing = [c for c in real.columns if c not in synthetic.columns]
    if missing:
        raise ValueError(f"synthetic table lacks column(s) {missing}")
    if len(synthetic) == 0:
        raise ValueError("the synthetic table is empty")


def one_hot_features(df: pd.DataFrame, reference: pd.DataFrame, target: str) -> pd.DataFrame:
    """Features of ``df`` (all columns but ``target``) with categorical columns one-hot encoded over the
    categories of ``reference`` (the real data): a synthetic category outside them raises ValueError."""
    cols = {}
    for c in reference.columns:
        if c == target:
            continue
        if _is_continuous(reference[c]):
            cols[c] = df[c].to_numpy(dtype=np.float64)
        else:
            ref = reference[c]
            cats = list(ref.cat.categories) if isinstance(ref.dtype, pd.CategoricalDtype) else sorted(ref.unique())
            values = df[c].astype(object).to_numpy()
            unknown = set(values) - set(cats)
            if unknown:
                raise ValueError(f"column {c!r} has categories absent from the real data: {sorted(map(str, unknown))[:5]}")
            for k in cats:
                cols[f"{c}={k}"] = (values == k).astype(np.float64)
    return pd.DataFrame(cols, index=df.index)


def tstr_f1(train: pd.DataFrame, test: pd.DataFrame, target: str, *, reference: pd.DataFrame | None = None,
            classifiers: Sequence[str] = CLASSIFIERS, seed: int = 0) -> dict[str, float]:
    """Binary F1 of the positive class (``target`` must be boolean, True = positive) on ``test`` for each
    classifier fitted on ``train``; key ``"mean"`` averages them. ``reference`` (default ``test``) gives the
    categories of the one-hot encoding: pass the real data."""
    if not pd.api.types.is_bool_dtype(train[target].dtype) or not pd.api.types.is_bool_dtype(test[target].dtype):
        raise TypeError(f"target column {target!r} must be boolean (True = positive class) in both tables, "
                        f"got {train[target].dtype} and {test[target].dtype}")
    reference = test if reference is None else reference
    _check_columns(test, train)
    xtr = one_hot_features(train, reference, target)
    xte = one_hot_features(test, reference, target)
    xtr[target] = train[target].to_numpy()
    xte[target] = test[target].to_numpy()
    scores = {}
    import warnings
    state = np.random.get_state()                   # restored below: the caller's numpy RNG is untouched
    try:
        for name in classifiers:
            np.random.seed(seed)                    # the sklearn models draw from numpy's global RNG
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")     # ConvergenceWarning at 50 iterations (SDGym's setting)
                scores[name] = float(_metric(name).compute(xte, xtr, target=target))
    finally:
        np.random.set_state(state)
    scores["mean"] = float(np.mean([scores[n] for n in classifiers]))
    return scores


# ------------------------------------------------------------------------------------ fidelity

def column_distances(real: pd.DataFrame, synthetic: pd.DataFrame) -> pd.DataFrame:
    """One row per column: ``metric`` ("KS" or "TV") and ``distance`` in [0, 1] (0 = same marginal)."""
    from scipy.stats import ks_2samp
    _check_columns(real, synthetic)
    rows = []
    for c in real.columns:
        if _is_continuous(real[c]):
            d = ks_2samp(real[c].to_numpy(float), synthetic[c].to_numpy(float)).statistic
            rows.append((c, "KS", float(d)))
        else:
            p = real[c].astype(object).value_counts(normalize=True)
            q = synthetic[c].astype(object).value_counts(normalize=True)
            keys = p.index.union(q.index)
            d = 0.5 * np.abs(p.reindex(keys, fill_value=0) - q.reindex(keys, fill_value=0)).sum()
            rows.append((c, "TV", float(d)))
    return pd.DataFrame(rows, columns=["column", "metric", "distance"])


def _discretize(real: pd.DataFrame, df: pd.DataFrame, bins: int) -> pd.DataFrame:
    out = {}
    for c in real.columns:
        if _is_continuous(real[c]):
            edges = np.unique(np.quantile(real[c].to_numpy(float), np.linspace(0, 1, bins + 1)[1:-1]))
            out[c] = np.searchsorted(edges, df[c].to_numpy(float), side="right")
        else:
            out[c] = pd.factorize(df[c].astype(object).astype(str), sort=True)[0]
    return pd.DataFrame(out)


def contingency_table(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Counts of every observed pair of values of two integer-coded variables (rows: the values of ``a``
    that occur, columns: those of ``b``), as ``pd.crosstab`` would give them, by one ``bincount``."""
    ia = np.unique(np.asarray(a), return_inverse=True)[1]
    ib = np.unique(np.asarray(b), return_inverse=True)[1]
    ra, rb = int(ia.max(initial=-1)) + 1, int(ib.max(initial=-1)) + 1
    return np.bincount(ia.ravel() * rb + ib.ravel(), minlength=ra * rb).reshape(ra, rb).astype(float)


def cramers_v(a: np.ndarray, b: np.ndarray) -> float:
    """Cramér's V of two integer-coded variables (0: independent, 1: one determines the other)."""
    table = contingency_table(a, b)
    n = table.sum()
    r, k = table.shape
    if min(r, k) < 2:
        return 0.0
    expected = table.sum(1, keepdims=True) @ table.sum(0, keepdims=True) / n
    chi2 = ((table - expected) ** 2 / expected).sum()
    return float(np.sqrt(chi2 / n / (min(r, k) - 1)))


def association_matrix(real: pd.DataFrame, df: pd.DataFrame | None = None, bins: int = 10) -> pd.DataFrame:
    """Cramér's V between every pair of columns of ``df`` (default ``real``), continuous columns cut at
    the deciles of ``real``."""
    d = _discretize(real, real if df is None else df, bins)
    cols = list(d.columns)
    m = np.eye(len(cols))
    for i in range(len(cols)):
        for j in range(i + 1, len(cols)):
            m[i, j] = m[j, i] = cramers_v(d[cols[i]].to_numpy(), d[cols[j]].to_numpy())
    return pd.DataFrame(m, index=cols, columns=cols)


def association_difference(real: pd.DataFrame, synthetic: pd.DataFrame, bins: int = 10) -> float:
    """Mean absolute difference of the off-diagonal pairwise associations (Cramér's V)."""
    _check_columns(real, synthetic)
    a, b = association_matrix(real, bins=bins).to_numpy(), association_matrix(real, synthetic, bins).to_numpy()
    off = ~np.eye(len(a), dtype=bool)
    return float(np.abs(a - b)[off].mean())


# ------------------------------------------------------------------------------------ privacy

def _distance_features(df: pd.DataFrame, reference: pd.DataFrame) -> np.ndarray:
    """Continuous columns min-max scaled by the reference's range; categories one-hot (so a differing
    category adds 1 to the squared distance, twice a half); the target counts as a column."""
    cols = []
    for c in reference.columns:
        if _is_continuous(reference[c]):
            lo, hi = float(reference[c].min()), float(reference[c].max())
            cols.append(((df[c].to_numpy(float) - lo) / max(hi - lo, 1e-12))[:, None])
        else:
            ref = reference[c]
            cats = list(ref.cat.categories) if isinstance(ref.dtype, pd.CategoricalDtype) else sorted(ref.unique())
            v = df[c].astype(object).to_numpy()
            cols.append(np.stack([(v == k) for k in cats], 1).astype(float) / np.sqrt(2.0))
    return np.concatenate(cols, 1)


def distance_to_closest_record(query: pd.DataFrame, records: pd.DataFrame) -> np.ndarray:
    """Euclidean distance of each row of ``query`` to its nearest row of ``records`` (same columns)."""
    from sklearn.neighbors import NearestNeighbors
    _check_columns(records, query)
    r = _distance_features(records, records)
    q = _distance_features(query, records)
    nn = NearestNeighbors(n_neighbors=1, algorithm="brute").fit(r)
    return nn.kneighbors(q)[0][:, 0]


@dataclass(frozen=True)
class PrivacyReport:
    dcr_synthetic_median: float     # median DCR of synthetic rows to the training rows
    dcr_holdout_median: float       # the same for held-out real rows (the reference level)
    exact_copies_synthetic: float   # fraction of synthetic rows equal to some training row
    exact_copies_holdout: float     # the same for held-out real rows (real duplicates exist)

    @property
    def ratio(self) -> float:
        """Median synthetic DCR over median held-out DCR (about 1 or more: no sign of copying)."""
        return self.dcr_synthetic_median / max(self.dcr_holdout_median, 1e-12)


def privacy(train: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame, n: int = 2000,
            seed: int = 0) -> PrivacyReport:
    """DCR of ``n`` synthetic rows and of ``n`` held-out real rows to the real training rows."""
    rng = np.random.default_rng(seed)
    s = synthetic.iloc[rng.choice(len(synthetic), min(n, len(synthetic)), replace=False)]
    h = holdout.iloc[rng.choice(len(holdout), min(n, len(holdout)), replace=False)]
    ds, dh = distance_to_closest_record(s, train), distance_to_closest_record(h, train)
    return PrivacyReport(float(np.median(ds)), float(np.median(dh)), float((ds < 1e-9).mean()),
                         float((dh < 1e-9).mean()))
