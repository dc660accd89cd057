from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from bot.core.clock import to_ms
from bot.market.history import load_history
from strategies.baskets import Basket, BasketRules, LegWeight, Universe
from strategies.effectiveness import (
    Effectiveness,
    basket_effectiveness,
    day_returns,
    describe,
    proxy_effectiveness,
    worst_day_shares,
)

H4 = 4 * 3600


def four_hourly(daily: list[float], seed: int = 3, noise: float = 0.05) -> list[Decimal]:
    """Return 4h closes whose every 6th close (counted back from the last) follows ``daily``.

    The other closes of a day are its opening close moved by up to ±``noise``.
    """
    rng = random.Random(seed)
    days = [100.0]
    for r in daily:
        days.append(days[-1] * (1 + r))
    closes: list[float] = []
    for a in days[:-1]:
        closes += [a, *(a * (1 + rng.uniform(-noise, noise)) for _ in range(5))]
    closes.append(days[-1])
    return [Decimal(f"{c:.10f}") for c in closes]


def test_day_returns_take_whole_days_back_from_the_last_close() -> None:
    closes = four_hourly([0.1, -0.2, 0.05])
    assert day_returns(closes, 6) == pytest.approx([0.1, -0.2, 0.05])
    assert day_returns([Decimal(100), Decimal(110)], 1) == pytest.approx([0.1])
    assert day_returns([Decimal(100)], 6) == []


def test_worst_day_shares_are_beta_times_basket_over_holding_worst_first() -> None:
    target = [-0.10, 0.05, -0.20, -0.05]
    btc = [-0.04, 0.02, -0.05, 0.01]
    eth = [-0.06, 0.00, -0.15, -0.03]
    shares = worst_day_shares(target, [(0.5, btc), (0.5, eth)], beta=2.0, worst=2)
    # worst day −20%: 2 × (0.5·−5% + 0.5·−15%) / −20% = 1.0; next −10%: 2 × −5% / −10% = 1.0
    assert shares == pytest.approx((1.0, 1.0))
    # the third falling day, −5%: 2 × (0.5·1% + 0.5·−3%) / −5% = 0.4
    assert worst_day_shares(target, [(0.5, btc), (0.5, eth)], 2.0, worst=5)[2] == pytest.approx(0.4)
    assert worst_day_shares([0.1, 0.2], [(1.0, [0.1, 0.2])], 1.0) == ()
    assert worst_day_shares([], [(1.0, [])], 1.0) == ()


def test_a_basket_that_tracks_the_holding_at_its_beta_removes_the_whole_fall() -> None:
    rng = random.Random(5)
    leg = [rng.gauss(0, 0.03) for _ in range(30)]
    history = {"MEME": four_hourly([1.5 * r for r in leg]), "BTC": four_hourly(leg, seed=9)}
    basket = Basket((LegWeight("BTC", Decimal(1)),), beta=Decimal("1.5"))
    estimate = basket_effectiveness("MEME", basket, history, H4)
    assert estimate.days == 30
    assert len(estimate.shares) == 5
    assert estimate.low == pytest.approx(1.0)
    assert estimate.high == pytest.approx(1.0)
    # sized at β 1 the same basket takes back two thirds of each fall
    unsized = basket_effectiveness("MEME", Basket(basket.legs), history, H4, worst=3)
    assert unsized.median == pytest.approx(1 / 1.5)
    assert "removed 1.00 to 1.00 × h of the fall (median 1.00) on its 5 worst of the last 30" in (
        describe(estimate)
    )
    assert "(100% BTC × β1.50)" in describe(estimate)


def test_only_proxied_holdings_are_estimated() -> None:
    rng = random.Random(2)
    btc = [rng.gauss(0, 0.02) for _ in range(40)]
    eth = [0.8 * r + rng.gauss(0, 0.01) for r in btc]
    meme = [1.4 * (0.5 * a + 0.5 * b) for a, b in zip(btc, eth, strict=True)]
    history = {
        a: four_hourly(r, noise=0) for a, r in {"BTC": btc, "ETH": eth, "MEME": meme}.items()
    }
    rules = BasketRules(auto_proxy=True, candidates=("ETH",), lookback_bars=240, beta=True)
    universe = Universe({"BTC", "ETH"}, rules=rules, history=history)
    estimate, neo = proxy_effectiveness(["BTC", "MEME", "NEO"], universe, H4)
    assert (estimate.asset, neo.asset, neo.days, neo.shares) == ("MEME", "NEO", 0, ())
    assert [leg.asset for leg in estimate.legs] == ["BTC", "ETH"]
    assert estimate.beta == pytest.approx(Decimal("1.4"), abs=Decimal("0.05"))
    assert estimate.shares and all(0.95 < s < 1.05 for s in estimate.shares)


def test_a_fixed_proxy_without_closes_says_it_was_not_estimated() -> None:
    proxies = {"NEO": [LegWeight("BTC", Decimal("0.5")), LegWeight("ETH", Decimal("0.5"))]}
    universe = Universe({"BTC", "ETH"}, proxies)
    [estimate] = proxy_effectiveness(["NEO"], universe, H4)
    assert estimate == Effectiveness("NEO", tuple(proxies["NEO"]), Decimal(1), (), 0)
    assert "NEO (50% BTC + 50% ETH): not estimated (no day of closes" in describe(estimate)
    rising = Effectiveness("NEO", estimate.legs, Decimal(1), (), 30)
    assert "30 days of closes with no falling day" in describe(rising)


@pytest.mark.shared_data
def test_reference_basket_before_the_ftx_collapse(shared_data_dir: Path) -> None:
    """AVAX hedged by BTC + the better of ETH and ADA, beta-sized, on real closes."""
    at = to_ms(datetime(2022, 11, 6, tzinfo=UTC))
    assets = ["AVAX", "BTC", "ETH", "ADA"]
    data = load_history(shared_data_dir, assets, "4h", start_ms=at, end_ms=at, warmup_bars=200)
    history = {a: [b.close for b in data.spot[a].closes_until(at, 181)] for a in assets}
    rules = BasketRules(
        auto_proxy=True,
        candidates=("ETH", "ADA"),
        lookback_bars=180,
        beta=True,
    )
    universe = Universe(set(assets) - {"AVAX"}, rules=rules, history=history)
    [estimate] = proxy_effectiveness(["AVAX"], universe, H4)
    assert estimate.days == 30
    assert len(estimate.shares) == 5
    assert estimate.legs[0] == LegWeight("BTC", Decimal("0.5"))
    assert estimate.low is not None and estimate.high is not None
    assert -1 < estimate.low <= estimate.high < 3
