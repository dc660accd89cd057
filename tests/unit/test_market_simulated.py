from __future__ import annotations

from decimal import Decimal

import pytest

from bot.market.series import BarSeries, MarketData
from bot.market.simulated import asset_beta, crash_window, simulate_market

H = 3_600_000
H4 = 4 * H
START = 1_704_067_200_000  # 2024-01-01 00:00 UTC
BARS = 540  # 90 days of 4h bars
ASSETS = ["BTC", "ETH", "ADA", "NEAR", "ZZZ"]


@pytest.fixture(scope="module")
def market() -> MarketData:
    return simulate_market(ASSETS, START, BARS)


def _max_drawdown(series: BarSeries) -> Decimal:
    peak = series.bars[0].high
    worst = Decimal(0)
    for bar in series.bars:
        peak = max(peak, bar.high)
        worst = max(worst, 1 - bar.low / peak)
    return worst


def test_labelled_loudly_as_simulated(market: MarketData) -> None:
    assert market.simulated
    assert market.label.startswith("SIMULATED MARKET")
    assert "not real prices" in market.label
    assert "seed=7" in market.label


def test_deterministic_per_seed() -> None:
    a = simulate_market(["BTC", "ADA"], START, 200, seed=3)
    b = simulate_market(["BTC", "ADA"], START, 200, seed=3)
    c = simulate_market(["BTC", "ADA"], START, 200, seed=4)

    for asset in ("BTC", "ADA"):
        assert a.spot[asset].bars == b.spot[asset].bars
        assert a.perp[asset].bars == b.perp[asset].bars
        assert a.mark[asset].bars == b.mark[asset].bars
        assert a.funding[asset].events == b.funding[asset].events
        assert a.spot[asset].bars != c.spot[asset].bars


def test_asset_path_does_not_depend_on_other_assets() -> None:
    alone = simulate_market(["ADA"], START, 100)
    together = simulate_market(["BTC", "SOL", "ADA"], START, 100)

    assert alone.spot["ADA"].bars == together.spot["ADA"].bars


def test_bars_aligned_contiguous_and_start_floored(market: MarketData) -> None:
    shifted = simulate_market(["BTC"], START + 5 * H + 123, 10)
    assert shifted.spot["BTC"].bars[0].open_ms == START + H4

    for table in (market.spot, market.perp, market.mark):
        assert sorted(table) == sorted(ASSETS)
        for series in table.values():
            assert [b.open_ms for b in series.bars] == [START + i * H4 for i in range(BARS)]
    assert market.timeframe_ms == H4
    assert market.spot["BTC"].bars[0].open == Decimal("60000.0")
    assert market.spot["ETH"].bars[0].open == Decimal("3000.00")
    assert market.spot["ADA"].bars[0].open == Decimal("0.500000")


def test_ohlc_consistent_and_positive(market: MarketData) -> None:
    for table in (market.spot, market.perp, market.mark):
        for series in table.values():
            for bar in series.bars:
                assert 0 < bar.low <= min(bar.open, bar.close)
                assert max(bar.open, bar.close) <= bar.high
                assert bar.volume >= 0


def test_prices_have_six_significant_digits(market: MarketData) -> None:
    for series in market.spot.values():
        for bar in series.bars:
            digits = bar.open.as_tuple().digits
            assert 6 <= len(digits) <= 7, bar  # 7 only when rounding up to a power of 10


def test_factor_crashes_more_than_25_percent(market: MarketData) -> None:
    assert _max_drawdown(market.spot["BTC"]) > Decimal("0.25")


def test_high_beta_assets_fall_more_in_the_crash(market: MarketData) -> None:
    first, end = crash_window(START, BARS)
    assert START < first < end < START + BARS * H4

    def crash_return(asset: str) -> Decimal:
        before = market.spot[asset].last_closed(first)
        after = market.spot[asset].last_closed(end)
        assert before is not None and after is not None
        return after.close / before.close - 1

    btc = crash_return("BTC")
    assert btc < Decimal("-0.25")
    assert crash_return("NEAR") < crash_return("ADA") < btc
    assert crash_return("ZZZ") < btc


def test_unknown_asset_beta_is_deterministic_and_bounded() -> None:
    assert asset_beta("BTC") == 1.0
    assert asset_beta("ETH") == pytest.approx(1.2)
    for name in ("ZZZ", "FOO", "PEPE", "WIF"):
        assert 1.2 <= asset_beta(name) <= 2.0
        assert asset_beta(name) == asset_beta(name)


def test_perp_tracks_spot_with_small_basis(market: MarketData) -> None:
    for asset in ASSETS:
        for spot, perp in zip(market.spot[asset].bars, market.perp[asset].bars, strict=True):
            assert abs(perp.close / spot.close - 1) < Decimal("0.003")
        for perp, mark in zip(market.perp[asset].bars, market.mark[asset].bars, strict=True):
            assert abs(mark.close / perp.close - 1) < Decimal("0.0005")
            assert mark.volume == 0


def test_funding_every_8h_positive_normally_negative_in_crash(market: MarketData) -> None:
    first, end = crash_window(START, BARS)
    for asset in ASSETS:
        events = market.funding[asset].events
        assert [e.time_ms for e in events] == list(range(START, START + BARS * H4 + 1, 8 * H))
        assert all(e.time_ms % (24 * H) in (0, 8 * H, 16 * H) for e in events)
        in_crash = market.funding[asset].between(first, end)
        assert len(in_crash) == 9  # 3 days
        assert all(e.rate < 0 for e in in_crash)
        calm = [e for e in events if not first < e.time_ms <= end]
        positive = sum(e.rate > 0 for e in calm)
        assert positive / len(calm) > 0.9
        assert Decimal("0.00005") < sum(e.rate for e in calm) / len(calm) < Decimal("0.00015")


@pytest.mark.parametrize(("timeframe", "bars", "step"), [("1h", 48, H), ("1d", 30, 24 * H)])
def test_other_timeframes(timeframe: str, bars: int, step: int) -> None:
    sim = simulate_market(["BTC"], START + 7 * H + 1, bars, timeframe=timeframe)

    opens = [b.open_ms for b in sim.spot["BTC"].bars]
    first_open = (START + 7 * H + 1) // step * step
    assert opens == [first_open + i * step for i in range(bars)]
    assert sim.timeframe_ms == step
    first, end = crash_window(START + 7 * H + 1, bars, timeframe)
    assert first_open < first < end <= first_open + bars * step


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="allowed: 1h, 4h, 1d"):
        simulate_market(["BTC"], START, 10, timeframe="5m")
    with pytest.raises(ValueError, match="bars must be >= 1"):
        simulate_market(["BTC"], START, 0)
