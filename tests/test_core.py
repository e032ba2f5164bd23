"""The modality-agnostic core: likelihoods, schedules, the cache's code hash and lock, cached evaluation,
and a second "Run All" of a notebook in the same kernel."""
import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from scipy import stats
from torch import distributions as D

from thesis_code import experiments, likelihoods, storage
from thesis_code.models import VAE, VAEConfig
from thesis_code.profiles import ParameterError, Run, start
from thesis_code.schedules import Schedule
from thesis_code.train import TrainConfig

torch.set_num_threads(1)


# ----------------------------------------------------------------------------- likelihoods

def test_bernoulli_and_gaussian_against_torch_distributions():
    g = torch.Generator().manual_seed(0)
    out = torch.randn(3, 2, 1, 4, 4, generator=g)          # (samples, B, C, H, W) decoder output
    x = torch.bernoulli(torch.full((2, 1, 4, 4), 0.4), generator=g)
    lik = likelihoods.Bernoulli()
    expected = D.Independent(D.Bernoulli(logits=out), 3).log_prob(x)
    assert torch.allclose(lik.log_prob(x, lik.params(out), event_dims=3), expected, atol=1e-5)

    xg = torch.rand(2, 1, 4, 4, generator=g)
    gauss = likelihoods.Gaussian(learn_variance=True, min_sigma=0.05)
    raw = torch.randn(3, 2, 2, 4, 4, generator=g) * 5      # mean and variance channels
    mean, logvar = gauss.params(raw, channel_dim=2)
    expected = D.Independent(D.Normal(mean, torch.exp(0.5 * logvar)), 3).log_prob(xg)
    assert torch.allclose(gauss.log_prob(xg, (mean, logvar), event_dims=3), expected, atol=1e-4)


def test_the_learned_variance_has_a_floor():
    gauss = likelihoods.Gaussian(learn_variance=True, min_sigma=0.05)
    raw = torch.full((1, 2, 3, 3), -1e4)                   # the decoder pushes the variance towards 0
    _, logvar = gauss.params(raw, channel_dim=1)
    assert torch.all(logvar >= 2 * math.log(0.05) - 1e-6)
    # so a constant pixel predicted exactly has a bounded log-density: -log(sigma sqrt(2 pi)) per pixel
    mean = torch.zeros(1, 1, 3, 3)
    lp = gauss.log_prob(mean, (mean, logvar), event_dims=3)
    assert float(lp) == pytest.approx(9 * -math.log(0.05 * math.sqrt(2 * math.pi)), rel=1e-4)


def test_discretized_logistic_is_a_distribution_over_256_levels():
    lik = likelihoods.DiscretizedLogistic()
    levels = torch.arange(256, dtype=torch.float64) / 255
    for mean, log_scale in [(0.0, -2.0), (0.7, -4.0), (-0.99, -1.0), (0.3, -6.5)]:
        params = (torch.full((256,), mean, dtype=torch.float64), torch.full((256,), log_scale, dtype=torch.float64))
        lp = lik.log_prob_per_dim(levels, params)
        assert float(torch.logsumexp(lp, 0).exp()) == pytest.approx(1.0, abs=1e-4)
        # an interior bin against scipy's logistic CDF
        k = 128
        xc, half, s = 2 * k / 255 - 1, 1 / 255, math.exp(log_scale)
        expected = stats.logistic.cdf(xc + half, mean, s) - stats.logistic.cdf(xc - half, mean, s)
        if expected > 1e-4:
            assert float(lp[k].exp()) == pytest.approx(expected, rel=1e-4)
    assert lik.discrete and not likelihoods.Gaussian().discrete


def test_categorical_masks_padding_and_matches_torch():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 5, 7, generator=g)             # (B, T, V)
    tokens = torch.tensor([[3, 4, 2, 0, 0], [1, 6, 5, 2, 0]])
    lik = likelihoods.Categorical(pad=0)
    expected = (D.Categorical(logits=logits).log_prob(tokens) * (tokens != 0)).sum(-1)
    assert torch.allclose(lik.log_prob(tokens, logits), expected, atol=1e-5)


def test_vae_bits_per_dim_only_for_discrete_likelihoods():
    from thesis_code import evaluate
    x = torch.rand(6, 1, 28, 28)
    torch.manual_seed(0)
    gauss = VAE(VAEConfig(latent_dim=2, hidden=(8,), likelihood="gaussian"))
    res = evaluate.test_log_likelihood(gauss, x, k=4)
    assert res.bits_per_dim is None and "density" in str(res)
    logistic = VAE(VAEConfig(latent_dim=2, hidden=(8,), likelihood="logistic"))
    xq = torch.round(x * 255) / 255
    res = evaluate.test_log_likelihood(logistic, xq, k=4)
    assert res.bits_per_dim == pytest.approx(res.nll / (784 * math.log(2)))
    assert logistic.decode_mean(torch.zeros(1, 2)).shape == (1, 1, 28, 28)


# ----------------------------------------------------------------------------- schedules

