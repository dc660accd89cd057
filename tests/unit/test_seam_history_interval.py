"""The closes reach the strategy with their own bar length, whatever the rebalance interval."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from bot.core.clock import ReplayClock, to_ms
from bot.core.domain import ZERO
from bot.journal.records import RunMode
from bot.journal.store import Journal
from bot.market.series import Bar, BarSeries, MarketData
from bot.runtime.engine import Engine
from bot.settings.config import parse_config
from bot.sim.paper import PaperVenue
from bot.venue.capabilities import BINANCE
from bot.venue.ccxt_venue import CcxtVenue
from strategies.base import HedgeDecision, HoldingView, StrategyInput
from strategies.volatility_regime import VolatilityRegime, VolatilityRegimeParams
from tests.conftest import paper_config_dict

H4 = 4 * 3600
H4_MS = H4 * 1000
BARS = 60
START = datetime(2024, 1, 1, tzinfo=UTC)
NOW = START + timedelta(hours=4 * BARS)  # the last bar has just closed
WINDOW_RETURNS = 12  # the 2d window in 4h bars
# Alternating log returns of ±STEP: 12 of them have an annualized (4h-bar) volatility of 60%.
STEP = 0.6 / math.sqrt(365 * 6 * WINDOW_RETURNS / (WINDOW_RETURNS - 1))


def four_hour_market() -> MarketData:
    """Return BTC spot and perp 4h candles whose closes zigzag by ±STEP in log terms."""
    closes = [100 * math.exp(STEP if i % 2 else 0.0) for i in range(BARS)]
    bars = [
        Bar(to_ms(START) + i * H4_MS, *(Decimal(f"{c:.10f}"),) * 4, Decimal(1))
        for i, c in enumerate(closes)
    ]
    series = BarSeries(H4_MS, bars)
    return MarketData("zigzag", H4_MS, {"BTC": series}, {"BTC": series}, {}, {})


class Recording(VolatilityRegime):
    """The volatility regime, keeping every view it was shown."""

    def __init__(self, params: VolatilityRegimeParams) -> None:
        super().__init__(params)
        self.views: list[StrategyInput] = []

    def decide(self, view: StrategyInput) -> HedgeDecision:
        self.views.append(view)
        return super().decide(view)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal.open(f"sqlite:///{tmp_path / 'journal.sqlite'}") as opened:
        yield opened


@pytest.mark.parametrize("interval", ["4h", "8h", "1d"])
async def test_realized_vol_is_measured_on_the_4h_bars_whatever_the_interval(
    interval: str, journal: Journal
) -> None:
    config = parse_config(paper_config_dict(interval=interval))
    clock = ReplayClock(NOW)
    venue = PaperVenue(four_hour_market(), clock, {"BTC": Decimal(1)}, Decimal(50000), ZERO, ZERO)
    params = {"window": "2d", "downside": False}  # every move: the zigzag reads 60%
    strategy = Recording(VolatilityRegimeParams.model_validate(params))
    engine = Engine(config, venue, journal, strategy, clock, RunMode.PAPER)

    seen = await engine.observe()
    decision = engine.decide("seam", seen, Decimal(0)).decision

    assert strategy.views[0].history_interval_seconds == H4
    assert decision.inputs["bars"] == WINDOW_RETURNS
    assert decision.inputs["realized_vol"] == Decimal("0.6000")  # 44.50% if read as 8h bars
    assert decision.inputs["regime"] == "uncertain"  # not "calm"
    assert decision.ratios == {"BTC": Decimal("0.35")}
    price = seen.history["BTC"][-1]
    by_hand = VolatilityRegime(strategy.params).decide(
        StrategyInput(
            NOW,
            (HoldingView("BTC", Decimal(1), price),),
            history=seen.history,
            history_interval_seconds=H4,
        )
    )
    assert decision.inputs == by_hand.inputs


@pytest.mark.parametrize(("timeframe", "seconds"), [("1h", 3600), ("4h", H4), ("1d", 86400)])
def test_a_ccxt_venue_says_how_long_its_candles_are(timeframe: str, seconds: int) -> None:
    venue = CcxtVenue(object(), None, BINANCE, name="t", timeframe=timeframe)

    assert venue.bar_seconds == seconds


@pytest.mark.parametrize("interval", ["4h", "8h", "1d"])
def test_a_basket_lookback_counts_history_bars_whatever_the_interval(
    interval: str, journal: Journal
) -> None:
    settings = paper_config_dict(interval=interval)
    settings["hedge"] = {"baskets": {"lookback": "30d"}}
    config = parse_config(settings)
    clock = ReplayClock(NOW)
    venue = PaperVenue(four_hour_market(), clock, {"BTC": Decimal(1)}, Decimal(50000), ZERO, ZERO)
    strategy = Recording(VolatilityRegimeParams.model_validate({"window": "2d"}))
    engine = Engine(config, venue, journal, strategy, clock, RunMode.PAPER)

    assert engine.observer.baskets.lookback_bars == 180  # 30 days of 4h bars, not of rebalances
