"""The trainer: determinism, exact resume after a crash, the NaN guard, phases, and the experiment cache."""
import dataclasses
import math

import pytest
import torch
from torch import nn

from thesis_code import experiments
from thesis_code.experiments import train_cached
from thesis_code.models import VAE, VAEConfig
from thesis_code.profiles import Run
from thesis_code.train import CHECKPOINT_NAME, NonFiniteLossError, Phase, TrainConfig, as_dataset, fit

torch.set_num_threads(1)
CFG = VAEConfig(latent_dim=2, hidden=(12,), estimator="mc")   # mc: the model's noise matters too
TC = TrainConfig(epochs=3, batch_size=16, seed=3, binarize=True, progress=False, device="cpu")


def data(n=80):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g)


def fresh(cls=VAE, seed=0, **kw):
    torch.manual_seed(seed)
    return cls(CFG, **kw)


class Crashing(VAE):
    """Raises (like a killed process) at the given loss call; fails with NaN instead when ``nan``."""

    def __init__(self, config, at_call, nan=False):
        super().__init__(config)
        self.at_call, self.nan, self.calls = at_call, nan, 0

    def loss(self, x, y=None):
        self.calls += 1
        loss, metrics = super().loss(x, y)
        if self.calls >= self.at_call:
            if not self.nan:
                raise KeyboardInterrupt("simulated crash")
            loss = loss * float("nan")
        return loss, metrics


def assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_training_reduces_the_loss_and_is_deterministic():
    x, _ = data()
    m1, m2 = fresh(), fresh()
    h1 = fit(m1, x, config=TrainConfig(**{**TC.__dict__, "epochs": 4}))
    h2 = fit(m2, x, config=TrainConfig(**{**TC.__dict__, "epochs": 4}))
    assert h1["epoch"] == [1, 2, 3, 4] and set(h1) == {"epoch", "loss", "rec", "kl", "time"}
    assert h1["loss"][-1] < h1["loss"][0]
    assert h1["loss"] == h2["loss"]
    assert_same_weights(m1, m2)
    m3 = fresh()
    fit(m3, x, config=TrainConfig(**{**TC.__dict__, "seed": 4}))
    assert not torch.equal(m3.state_dict()["encoder.0.weight"], m1.state_dict()["encoder.0.weight"])


def test_resume_after_a_crash_gives_bit_identical_weights(tmp_path):
    x, _ = data()                       # 5 batches per epoch
    straight = fresh()
    h_straight = fit(straight, x, config=TC, folder=tmp_path / "straight")

    crashing = fresh(Crashing, at_call=13)       # dies in epoch 3, after two checkpoints
    with pytest.raises(KeyboardInterrupt):
        fit(crashing, x, config=TC, folder=tmp_path / "resumed")
    saved = torch.load(tmp_path / "resumed" / CHECKPOINT_NAME, weights_only=False)
    assert saved["epoch"] == 2
    resumed = fresh(seed=123)            # a new process: different initial weights, global RNG state
    torch.randn(7)
    h_resumed = fit(resumed, x, config=TC, folder=tmp_path / "resumed")
    assert_same_weights(straight, resumed)
    assert h_resumed["loss"] == h_straight["loss"] and h_resumed["epoch"] == [1, 2, 3]
    # a finished run is loaded, not trained again
    again = fresh(seed=7)
    fit(again, x, config=TC, folder=tmp_path / "resumed")
    assert_same_weights(straight, again)


def test_resume_refuses_a_different_config(tmp_path):
    x, _ = data()
    fit(fresh(), x, config=TrainConfig(**{**TC.__dict__, "epochs": 1}), folder=tmp_path)
    with pytest.raises(ValueError, match="different TrainConfig.*lr"):
        fit(fresh(), x, config=TrainConfig(**{**TC.__dict__, "lr": 0.1}), folder=tmp_path)


def test_nan_loss_raises_and_keeps_the_last_good_checkpoint(tmp_path):
    x, _ = data()
    model = fresh(Crashing, at_call=8, nan=True)      # NaN in epoch 2, batch 3
    with pytest.raises(NonFiniteLossError, match=r"epoch 2, batch 3/5, phase 'loss'"):
        fit(model, x, config=TC, folder=tmp_path)
    saved = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=False)
    assert saved["epoch"] == 1
    one_epoch = fresh()
    fit(one_epoch, x, config=TrainConfig(**{**TC.__dict__, "epochs": 1}))
    for k, v in one_epoch.state_dict().items():
        assert torch.equal(saved["model"][k], v), k
    assert all(torch.isfinite(p).all() for p in model.parameters())   # the bad step was not taken


