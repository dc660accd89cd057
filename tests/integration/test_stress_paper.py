"""The squeeze's required collateral, replayed on the paper venue (the simulated exchange).

Two shorts at 5x (0.5 BTC at 40,000 and 4 ETH at 2,500: 4,000 and 2,000 margin) would both be
liquidated by a +40% squeeze. `hedgebot stress` reads them off the venue as the command does and
says what each leg must hold; the venue then replays a 4h candle whose high is 40% up: with that
collateral moved into the legs nothing is liquidated, with one cent less in a leg that leg is.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from bot.cli.commands.stress import observe_book
from bot.cli.session import Session
from bot.core.clock import ReplayClock
from bot.core.domain import ZERO, ForcedClose, OrderIntent, Side
from bot.journal.records import RunMode
from bot.market.series import Bar, BarSeries, MarketData
from bot.reporting.stress import SQUEEZE, Outcome, apply
from bot.settings.config import Config, load_config
from bot.sim.paper import PaperVenue
from bot.sim.paper_account import build_strategy

D = Decimal
H4_MS = 4 * 3_600_000
START = datetime(2024, 1, 1, tzinfo=UTC)
START_MS = 1_704_067_200_000
PRICES = {"BTC": D(40_000), "ETH": D(2_500)}
SHORTS = {"BTC": D("0.5"), "ETH": D(4)}
CONFIG = """\
interval = "4h"
[exchange]
name = "paper"
[paper]
collateral = 10000
[paper.holdings]
BTC = 1
ETH = 10
[strategy]
name = "static"
ratio = 0.4
"""


def series(price: Decimal) -> BarSeries:
    """Two 4h candles: flat at ``price``, then one whose high (and close) is 40% up."""
    up = price * D("1.4")
    return BarSeries(
        H4_MS,
        [
            Bar(START_MS, price, price, price, price, D(1)),
            Bar(START_MS + H4_MS, price, up, price, up, D(1)),
        ],
    )


def market() -> MarketData:
    spot = {asset: series(price) for asset, price in PRICES.items()}
    perp = {asset: series(price) for asset, price in PRICES.items()}
    return MarketData("squeeze", H4_MS, spot, perp, {}, {})


async def open_shorts(config: Config, collateral: Decimal) -> tuple[PaperVenue, Session]:
    clock = ReplayClock(START + timedelta(hours=4))
    venue = PaperVenue(market(), clock, {"BTC": D(1), "ETH": D(10)}, collateral, ZERO, ZERO)
    for asset, contracts in SHORTS.items():
        symbol = f"{asset}/USDT:USDT"
        await venue.setup_leg(symbol, 5)
        intent = OrderIntent(
            f"open-{asset}", symbol, Side.SELL, contracts, False, PRICES[asset], D(1)
        )
        await venue.place_order(intent)
    session = Session(build_strategy(config), venue, clock, RunMode.PAPER, "squeeze replay")
    return venue, session


async def stress(config: Config) -> Outcome:
    _, session = await open_shorts(config, D(10_000))
    snapshot = await observe_book(config, session)
    assert not snapshot.book.planned
    return apply(snapshot.book, SQUEEZE)


async def replay(config: Config, outcome: Outcome, less: Decimal) -> PaperVenue:
    """Fund the account with the collateral found (less ``less``), move it in, squeeze."""
    venue, _ = await open_shorts(config, outcome.margin_held + outcome.add_before - less)
    for leg in outcome.legs:
        await venue.add_margin(leg.symbol, leg.add_before - (less if leg.asset == "ETH" else 0))
    assert venue.exchange.wallet == 0
    await venue.clock.sleep(4 * 3600)
    venue.catch_up()  # the squeeze candle closes: its high is checked against each leg
    return venue


def test_the_squeeze_collateral_survives_and_a_cent_less_is_liquidated(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text(CONFIG, encoding="utf-8")
    config = load_config(tmp_path / "c.toml")
    outcome = asyncio.run(stress(config))
    assert all(leg.liquidated for leg in outcome.legs)  # 5x does not ride a +40% squeeze
    assert outcome.margin_held == D(6_000)
    # bundled Binance brackets, both mmr 0.4%: W = 1.4 × price × Q × 1.004 − Q × price, a cent up
    # BTC 56,000 × 0.502 − 20,000 = 8,112 → 8,112.01; ETH 3,500 × 4.016 − 10,000 = 4,056 → 4,056.01
    assert [leg.add_before for leg in outcome.legs] == [D("4112.01"), D("2056.01")]

    survived = asyncio.run(replay(config, outcome, ZERO))
    positions = asyncio.run(survived.fetch_positions(["BTC/USDT:USDT", "ETH/USDT:USDT"]))
    assert sorted(positions) == ["BTC/USDT:USDT", "ETH/USDT:USDT"]
    assert not [t for t in survived.exchange.trades if t.forced is ForcedClose.LIQUIDATION]
    # the hedge P&L of the move, as the stress says it for legs that hold that margin
    assert survived.hedge_account().unrealized == D(-12_000)  # −0.5 × 16,000 − 4 × 1,000

    short = asyncio.run(replay(config, outcome, D("0.01")))
    liquidated = [t.symbol for t in short.exchange.trades if t.forced is ForcedClose.LIQUIDATION]
    assert liquidated == ["ETH/USDT:USDT"]
