"""The one Student-t interval of the book against scipy's own interval and a simulation of its coverage."""
import math

import numpy as np
import pytest
from scipy import stats

from thesis_code.chapters import compression, experiment, sentences, tabular
from thesis_code.evaluate import difference_phrase, mean_interval, t_half_width


@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_mean_interval_is_scipys_t_interval(level):
    v = [0.19, 0.2, 0.185, 0.21]
    m, h = mean_interval(v, level)
    lo, hi = stats.t.interval(level, df=len(v) - 1, loc=np.mean(v), scale=stats.sem(v))
    assert m == pytest.approx(np.mean(v))
    assert h == pytest.approx((hi - lo) / 2)
    assert t_half_width(np.std(v, ddof=1), len(v), level) == pytest.approx((hi - lo) / 2)


def test_one_value_has_no_interval():
    m, h = mean_interval([0.3])
    assert m == pytest.approx(0.3) and math.isnan(h)
    with pytest.raises(ValueError):
        mean_interval([])


def test_coverage_of_the_95_interval_by_simulation():
    # 3 seeds from a normal law: the interval must contain the true mean 95 % of the time
    rng = np.random.default_rng(0)
    draws = rng.normal(1.0, 0.5, size=(20_000, 3))
    hits = sum(abs(m - 1.0) <= h for m, h in (mean_interval(d) for d in draws))
    assert abs(hits / len(draws) - 0.95) < 4 * math.sqrt(0.95 * 0.05 / len(draws))


def test_the_chapters_use_this_one_interval():
    assert sentences.mean_interval is mean_interval and tabular.mean_interval is mean_interval
    assert compression.mean_interval is mean_interval and experiment.t_half_width is t_half_width


def test_difference_phrase_states_a_direction_only_outside_the_interval():
    d = [2.0, 2.2, 1.9]
    lo, hi = stats.t.interval(0.95, df=2, loc=np.mean(d), scale=stats.sem(d))
    assert lo > 0
    assert difference_phrase(d, "it") == f"{np.mean(d):.1f} ± {(hi - lo) / 2:.1f} points above it (95 % interval over 3 seeds)"
    assert "below it" in difference_phrase([-x for x in d], "it")
    assert difference_phrase([1.0, -0.5, 0.2], "it").startswith("within the seed interval of it (+0.2")
    assert difference_phrase([0.01, 0.0, 0.02], "it") == "level with it (to 0.1 points over 3 seeds)"
    assert difference_phrase([0.7], "it") == "0.7 points above it (one seed, no interval)"
    assert difference_phrase([0.0], "it") == "level with it (to 0.1 points; one seed, no interval)"