def test_wrong_input_shape_is_reported_before_training():
    with pytest.raises(ValueError, match=r"expected training data of shape \(B, 1, 28, 28\), got \(80, 784\)"):
        fit(fresh(), data()[0].flatten(1), config=TC)


class TwoPhase(nn.Module):
    """Phase 'a' fits u to the data mean, phase 'b' fits v to u: checks ordering and separate optimizers."""

    def __init__(self):
        super().__init__()
        self.u = nn.Parameter(torch.zeros(1))
        self.v = nn.Parameter(torch.zeros(1))
        self.seen = []

    def phases(self):
        def loss_a(x, y):
            self.seen.append(x.clone())
            loss = (self.u - x.mean()).pow(2).sum()
            return loss, {"loss": loss.item()}

        def loss_b(x, y):
            loss = (self.v - self.u.detach()).pow(2).sum()
            return loss, {"loss": loss.item(), "gap": loss.item()}
        return [Phase("a", [self.u], loss_a), Phase("b", [self.v], loss_b)]


def test_phases_binarization_and_batch_cap():
    x = torch.full((64, 3), 0.5)
    model = TwoPhase()
    cfg = TrainConfig(epochs=150, batch_size=8, lr=0.05, binarize=True, progress=False, device="cpu",
                      max_batches_per_epoch=2)
    h = fit(model, x, config=cfg)
    assert set(h) == {"epoch", "time", "a/loss", "b/loss", "gap"}   # shared names get a prefix
    assert len(model.seen) == 150 * 2                       # the cap on batches per epoch
    assert all(set(s.unique().tolist()) <= {0.0, 1.0} for s in model.seen)   # binarized batches
    assert abs(model.u.item() - 0.5) < 0.1 and abs(model.v.item() - model.u.item()) < 0.1


def test_train_cached_trains_once_and_retrains_on_a_new_config(tmp_path, monkeypatch):
    monkeypatch.setenv("THESIS_CACHE_DIR", str(tmp_path))
    calls = []
    real_fit = experiments.fit
    monkeypatch.setattr(experiments, "fit", lambda *a, **k: calls.append(1) or real_fit(*a, **k))
    x, _ = data()
    run = Run(profile="smoke", device=torch.device("cpu"))
    tc = TrainConfig(**{**TC.__dict__, "epochs": 1})
    m1, h1 = train_cached("t", lambda: fresh(seed=0), tc, x, run=run)          # model_config = model.config
    m2, h2 = train_cached("t", lambda: fresh(seed=9), tc, x, run=run, model_config=CFG)
    assert len(calls) == 1 and h1 == h2 and not m2.training
    assert_same_weights(m1, m2)
    assert list((tmp_path / "smoke").iterdir())[0].name.startswith("t-")
    assert not any(p.name == "checkpoints" for p in tmp_path.rglob("*"))      # cleaned after training
    assert m1.cache_key == m2.cache_key and len(m1.cache_key) == 16
    train_cached("t", lambda: fresh(), TrainConfig(**{**tc.__dict__, "lr": 1e-2}), x, run=run)
    x2 = x.clone()
    x2[0, 0, 0, 0] += 0.5                       # one pixel of other data: the content hash changes
    train_cached("t", lambda: fresh(), tc, x2, run=run)
    train_cached("t", lambda: fresh(), tc, x[:40], run=run)
    assert len(calls) == 4
    # progress bars and the device do not change the result, so they do not change the key
    train_cached("t", lambda: fresh(), TrainConfig(**{**tc.__dict__, "progress": True}), x, run=run)
    assert len(calls) == 4
    # a change in the code that trains (here: a different hash of the training sources) retrains
    monkeypatch.setattr(experiments, "training_code_hash", lambda model: "0123456789abcdef")
    train_cached("t", lambda: fresh(), tc, x, run=run)
    assert len(calls) == 5


# ----------------------------------------------------------------------------- the global step and schedules

