"""Strategies declare their needs in one typed value; the engine fetches exactly that."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest

from bot.core.clock import ReplayClock, to_ms
from bot.core.domain import ZERO
from bot.core.errors import ConfigError
from bot.journal.records import RunMode
from bot.journal.store import Journal
from bot.market.series import Bar, BarSeries, FundingEvent, FundingSeries, MarketData
from bot.runtime.engine import Engine
from bot.settings.config import parse_config
from bot.sim.paper import PaperVenue
from strategies import registry
from strategies.base import HedgeDecision, StrategyInput, StrategyNeeds, StrategyParams
from strategies.registry import create_strategy
from tests.conftest import paper_config_dict

H4_MS = 4 * 3_600_000
BARS = 100
START = datetime(2024, 1, 1, tzinfo=UTC)
NOW = START + timedelta(hours=4 * BARS)
BTC_CLOSES = [Decimal(60000 + 10 * i) for i in range(BARS)]
ETH_CLOSES = [Decimal(3000 + i) for i in range(BARS)]
FUNDING = Decimal("0.0001")


def series(closes: list[Decimal]) -> BarSeries:
    start = to_ms(START)
    return BarSeries(
        H4_MS, [Bar(start + i * H4_MS, c, c, c, c, Decimal(1)) for i, c in enumerate(closes)]
    )


def market() -> MarketData:
    """Return 4h BTC and ETH candles with a BTC funding settlement an hour before now."""
    spot = {"BTC": series(BTC_CLOSES), "ETH": series(ETH_CLOSES)}
    funding = FundingSeries([FundingEvent(to_ms(NOW) - 3_600_000, FUNDING)])
    return MarketData("hand-made", H4_MS, spot, dict(spot), {}, {"BTC": funding})


class TypedOnly:
    """A strategy that says what it needs only through `StrategyNeeds`."""

    name: ClassVar[str] = "typed_only"
    Params: ClassVar[type[StrategyParams]] = StrategyParams
    needs = StrategyNeeds(history_bars=3, history_assets=("ETH",), uses_funding_rates=True)

    def __init__(self, params: Any) -> None:
        self.params = params

    def decide(self, view: StrategyInput) -> HedgeDecision:
        return HedgeDecision({h.asset: ZERO for h in view.holdings}, "nothing")


class Untyped:
    """A plugin written for the old interface: needs as loose attributes."""

    name: ClassVar[str] = "untyped"
    Params: ClassVar[type[StrategyParams]] = StrategyParams
    history_bars = 10

    def __init__(self, params: Any) -> None:
        self.params = params

    def decide(self, view: StrategyInput) -> HedgeDecision:
        return HedgeDecision({}, "nothing")


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal.open(f"sqlite:///{tmp_path / 'journal.sqlite'}") as opened:
        yield opened


def engine(strategy: Any, journal: Journal) -> Engine:
    config = parse_config(paper_config_dict())  # holds 1 BTC
    clock = ReplayClock(NOW)
    venue = PaperVenue(market(), clock, {"BTC": Decimal(1)}, Decimal(50000), ZERO, ZERO)
    return Engine(config, venue, journal, strategy, clock, RunMode.PAPER)


def test_merged_needs_take_the_most_bars_every_asset_and_any_rates() -> None:
    merged = StrategyNeeds.merged(
        [
            StrategyNeeds(history_bars=5, history_assets=("SOL", "BTC")),
            StrategyNeeds(history_bars=9, history_assets=("BTC",), uses_funding_rates=True),
            StrategyNeeds(),
        ]
    )

    assert merged == StrategyNeeds(9, ("BTC", "SOL"), True)
    assert StrategyNeeds.merged([]) == StrategyNeeds(0, (), False)


def test_max_of_needs_the_most_bars_and_every_asset_of_its_parts() -> None:
    combined = create_strategy(
        "max_of",
        {
            "parts": [
                {"name": "volatility_regime", "reference": "ETH", "window": "2d"},
                {"name": "profit_taking", "window": "3d"},
                {"name": "static"},
            ]
        },
    )

    # 1h bars are the finest the engine may run on: 2d -> 48 + 1 closes, 3d -> 72 + 1.
    assert combined.needs == StrategyNeeds(history_bars=73, history_assets=("ETH",))
    assert create_strategy("static", {}).needs == StrategyNeeds()


async def test_the_engine_fetches_what_a_typed_strategy_needs(journal: Journal) -> None:
    seen = await engine(TypedOnly(None), journal).observe()

    assert seen.history == {"BTC": BTC_CLOSES[-3:], "ETH": ETH_CLOSES[-3:]}
    assert seen.history["BTC"] == [Decimal(60970), Decimal(60980), Decimal(60990)]
    assert seen.funding_rates == {"BTC/USDT:USDT": FUNDING}


async def test_the_engine_fetches_the_combined_needs_of_max_of(journal: Journal) -> None:
    combined = create_strategy(
        "max_of",
        {
            "parts": [
                {"name": "volatility_regime", "reference": "ETH", "window": "2d"},
                {"name": "profit_taking", "window": "3d"},
            ]
        },
    )

    seen = await engine(combined, journal).observe()

    assert seen.history == {"BTC": BTC_CLOSES[-73:], "ETH": ETH_CLOSES[-73:]}
    assert seen.history["ETH"][0] == Decimal(3027)
    assert seen.funding_rates == {}


def test_a_plugin_without_typed_needs_is_refused_when_created(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(registry, "available_strategies", lambda: {"untyped": Untyped})

    with pytest.raises(ConfigError, match=r"untyped.*needs"):
        create_strategy("untyped", {}, "plugin.toml")
