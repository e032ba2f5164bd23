"""Chapter 4.1's study module: the tables and comparisons the prose quotes, each checked against a
computation by hand (numpy, scipy's paired t-test), the Setup's input checks, and a tiny end-to-end run
that must come back from the cache on the second call without training or evaluating anything."""
import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from thesis_code.chapters import experiment as E
from thesis_code.profiles import Run


def _frame(seed: int = 0) -> pd.DataFrame:
    """Random per-seed metrics for three models on two data sets; PCA has one seed and no nll, as in
    run_experiment. Rows are shuffled so nothing relies on their order."""
    rng = np.random.default_rng(seed)
    rows = []
    for ds in ("mnist", "fashion_mnist"):
        for model in ("vae", "iwae"):
            for s in (0, 1, 2):
                rows.append({"dataset": ds, "model": model, "seed": s, "nll": rng.normal(100, 5),
                             "fcd": rng.normal(50, 10), "psnr": rng.normal(15, 1)})
        rows.append({"dataset": ds, "model": "pca", "seed": 0, "nll": np.nan, "fcd": np.nan,
                     "psnr": rng.normal(18, 1)})
    return pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)


def test_summarize_is_the_mean_and_sample_std_over_seeds():
    df = _frame()
    sm = E.summarize(df)
    for ds in ("mnist", "fashion_mnist"):
        for model in ("vae", "iwae", "pca"):
            vals = df[(df.dataset == ds) & (df.model == model)]
            row = sm[(sm.dataset == ds) & (sm.model == model)].iloc[0]
            assert row["n_seeds"] == len(vals)
            for col in ("nll", "fcd", "psnr"):
                v = vals[col].to_numpy()
                if np.isnan(v).all():
                    assert np.isnan(row[col])
                    continue
                assert row[col] == pytest.approx(float(np.sum(v) / len(v)))
                if len(v) > 1:
                    by_hand = math.sqrt(sum((x - v.mean()) ** 2 for x in v) / (len(v) - 1))
                    assert row[f"{col}_std"] == pytest.approx(by_hand)
                else:
                    assert np.isnan(row[f"{col}_std"])


def test_mean_pm_formats_mean_and_spread_or_a_dash():
    assert E.mean_pm({"nll": 1.23456, "nll_std": 0.5}, "nll", 2) == "1.23 ± 0.50"
    assert E.mean_pm({"nll": 1.23456, "nll_std": float("nan")}, "nll", 3) == "1.235"
    assert E.mean_pm({"nll": float("nan"), "nll_std": float("nan")}, "nll", 2) == "–"
    assert E.mean_pm({}, "nll", 2) == "–"


def test_paired_difference_pairs_the_runs_by_seed():
    df = _frame(1)
    sub = df[df.dataset == "fashion_mnist"]
    a = {r.seed: r.nll for r in sub[sub.model == "iwae"].itertuples()}
    b = {r.seed: r.nll for r in sub[sub.model == "vae"].itertuples()}
    d = np.array([a[s] - b[s] for s in sorted(a)])
    mean, sd, n = E.paired_difference(df, "fashion_mnist", "iwae", "vae", "nll")
    assert n == 3
    assert mean == pytest.approx(d.mean())
    assert sd == pytest.approx(d.std(ddof=1))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_compare_interval_agrees_with_scipys_paired_t_test(seed):
    df = _frame(seed)
    sub = df[df.dataset == "mnist"].sort_values("seed")
    a = sub[sub.model == "iwae"]["fcd"].to_numpy()
    b = sub[sub.model == "vae"]["fcd"].to_numpy()
    c = E.compare(df, "mnist", "iwae", "vae", "fcd")
    res = stats.ttest_rel(a, b)
    ci = res.confidence_interval(0.95)
    assert c.low == pytest.approx(ci.low) and c.high == pytest.approx(ci.high)
    assert c.excludes_zero == bool(res.pvalue < 0.05)
    assert c.direction == ("lower" if a.mean() < b.mean() else "higher")
    assert ("excludes" in c.verdict) == c.excludes_zero


def test_compare_with_one_seed_has_no_interval():
    df = _frame()
    df = df[df.seed == 0]
    c = E.compare(df, "mnist", "iwae", "vae")
    assert c.n == 1 and math.isnan(c.half_width) and c.excludes_zero is None
    assert "single seed" in c.verdict
    with pytest.raises(ValueError, match="no seed"):
        E.compare(df, "mnist", "iwae", "pca")      # PCA has no nll