class StepDriven(nn.Module):
    """A model whose loss depends on the trainer's step through a schedule and on the global RNG (like
    word dropout): resuming must reproduce both."""

    def __init__(self):
        super().__init__()
        from thesis_code.schedules import Schedule
        self.w = nn.Parameter(torch.zeros(3))
        self.schedule = Schedule("logistic", start=0.0, end=1.0, steps=6, steepness=0.8)
        self.steps_seen = []
        self.config = {"toy": "step-driven"}

    def set_step(self, step):
        self.step = step
        self.steps_seen.append(step)

    def loss(self, x, y=None):
        keep = (torch.rand(x.shape[0], 1) > 0.3).float()          # global RNG, like word dropout
        weight = self.schedule(self.step)
        loss = ((x.flatten(1)[:, :3] * keep - self.w) ** 2).mean() + weight * (self.w ** 2).sum()
        return loss, {"loss": loss.item(), "weight": weight}


def test_the_step_drives_schedules_and_resumes_exactly(tmp_path):
    x, _ = data(40)                                              # 3 batches of 16 per epoch
    tc = TrainConfig(epochs=4, batch_size=16, seed=1, progress=False, device="cpu", checkpoint_every=2)
    straight = StepDriven()
    h1 = fit(straight, x, config=tc, folder=tmp_path / "a")
    assert straight.steps_seen == list(range(12))                # one step per mini-batch, over epochs
    # the schedule's values, averaged per epoch (batches of 16, 16, 8), follow the logistic curve by hand
    sig = [1 / (1 + math.exp(-0.8 * (s - 6))) for s in range(12)]
    expected = [(16 * sig[3 * e] + 16 * sig[3 * e + 1] + 8 * sig[3 * e + 2]) / 40 for e in range(4)]
    assert h1["weight"] == pytest.approx(expected, rel=1e-6)
    # interrupted after epoch 2 (checkpoint_every=2), then resumed in a "new process"
    first = StepDriven()
    fit(first, x, config=TrainConfig(**{**tc.__dict__, "epochs": 2}), folder=tmp_path / "b")
    resumed = StepDriven()
    torch.manual_seed(999)
    h2 = fit(resumed, x, config=tc, folder=tmp_path / "b")
    assert resumed.steps_seen == list(range(6, 12))
    assert h2["loss"] == h1["loss"] and torch.equal(resumed.w, straight.w)


def test_training_leaves_the_global_rng_untouched():
    x, _ = data()
    model = fresh()
    torch.manual_seed(5)
    expected = torch.rand(4)
    torch.manual_seed(5)
    fit(model, x, config=TC)
    assert torch.equal(torch.rand(4), expected)


def test_validation_history_and_early_stopping_keep_the_best_weights(tmp_path):
    x, _ = data(96)
    xv, _ = data(32)
    model = fresh()
    tc = TrainConfig(**{**TC.__dict__, "epochs": 6})
    h = fit(model, x, config=tc, validation=xv.bernoulli(generator=torch.Generator().manual_seed(0)))
    assert len(h["val_loss"]) == 6 and set(h) >= {"val_loss", "val_rec", "val_kl"}
    # early stopping, with the validation loss of the kept weights recomputed afterwards
    xv_bin = xv.bernoulli(generator=torch.Generator().manual_seed(0))
    model = fresh()
    tc = TrainConfig(**{**TC.__dict__, "epochs": 40, "lr": 3e-2, "patience": 2})
    h = fit(model, x, config=tc, validation=xv_bin, folder=tmp_path / "es")
    best = min(range(len(h["val_loss"])), key=lambda i: h["val_loss"][i])
    assert len(h["epoch"]) == best + 1 + 2 < 40                   # stopped two epochs after the best
    from thesis_code.train import validate
    again = validate(model, as_dataset(xv_bin), tc.batch_size, seed=tc.seed)["loss"]
    assert again == pytest.approx(h["val_loss"][best], rel=1e-6)
    with pytest.raises(ValueError, match="patience"):
        fit(fresh(), x, config=tc)


