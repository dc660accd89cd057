"""Downside (crash-conditional) beta on synthetic series, and no look-ahead in the baskets."""

from __future__ import annotations

import math
import random
from decimal import Decimal

import pytest

from bot.settings.config import BasketConfig
from strategies.baskets import Basket, BasketRules, Universe, choose_basket, size_basket
from strategies.estimators import downside_beta, hedge_beta


def closes_from(returns: list[float]) -> list[Decimal]:
    closes = [100.0]
    for r in returns:
        closes.append(closes[-1] * math.exp(r))
    return [Decimal(f"{c:.10f}") for c in closes]


def asymmetric(seed: int = 3, bars: int = 600) -> tuple[list[float], list[float]]:
    """A factor and a target with beta 1 on the factor's up bars and 2 on its down bars."""
    rng = random.Random(seed)
    factor = [rng.gauss(0, 0.02) for _ in range(bars)]
    target = [(2.0 if f < 0 else 1.0) * f + rng.gauss(0, 0.002) for f in factor]
    return target, factor


def test_downside_beta_reads_the_crash_slope_that_ols_averages_away() -> None:
    target, factor = asymmetric()
    assert downside_beta(target, factor, 0.2) == pytest.approx(2.0, abs=0.03)
    assert hedge_beta(target, factor, "ols") == pytest.approx(1.5, abs=0.1)
    assert hedge_beta(target, factor) == downside_beta(target, factor, 0.2)


def test_downside_beta_of_a_linear_series_is_its_beta() -> None:
    rng = random.Random(5)
    factor = [rng.gauss(0, 0.02) for _ in range(400)]
    target = [1.3 * f + rng.gauss(0, 0.001) for f in factor]
    assert downside_beta(target, factor, 0.2) == pytest.approx(1.3, abs=0.02)


def test_downside_beta_needs_enough_bad_bars_and_a_moving_factor() -> None:
    assert downside_beta([0.1, 0.2, 0.3], [-0.1, -0.2, -0.3], 0.2) is None
    assert downside_beta([0.01] * 50, [0.0] * 50, 0.2) is None


def walk_forward(
    history: dict[str, list[Decimal]], rules: BasketRules, cycles: range
) -> list[Basket]:
    """Replay the cycles as the engine does: closes known at each cycle, picks carried on."""
    perps = {"BTC", "ETH", "SOL"}
    picks: dict[str, str] = {}
    out: list[Basket] = []
    for end in cycles:
        known = {a: c[: end + 1] for a, c in history.items()}
        universe = Universe(perps, rules=rules, history=known, picks=picks)
        basket = size_basket("MEME", choose_basket("MEME", universe), universe)
        picks = {"MEME": basket.pick} if basket.pick else {}
        out.append(basket)
    return out


def test_a_past_cycles_basket_does_not_change_when_future_closes_are_appended() -> None:
    rng = random.Random(21)
    bars = 500
    btc = [rng.gauss(0, 0.02) for _ in range(bars)]
    eth = [0.8 * b + rng.gauss(0, 0.015) for b in btc]
    sol = [0.6 * b + rng.gauss(0, 0.03) for b in btc]
    meme = [1.5 * s + rng.gauss(0, 0.01) for s in sol]
    past = {
        a: closes_from(r) for a, r in {"BTC": btc, "ETH": eth, "SOL": sol, "MEME": meme}.items()
    }
    # the future: a crash where MEME falls three times as far as the basket
    crash = [-0.05 if i % 3 else 0.01 for i in range(200)]
    future = {"BTC": crash, "ETH": crash, "SOL": crash, "MEME": [3 * c for c in crash]}
    extended = {a: past[a] + closes_from(future[a])[1:] for a in past}
    rules = BasketRules(auto_proxy=True, beta=True, lookback_bars=180, candidates=("ETH", "SOL"))
    cycles = range(300, bars + 1, 6)
    seen = walk_forward(past, rules, cycles)
    assert walk_forward(extended, rules, cycles) == seen
    assert {b.pick for b in seen} == {"SOL"}
    # and the future does move a later cycle's basket: the test can see a change
    later = walk_forward(extended, rules, range(bars + 150, bars + 151))
    assert later[0].words != seen[-1].words
    assert "legs' worst bars over 30d" in seen[-1].words


def test_config_validates_and_passes_the_estimator() -> None:
    rules = BasketConfig(estimator="ols", downside_quantile=0.1).rules(4 * 3600)
    assert (rules.estimator, rules.downside_quantile) == ("ols", 0.1)
    assert BasketConfig().rules(4 * 3600).estimator == "downside"
    with pytest.raises(ValueError, match="downside_quantile"):
        BasketConfig(downside_quantile=0)
    with pytest.raises(ValueError, match="estimator"):
        BasketConfig.model_validate({"estimator": "hindsight"})