def test_best_model_is_the_argmin_of_the_means():
    df = _frame(2)
    sm = E.summarize(df)
    means = df[df.dataset == "mnist"].groupby("model")["nll"].mean().dropna()
    assert E.best_model(sm, "mnist", "nll") == means.idxmin()
    assert E.best_model(sm, "mnist", "nll", lowest=False) == means.idxmax()
    assert E.best_model(sm, "mnist", "psnr", models=("pca",)) == "pca"


def test_results_table_cells_are_mean_pm_std_and_the_caption_is_one_line():
    df = _frame(3)
    sm = E.summarize(df)
    md = E.results_table(sm, "mnist", ("nll", "psnr"), caption="A caption.", name="tbl-x")
    lines = md.splitlines()
    assert lines[0] == ":::{table} A caption." and lines[1] == ":name: tbl-x" and lines[-1] == ":::"
    body = [line for line in lines if line.startswith("| ")][1:]          # skip the header row
    assert len(body) == 3                                                  # vae, iwae, pca
    cells = {row.split(" | ")[0].strip("| "): [c.strip(" |") for c in row.split(" | ")] for row in body}
    v = df[(df.dataset == "mnist") & (df.model == "vae")]["nll"].to_numpy()
    assert cells[E.LABELS["vae"]][1] == f"{v.mean():.2f} ± {v.std(ddof=1):.2f}"
    assert cells[E.LABELS["pca"]][1] == "–"                               # no likelihood
    p = df[(df.dataset == "mnist") & (df.model == "pca")]["psnr"].iloc[0]
    assert cells[E.LABELS["pca"]][2] == f"{p:.2f}" and cells[E.LABELS["pca"]][3] == "1"


def test_setup_rejects_unknown_models_and_data_sets():
    with pytest.raises(ValueError, match="unknown models.*'vea'"):
        E.Setup(models=("vae", "vea"))
    with pytest.raises(ValueError, match="unknown data sets.*'cifar'"):
        E.Setup(datasets=("cifar",))
    with pytest.raises(ValueError, match="not trained by gradient descent"):
        E.model_config("pca", E.Setup())


def test_a_tiny_run_has_the_documented_shape_and_comes_back_from_the_cache(monkeypatch):
    run = Run(profile="smoke", device=torch.device("cpu"))
    s = E.Setup(models=("vae", "pca"), datasets=("mnist",), seeds=(0, 1), n_train=500, epochs=1,
                n_pseudo=5, n_test=20, k_eval=5, n_samples=60)
    df = E.run_experiment(run, s)
    assert list(zip(df.model, df.seed)) == [("vae", 0), ("vae", 1), ("pca", 0)]      # PCA: one seed
    vae, pca = df[df.model == "vae"], df[df.model == "pca"].iloc[0]
    for col in ("nll", "nll_se", "bpd", "neg_elbo", "rate", "active_units", "fcd", "precision", "recall",
                "bce", "mse", "psnr", "ssim"):
        assert vae[col].notna().all(), col
    for col in ("nll", "neg_elbo", "rate", "fcd", "precision", "recall", "bce", "train_seconds"):
        assert pd.isna(pca.get(col, np.nan)), col
    assert pca[["mse", "psnr", "ssim"]].notna().all()
    # bits/dim is the NLL over 784 pixels in base 2; the bound is at least the estimate on average
    assert np.allclose(vae.bpd, vae.nll / (784 * math.log(2)), rtol=1e-5)
    assert (vae.neg_elbo >= vae.nll - 3 * vae.nll_se).all()
    assert ((vae.precision >= 0) & (vae.precision <= 1) & (vae.recall >= 0) & (vae.recall <= 1)).all()

    # The second call must neither train nor evaluate: every result comes from the cache.
    def forbidden(*a, **k):
        raise AssertionError("recomputed a cached result")
    import thesis_code.experiments as X
    monkeypatch.setattr(X, "fit", forbidden)
    for f in ("likelihood_metrics", "sample_metrics", "reconstruction_metrics"):
        monkeypatch.setattr(E, f, forbidden)
    again = E.run_experiment(run, s)
    cols = [c for c in df.columns if c != "train_seconds"]
    pd.testing.assert_frame_equal(df[cols], again[cols])