def test_multi_phase_models_resume_exactly(tmp_path):
    from thesis_code.models import GAN, AAEConfig, AdversarialAE, GANConfig
    x, _ = data(48)
    tc = TrainConfig(epochs=3, batch_size=16, seed=2, progress=False, device="cpu", checkpoint_every=2,
                     betas=(0.5, 0.999))
    for build in (lambda: GAN(GANConfig(noise_dim=4, g_hidden=(16,), d_hidden=(8,))),
                  lambda: AdversarialAE(AAEConfig(latent_dim=2, hidden=(16,), disc_hidden=(8,)))):
        torch.manual_seed(0)
        straight = build()
        fit(straight, x, config=tc, folder=tmp_path / f"{id(build)}-a")
        torch.manual_seed(0)
        part = build()
        fit(part, x, config=TrainConfig(**{**tc.__dict__, "epochs": 2}), folder=tmp_path / f"{id(build)}-b")
        torch.manual_seed(1)
        resumed = build()
        fit(resumed, x, config=tc, folder=tmp_path / f"{id(build)}-b")
        assert_same_weights(straight, resumed)


def test_resuming_on_another_device_is_refused_clearly(tmp_path):
    x, _ = data()
    fit(fresh(), x, config=TrainConfig(**{**TC.__dict__, "epochs": 1}), folder=tmp_path)
    saved = torch.load(tmp_path / CHECKPOINT_NAME, weights_only=False)
    saved["device"] = "cuda"
    torch.save(saved, tmp_path / CHECKPOINT_NAME)
    with pytest.raises(ValueError, match="written on 'cuda'.*resume with device='cuda'"):
        fit(fresh(), x, config=TC, folder=tmp_path)


def test_data_sets_other_than_tensors_are_trained_on():
    class Pairs:
        """A toy data set of (x, y) pairs with its own batch method (not a TensorData)."""

        def __init__(self, x):
            self.x = x

        def __len__(self):
            return len(self.x)

        def batch(self, idx, generator=None):
            return (self.x[idx], self.x[idx] * 2), None

        def to(self, device):
            return Pairs(self.x.to(device))

        def fingerprint(self):
            return "pairs"

    class Linear(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Parameter(torch.zeros(()))

        def loss(self, xy, y=None):
            inputs, targets = xy
            loss = ((self.a * inputs - targets) ** 2).mean()
            return loss, {"loss": loss.item()}

    model = Linear()
    fit(model, Pairs(torch.randn(64)), config=TrainConfig(epochs=60, batch_size=16, lr=0.05, progress=False,
                                                          device="cpu"))
    assert model.a.item() == pytest.approx(2.0, abs=1e-2)
    with pytest.raises(ValueError, match="binarize applies to image tensors"):
        fit(model, Pairs(torch.randn(8)), config=TrainConfig(binarize=True, device="cpu", progress=False))


class _SumOfWeights(nn.Module):
    """loss = sum(w): the gradient is 1 in every coordinate at every step."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(3))

    def loss(self, x, y=None):
        return self.w.sum() + 0.0 * x.sum(), {}


def test_lr_schedule_sets_the_rate_of_every_step_and_resumes_exactly(tmp_path):
    from thesis_code.schedules import Schedule
    # Adam with betas (0, 0) moves each weight by lr_t * g / (|g| + eps), i.e. by almost exactly lr_t when
    # g = 1, so after n steps w = -(sum of the rates): an independent check of the rate used at each step.
    sched = Schedule("linear", 1.0, 0.1, steps=7)
    tc = TrainConfig(epochs=3, batch_size=2, lr=0.01, betas=(0.0, 0.0), progress=False, lr_schedule=sched)
    x = torch.zeros(8, 1)                                   # 4 batches per epoch, 12 steps
    model = _SumOfWeights()
    fit(model, x, config=tc)
    rates = 0.01 * (1.0 + (0.1 - 1.0) * torch.clamp(torch.arange(12, dtype=torch.float64) / 7, max=1.0))
    assert torch.allclose(model.w.detach().double(), -rates.sum().expand(3), rtol=1e-5)
    # a run interrupted after epoch 1 and resumed gives the same weights as the uninterrupted one
    resumed = _SumOfWeights()
    fit(resumed, x, config=dataclasses.replace(tc, epochs=1), folder=tmp_path)
    fit(resumed, x, config=tc, folder=tmp_path)
    assert torch.equal(resumed.w, model.w)
    # without a schedule the rate is constant
    plain = _SumOfWeights()
    fit(plain, x, config=dataclasses.replace(tc, lr_schedule=None))
    assert torch.allclose(plain.w.detach().double(), torch.full((3,), -0.12, dtype=torch.float64), rtol=1e-5)
