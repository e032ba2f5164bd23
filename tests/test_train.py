"""The trainer: determinism, exact resume after a crash, the NaN guard, phases, and the experiment cache."""
import pytest
import torch
from torch import nn

from thesis_code import experiments
from thesis_code.experiments import train_cached
from thesis_code.models import VAE, VAEConfig
from thesis_code.profiles import Run
from thesis_code.train import CHECKPOINT_NAME, NonFiniteLossError, Phase, TrainConfig, fit

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
    m1, h1 = train_cached("t", lambda: fresh(seed=0), tc, x, run=run, model_config=CFG, data_key="toy")
    m2, h2 = train_cached("t", lambda: fresh(seed=9), tc, x, run=run, model_config=CFG, data_key="toy")
    assert len(calls) == 1 and h1 == h2 and not m2.training
    assert_same_weights(m1, m2)
    assert list((tmp_path / "smoke").iterdir())[0].name.startswith("t-")
    assert not any(p.name == "checkpoints" for p in tmp_path.rglob("*"))      # cleaned after training
    train_cached("t", lambda: fresh(), TrainConfig(**{**tc.__dict__, "lr": 1e-2}), x, run=run,
                 model_config=CFG, data_key="toy")
    train_cached("t", lambda: fresh(), tc, x, run=run, model_config=CFG, data_key="toy-2")
    train_cached("t", lambda: fresh(), tc, x[:40], run=run, model_config=CFG)   # hashed data
    assert len(calls) == 4
    # progress bars and the device do not change the result, so they do not change the key
    train_cached("t", lambda: fresh(), TrainConfig(**{**tc.__dict__, "progress": True}), x, run=run,
                 model_config=CFG, data_key="toy")
    assert len(calls) == 4
