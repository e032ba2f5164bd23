"""The interval every comparison over seeds in the book carries: the Student-t interval of a mean.

With n runs (seeds) of mean m and sample standard deviation s, the two-sided interval at level 1 - a is
m +- t_{1 - a/2, n - 1} s / sqrt(n). One run has no spread, so its half-width is nan (not 0: a single
seed must not read as an exact number)."""
from __future__ import annotations

import math

import numpy as np

__all__ = ["t_half_width", "mean_interval", "difference_phrase"]


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


def difference_phrase(diffs, of: str, unit: str = "points") -> str:
    """Words for per-seed differences A - B (paired by seed) compared with ``of`` (the B, e.g. "it" or "that
    of the negative ELBO"), true whatever the run gives: "above"/"below" with the 95 % interval only when
    the interval excludes 0; "within the seed interval" when it does not; "level with" for a difference
    under 0.05 (the 0.1 shown); one seed states its direction but claims no interval."""
    v = np.asarray(list(diffs), dtype=float)
    m, h = mean_interval(v)
    n, word = v.size, ("above" if m > 0 else "below")
    if math.isnan(h):
        return (f"level with {of} (to 0.1 {unit}; one seed, no interval)" if abs(m) < 0.05 else
                f"{abs(m):.1f} {unit} {word} {of} (one seed, no interval)")
    if abs(m) < 0.05 and h < 0.05:
        return f"level with {of} (to 0.1 {unit} over {n} seeds)"
    if m - h > 0 or m + h < 0:
        return f"{abs(m):.1f} ± {h:.1f} {unit} {word} {of} (95 % interval over {n} seeds)"
    return f"within the seed interval of {of} ({m:+.1f} ± {h:.1f} {unit}, 95 % interval over {n} seeds)"
