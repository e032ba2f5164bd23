"""The interval every comparison over seeds in the book carries: the Student-t interval of a mean.

With n runs (seeds) of mean m and sample standard deviation s, the two-sided interval at level 1 - a is
m +- t_{1 - a/2, n - 1} s / sqrt(n). One run has no spread, so its half-width is nan (not 0: a single
seed must not read as an exact number)."""
from __future__ import annotations

import math

import numpy as np

__all__ = ["t_half_width", "mean_interval"]


def t_half_width(sd: float, n: int, level: float = 0.95) -> float:
    """Half-width of the Student-t interval of a mean of ``n`` values with sample std ``sd``."""
    from scipy.stats import t
    if n < 2:
        return float("nan")
    return float(t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n))


def mean_interval(values, level: float = 0.95) -> tuple[float, float]:
    """The mean of ``values`` and the half-width of its Student-t interval (nan for one value)."""
    v = np.asarray(list(values), dtype=float)
    if v.size == 0:
        raise ValueError("mean_interval needs at least one value")
    return float(v.mean()), t_half_width(float(v.std(ddof=1)) if v.size > 1 else 0.0, v.size, level)
