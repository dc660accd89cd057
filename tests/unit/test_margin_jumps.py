"""The jump estimator and the guard's jump policy: known jumps in, the distances they ask out."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bot.core.domain import Position, PositionSide
from bot.margin.binance import bundled_brackets, liquidation_distance, liquidation_price
from bot.margin.jumps import JumpHistory, largest_rise
from bot.margin.plan import GuardKind, margin_coverage, plan_margin_actions
from tests.unit.test_margin_guard import CRITICAL, MARKETS, TARGET, WARNING

D = Decimal
H4, DAY = 4 * 3600, 86_400
T0 = datetime(2024, 1, 1, tzinfo=UTC)
BTC = "BTC/USDT:USDT"


def flat_with(jumps: dict[int, float], length: int = 100) -> list[float]:
    """Return closes at 100 that rise by ``jumps[i]`` at bar ``i`` and fall back the bar after."""
    return [100 * (1 + jumps.get(i, 0.0)) for i in range(length)]


def test_a_one_bar_jump_is_the_largest_rise_over_one_bar_and_over_a_day() -> None:
    closes = flat_with({40: 0.6})
    assert largest_rise(closes, 1) == pytest.approx(0.6)
    assert largest_rise(closes, 6) == pytest.approx(0.6)


def test_a_climb_over_several_bars_counts_whole_within_a_day_only() -> None:
    # +10% a bar for 6 bars: 10% over one bar, 1.1**6 - 1 = 77% over a day of 4h bars.
    closes = [100.0] * 10 + [100 * 1.1**k for k in range(1, 7)] + [177.0] * 10
    assert largest_rise(closes, 1) == pytest.approx(0.1)
    assert largest_rise(closes, 6) == pytest.approx(1.1**6 - 1)
    assert largest_rise(closes, 3) == pytest.approx(1.1**3 - 1)


def test_falls_are_no_jumps_for_a_short() -> None:
    assert largest_rise([100.0, 80.0, 50.0, 40.0], 6) == 0.0
    assert largest_rise([100.0], 6) == 0.0


def test_the_estimate_asks_safety_times_the_larger_rise() -> None:
    history = JumpHistory(H4, H4)
    history.update("XRP", [D(str(c)) for c in flat_with({10: 0.2, 50: 0.45})], T0)
    estimate = history.estimate("XRP")
    assert estimate is not None
    assert estimate.interval_rise == pytest.approx(0.45)
    assert estimate.day_rise == pytest.approx(0.45)
    assert estimate.bars == 100 and estimate.days == pytest.approx(100 / 6)
    assert estimate.distance(D("1.5")) == D("0.675")


def test_history_is_read_again_only_after_a_day() -> None:
    history = JumpHistory(H4, H4)
    assert history.due(["XRP", "BTC"], T0) == ["BTC", "XRP"]
    history.update("XRP", [D(100), D(101)], T0)
    assert history.due(["XRP", "BTC"], T0 + timedelta(hours=23)) == ["BTC"]
    assert history.due(["XRP"], T0 + timedelta(days=1)) == ["XRP"]


def test_a_failed_read_is_tried_again_an_hour_later_not_every_cycle() -> None:
    history = JumpHistory(H4, H4)
    history.update("XRP", [D(100), D(130)], T0)
    later = T0 + timedelta(days=1)
    history.failed(["XRP", "BTC"], later)
    assert history.due(["XRP", "BTC"], later + timedelta(minutes=59)) == []
    assert history.due(["XRP", "BTC"], later + timedelta(hours=1)) == ["BTC", "XRP"]
    estimate = history.estimate("XRP")
    assert estimate is not None and estimate.interval_rise == pytest.approx(0.3)


def test_an_overlapping_read_gives_what_a_fresh_read_gives() -> None:
    rng = random.Random(3)
    closes = [D(100)]
    for _ in range(400):
        closes.append((closes[-1] * D(str(1 + rng.gauss(0, 0.03)))).quantize(D("0.0001")))
    closes[150] = closes[149] * D("1.5")  # a jump that leaves the window on the last read
    kept = 200
    history = JumpHistory(H4, H4)
    for end in range(kept, len(closes) + 1, 6):
        history.update("XRP", closes[end - kept : end], T0)
        fresh = JumpHistory(H4, H4)
        fresh.update("XRP", closes[end - kept : end], T0)
        assert history.estimate("XRP") == fresh.estimate("XRP")


# --- the guard's jump policy ---------------------------------------------------------------


def short(contracts: str, entry: str, margin: str) -> Position:
    liq = liquidation_price(SHORT, D(contracts), D(entry), D(margin), bundled_brackets(BTC))
    return Position(BTC, SHORT, D(contracts), D(entry), D(margin), 1, liquidation_price=liq)


SHORT = PositionSide.SHORT


def test_a_short_past_the_warning_is_topped_up_to_its_required_distance_plus_the_band() -> None:
    # 1x short of 1 BTC from 50k at mark 60k: liquidation ~99.5k, 66% away; required 86%.
    position = short("1", "50000", "50000")
    actions = plan_margin_actions(
        {BTC: position}, {BTC: D(60000)}, bundled_brackets, MARKETS, D(100_000),
        WARNING, TARGET, CRITICAL, required={BTC: D("0.86")},
    )  # fmt: skip
    [action] = actions
    assert action.kind is GuardKind.ADD_MARGIN and "jump history" in action.reason
    liq = liquidation_price(
        SHORT, D(1), D(50000), position.isolated_margin + action.margin, bundled_brackets(BTC)
    )
    after = liquidation_distance(SHORT, D(60000), liq)
    assert after is not None and D("0.96") <= after < D("0.9601")


def test_without_enough_collateral_the_policy_adds_what_there_is_and_says_so() -> None:
    position = short("1", "50000", "50000")
    marks, required = {BTC: D(60000)}, {BTC: D("0.86")}
    [action] = plan_margin_actions(
        {BTC: position}, marks, bundled_brackets, MARKETS, D(5000),
        WARNING, TARGET, CRITICAL, required=required,
    )  # fmt: skip
    assert action.margin == D(5000) and "collateral cannot reach it" in action.reason
    [cover] = margin_coverage({BTC: position}, marks, bundled_brackets, required, D(5000))
    assert not cover.reachable and cover.top_up > D(5000)
    [enough] = margin_coverage({BTC: position}, marks, bundled_brackets, required, D(100_000))
    assert enough.reachable


def test_a_short_beyond_its_required_distance_is_left_alone() -> None:
    position = short("1", "50000", "50000")  # 99% away at 50k
    assert not plan_margin_actions(
        {BTC: position}, {BTC: D(50000)}, bundled_brackets, MARKETS, D(100_000),
        WARNING, TARGET, CRITICAL, required={BTC: D("0.86")},
    )  # fmt: skip
