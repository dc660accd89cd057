"""`hedge.baskets.min_volume` works from the 24h quote volume the venue's tickers carry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bot.core.clock import ReplayClock
from bot.core.domain import HedgeTarget
from bot.journal.records import RunMode
from bot.journal.store import Journal
from bot.market.series import Bar, BarSeries, MarketData
from bot.runtime.engine import Engine
from bot.settings.config import parse_config
from bot.sim.paper import PaperVenue
from strategies.registry import create_strategy
from tests.conftest import paper_config_dict

D = Decimal
H4_MS = 4 * 3_600_000
START = datetime(2024, 1, 1, tzinfo=UTC)
START_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC
BARS = 30
NOW = START + timedelta(hours=4 * BARS)  # the last bar has just closed
WIGGLE = [D(1) + D("0.01") * ((i * 7) % 5 - 2) + D("0.001") * i for i in range(BARS)]
CLOSES = {
    "BTC": [D(40000) * w for w in WIGGLE],
    "ETH": [D(2000) * w for w in WIGGLE],
    "MEME": [D("1.2") * w for w in WIGGLE],  # moves with ETH: ETH is its best candidate
}
VOLUMES = {"BTC": D(100), "ETH": D(1000), "MEME": D(1000)}  # base units per 4h bar
HOLDINGS = {"MEME": D(100000), "ETH": D(10)}
MIN_VOLUME = D(1_000_000)


def series(asset: str) -> BarSeries:
    closes = CLOSES[asset]
    bars = [
        Bar(START_MS + i * H4_MS, close, close, close, close, VOLUMES[asset])
        for i, close in enumerate(closes)
    ]
    return BarSeries(H4_MS, bars)


def day_quote_volume(asset: str) -> Decimal:
    """Return volume × close over the six 4h bars of the last 24 hours."""
    return sum((VOLUMES[asset] * c for c in CLOSES[asset][-6:]), D(0))


@pytest.fixture
async def engine() -> AsyncIterator[Engine]:
    data = MarketData(
        label="hand-made market: MEME's perp trades little",
        timeframe_ms=H4_MS,
        spot={a: series(a) for a in CLOSES},
        perp={a: series(a) for a in CLOSES},
        mark={},
        funding={},
    )
    clock = ReplayClock(NOW)
    venue = PaperVenue(data, clock, HOLDINGS, D(100000), D("0.0005"), D(0))
    config = parse_config(
        paper_config_dict(
            strategy={"name": "static", "ratio": "0.5"},
            hedge={
                "deadband": 0.05,
                "baskets": {
                    "min_volume": int(MIN_VOLUME),
                    "auto_proxy": True,
                    "anchor": "BTC",
                    "anchor_weight": "0.5",
                    "candidates": ["ETH"],
                    "lookback": "4d",
                },
            },
        )
    )
    journal = Journal.open("sqlite:///:memory:")
    strategy = create_strategy(config.strategy.name, config.strategy.params())
    yield Engine(config, venue, journal, strategy, clock, RunMode.PAPER)
    journal.close()


async def test_paper_quotes_carry_the_last_24h_quote_volume(engine: Engine) -> None:
    quotes = await engine.venue.fetch_quotes(["MEME/USDT:USDT", "ETH/USDT:USDT", "BTC/USDT"])

    assert quotes["MEME/USDT:USDT"].quote_volume == day_quote_volume("MEME")
    assert quotes["ETH/USDT:USDT"].quote_volume == day_quote_volume("ETH")
    assert quotes["BTC/USDT"].quote_volume == day_quote_volume("BTC")  # spot too


async def test_illiquid_own_perp_falls_back_to_the_auto_proxy_basket(engine: Engine) -> None:
    assert day_quote_volume("MEME") < MIN_VOLUME < day_quote_volume("ETH")

    report = await engine.cycle(dry_run=True)

    meme_value = HOLDINGS["MEME"] * CLOSES["MEME"][-1]
    eth_value = HOLDINGS["ETH"] * CLOSES["ETH"][-1]
    targets = {t.symbol: t.notional for t in report.targets}
    assert targets == {
        "BTC/USDT:USDT": D("0.5") * D("0.5") * meme_value,  # the anchor's half of MEME's hedge
        "ETH/USDT:USDT": D("0.5") * eth_value + D("0.5") * D("0.5") * meme_value,
    }
    assert report.observation.volumes["MEME"] == day_quote_volume("MEME")
    btc: HedgeTarget = next(t for t in report.targets if t.symbol == "BTC/USDT:USDT")
    assert "under the 1,000,000 threshold" in btc.reason