def test_schedules_against_their_formulas():
    lin = Schedule("linear", start=0.2, end=1.0, steps=10)
    assert [lin(s) for s in (0, 5, 10, 50)] == pytest.approx([0.2, 0.6, 1.0, 1.0])
    logi = Schedule("logistic", start=0.0, end=1.0, steps=2500, steepness=0.0025)
    for step in (0, 1000, 2500, 6000):
        assert logi(step) == pytest.approx(1 / (1 + np.exp(-0.0025 * (step - 2500))))
    assert Schedule("constant", end=0.75)(123) == 0.75
    with pytest.raises(ValueError, match="unknown schedule kind"):
        Schedule("cosine")


# ----------------------------------------------------------------------------- the cache

def test_source_hash_follows_the_file_contents(tmp_path):
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("x = 1\n")
    b.write_text("y = 2\n")
    h1 = storage.source_hash(a, b)
    assert storage.source_hash(b, a) == h1                 # order of arguments does not matter
    storage._SOURCE_HASHES.clear()
    a.write_text("x = 2\n")
    assert storage.source_hash(a, b) != h1


def test_training_code_hash_covers_the_model_class_and_not_plots():
    files = {p.name for p in experiments._class_files(VAE(VAEConfig(latent_dim=2, hidden=(4,))))}
    assert "vae.py" in files
    sources = {str(p.relative_to(experiments.PACKAGE)) for p in experiments._package_files(*experiments.TRAINING_SOURCES)}
    assert {"train.py", "objectives.py", "likelihoods.py"} <= sources and "plots.py" not in sources


LOCK_WORKER = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    from thesis_code import storage
    log = Path(sys.argv[1]) / "computed.log"

    def compute(folder):
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\\n")
        time.sleep(1.0)                    # long enough for the other process to arrive meanwhile
        return {"value": 42}

    print(storage.cached("shared", {"k": 1}, "smoke", compute)["value"])
""")


def test_two_processes_compute_a_cache_entry_once(tmp_path):
    env = {"THESIS_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    procs = [subprocess.Popen([sys.executable, "-c", LOCK_WORKER, str(tmp_path)], env=env,
                              stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert outs == ["42", "42"]
    assert len((tmp_path / "computed.log").read_text().split()) == 1


def test_evaluate_cached_keys_on_the_model_and_the_config(tmp_path, monkeypatch):
    monkeypatch.setenv("THESIS_CACHE_DIR", str(tmp_path))
    run = Run(profile="smoke", device=torch.device("cpu"))
    x = torch.rand(32, 1, 28, 28)
    tc = TrainConfig(epochs=1, batch_size=16, progress=False, device="cpu", binarize=True)
    model, _ = experiments.train_cached("m", lambda: VAE(VAEConfig(latent_dim=2, hidden=(8,))), tc, x, run=run)
    calls = []

    def compute():
        calls.append(1)
        return torch.tensor([1.0, 2.0])

    for _ in range(2):
        assert torch.equal(experiments.evaluate_cached("e", {"k": 5}, compute, run=run, model=model),
                           torch.tensor([1.0, 2.0]))
    assert len(calls) == 1
    experiments.evaluate_cached("e", {"k": 6}, compute, run=run, model=model)
    assert len(calls) == 2
    with pytest.raises(ValueError, match="cache_key"):
        experiments.evaluate_cached("e", {}, compute, run=run, model=VAE(VAEConfig(latent_dim=2, hidden=(8,))))


def test_config_key_is_stable_across_processes():
    code = "from thesis_code.storage import config_key; print(config_key({'a': 1, 'b': (2, 3)}))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert other == storage.config_key({"b": (2, 3), "a": 1})


# ----------------------------------------------------------------------------- a second Run All

def test_start_accepts_a_second_run_all_but_not_a_typo():
    ns = {"profile": "smoke", "device": "cpu", "seed": 0, "latent_dim": 2}
    start(ns, "latent_dim")
    ns.update(model="trained", x_train=[1, 2, 3], history={})   # the notebook's own variables
    ns.update(profile="smoke", device="cpu", seed=0)              # the parameters cell runs again
    run = start(ns, "latent_dim")
    assert run.params == {"latent_dim": 2}
    # a fresh kernel with a papermill typo is still rejected
    with pytest.raises(ParameterError, match="latnt_dim"):
        start({"profile": "smoke", "device": "cpu", "seed": 0, "latnt_dim": 3}, "latent_dim")


def test_dependencies_point_one_way():
    """The library never imports a chapter module, and no model imports the trainer (read from the
    source with ast, so late imports inside functions count too)."""
    import ast
    from pathlib import Path
    root = Path(__file__).resolve().parents[1] / "thesis_code"

    def imported(path: Path) -> set[str]:
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = "." * node.level + (node.module or "")
                names.add(base)
                names.update(f"{base}.{a.name}" if base.endswith(".") is False else base + a.name
                             for a in node.names)
            elif isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
        return names

    offenders = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root)
        if rel.parts[0] == "chapters":
            continue
        names = imported(path)
        if any("chapters" in n.split(".") for n in names):
            offenders.append(f"{rel} imports a chapter module")
        if rel.parts[0] == "models" and any(n.split(".")[-1] == "train" or n.endswith(".train") for n in names):
            offenders.append(f"{rel} imports the trainer")
    assert not offenders, offenders
