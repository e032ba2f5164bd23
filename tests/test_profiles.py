import pytest
import torch

from thesis_code import profiles
from thesis_code.profiles import ParameterError, start


def test_profile_resolution(monkeypatch):
    assert profiles.resolve_profile("smoke") == "smoke"
    assert profiles.resolve_profile("auto") == "book"
    monkeypatch.setenv("THESIS_PROFILE", "smoke")
    assert profiles.resolve_profile("auto") == "smoke"
    assert profiles.resolve_profile("full") == "full", "an explicit profile beats the environment"
    with pytest.raises(ParameterError, match="unknown profile 'fast'"):
        profiles.resolve_profile("fast")
    monkeypatch.setenv("THESIS_PROFILE", "quick")
    with pytest.raises(ParameterError, match="unknown profile 'quick'"):
        profiles.resolve_profile("auto")


def test_device_resolution():
    assert profiles.resolve_device("cpu") == torch.device("cpu")
    assert profiles.resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ParameterError, match="unknown device"):
        profiles.resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ParameterError, match="no CUDA"):
            profiles.resolve_device("cuda")


def _notebook_globals(**params):
    import math  # modules, functions and IPython names in a notebook's globals are not parameters
    ns = {"__name__": "__main__", "In": [], "Out": {}, "get_ipython": lambda: None, "math": math,
          "_": None, "start": start}
    ns.update(params)
    return ns


def test_start_accepts_declared_parameters():
    run = start(_notebook_globals(profile="smoke", device="cpu", seed=3, latent_dim=2), "latent_dim")
    assert run.profile == "smoke" and run.device.type == "cpu" and run.seed == 3
    assert run.params == {"latent_dim": 2}
    assert run.pick(smoke=1, book=10, full=100) == 1


def test_start_rejects_unknown_parameters():
    # What papermill injects for `-p epochs 5` on a notebook that has no `epochs` parameter.
    with pytest.raises(ParameterError, match=r"unknown notebook parameter\(s\) \['epochs'\]"):
        start(_notebook_globals(profile="smoke", device="cpu", latent_dim=2, epochs=5), "latent_dim")
    with pytest.raises(ParameterError, match="unknown profile"):
        start(_notebook_globals(profile="huge", device="cpu"))
    with pytest.raises(ParameterError, match="must define"):
        start(_notebook_globals(device="cpu"))


def test_start_seeds_torch():
    start(_notebook_globals(profile="smoke", device="cpu", seed=5))
    a = torch.rand(3)
    start(_notebook_globals(profile="smoke", device="cpu", seed=5))
    assert torch.equal(a, torch.rand(3))
