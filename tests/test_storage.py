import dataclasses
import os

import pytest
import torch

from thesis_code import storage


@dataclasses.dataclass
class Cfg:
    lr: float = 1e-3
    hidden: tuple = (512, 256)


# The key of Cfg() and of a dict, computed once (storage.CACHE_VERSION = 1) and pinned here: a key that
# changed between runs, processes or machines would silently miss every cache entry. If the key scheme
# is changed on purpose (which invalidates all caches), update these two values.
PINNED_CFG_KEY = "8afc97e9576e9d86"
PINNED_DICT_KEY = "2b8893b9631d8f21"


def test_config_key_is_pinned_and_stable_across_processes():
    assert storage.config_key(Cfg()) == PINNED_CFG_KEY
    assert storage.config_key({"a": 1, "b": 2}) == PINNED_DICT_KEY
    # A fresh interpreter with another string-hash seed (PYTHONHASHSEED randomizes set/dict-of-str order
    # and hash()) computes the same key.
    import subprocess
    import sys
    code = ("import dataclasses\nfrom thesis_code import storage\n"
            "@dataclasses.dataclass\nclass Cfg:\n    lr: float = 1e-3\n    hidden: tuple = (512, 256)\n"
            "print(storage.config_key(Cfg()), storage.config_key({'b': 2, 'a': 1}))")
    for seed in ("0", "12345"):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONHASHSEED": seed}).stdout.split()
        assert out == [PINNED_CFG_KEY, PINNED_DICT_KEY], (seed, out)


def test_config_key_changes_with_any_setting():
    assert storage.config_key(Cfg()) != storage.config_key(Cfg(lr=2e-3))
    assert storage.config_key(Cfg()) != storage.config_key(Cfg(hidden=(512, 128)))
    assert storage.config_key({"a": 1, "b": 2}) == storage.config_key({"b": 2, "a": 1})


def test_cached_computes_once_per_config_and_profile(tmp_path):
    calls = []

    def compute(folder):
        calls.append(folder)
        return {"w": torch.ones(2) * len(calls)}

    r1 = storage.cached("exp", Cfg(), "smoke", compute)
    r2 = storage.cached("exp", Cfg(), "smoke", compute)
    assert len(calls) == 1 and torch.equal(r1["w"], r2["w"])
    storage.cached("exp", Cfg(lr=0.1), "smoke", compute)
    assert len(calls) == 2, "a changed setting must recompute"
    storage.cached("exp", Cfg(), "book", compute)
    assert len(calls) == 3, "profiles never share results"
    assert calls[0].parent.name == "smoke" and calls[2].parent.name == "book"
    assert (calls[0] / "config.json").exists()


def test_unreadable_cache_entry_is_recomputed():
    calls = []
    storage.cached("exp", Cfg(), "smoke", lambda f: calls.append(1) or 1)
    (storage.experiment_dir("exp", Cfg(), "smoke") / "result.pt").write_bytes(b"garbage")
    assert storage.cached("exp", Cfg(), "smoke", lambda f: calls.append(1) or 2) == 2
    assert len(calls) == 2


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    path = tmp_path / "ckpt.pt"
    storage.atomic_torch_save({"v": 1}, path)

    def broken(f):
        f.write(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        storage.atomic_write(path, broken)
    assert torch.load(path) == {"v": 1}
    assert os.listdir(tmp_path) == ["ckpt.pt"], "no temporary file is left behind"
