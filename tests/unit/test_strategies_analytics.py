from __future__ import annotations

import math
import random

import pytest

from strategies.analytics import (
    aligned,
    beta,
    correlation,
    log_returns,
    min_variance_weights,
    realized_vol,
    weighted_sum,
)
from strategies.units import bars_in, describe, parse_duration

H4 = 4 * 3600


def test_log_returns_keep_the_last_count() -> None:
    closes = [100, 110, 99, 99]
    assert log_returns(closes) == pytest.approx([math.log(1.1), math.log(0.9), 0.0])
    assert log_returns(closes, 2) == pytest.approx([math.log(0.9), 0.0])


def test_realized_vol_annualizes_the_per_bar_deviation() -> None:
    returns = [0.01, -0.01] * 50  # sample sd = 0.01 × sqrt(100/99)
    expected = 0.01 * math.sqrt(100 / 99) * math.sqrt(365 * 6)
    assert realized_vol(returns, H4) == pytest.approx(expected)
    assert realized_vol([0.01], H4) is None


def test_series_align_on_their_latest_values() -> None:
    assert aligned([1, 2, 3], [9, 8]) == [[2, 3], [9, 8]]
    assert weighted_sum([[1.0, 2.0, 3.0], [10.0, 20.0]], [0.5, 0.5]) == [6.0, 11.5]


def test_beta_and_correlation_of_a_scaled_noisy_series() -> None:
    rng = random.Random(3)
    x = [rng.gauss(0, 0.02) for _ in range(2000)]
    y = [1.5 * v + rng.gauss(0, 0.01) for v in x]
    assert beta(y, x) == pytest.approx(1.5, abs=0.03)
    assert correlation(y, x) == pytest.approx(0.95, abs=0.02)
    assert beta(y, [0.0] * len(y)) is None


def test_min_variance_weights_recover_a_two_leg_mix() -> None:
    rng = random.Random(5)
    a = [rng.gauss(0, 0.02) for _ in range(3000)]
    b = [rng.gauss(0, 0.03) for _ in range(3000)]
    y = [0.7 * p + 0.4 * q + rng.gauss(0, 0.005) for p, q in zip(a, b, strict=True)]
    weights = min_variance_weights(y, [a, b])
    assert weights == pytest.approx([0.7, 0.4], abs=0.02)
    assert min_variance_weights(y, [a]) == pytest.approx([beta(y, a)])
    assert min_variance_weights(y, [a, a]) is None  # collinear legs


def test_durations_parse_and_count_bars() -> None:
    assert parse_duration("14d").total_seconds() == 14 * 86400
    assert describe(parse_duration("36h")) == "36h"
    assert bars_in(parse_duration("30d"), H4) == 180
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("two weeks")
