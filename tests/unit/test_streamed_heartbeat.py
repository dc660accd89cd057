"""What a cycle takes from the streams instead of REST: prices, and when funding is due.

The engine over the in-memory venue with streamed prices handed to its observer as `Engine.run`
hands a reactor's: quotes come from the stream only when it prices every symbol; funding is read
after the funding time the stream announced, and every payment is journaled exactly once.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from bot.core.clock import ReplayClock, to_ms
from bot.core.domain import base_of
from bot.journal.records import RebalanceStatus, RunMode
from bot.journal.store import Journal
from bot.runtime.engine import Engine
from bot.venue.streams import MarkEvent, mark_events
from strategies.registry import create_strategy
from tests.unit.fake_venue import BTC, ETH, NOW, FakeVenue, fake_config

HOUR = timedelta(hours=1)


class Stream:
    """Marks as a reactor holds them: each perp at its venue price, the index 1% under it."""

    def __init__(self, venue: FakeVenue, clock: ReplayClock, next_funding: timedelta) -> None:
        self.venue, self.clock, self.next_funding = venue, clock, next_funding
        self.index: dict[str, Decimal | None] = {}

    def prices(self) -> dict[str, MarkEvent]:
        now = to_ms(self.clock.now())
        funding = to_ms(NOW + self.next_funding)
        events = {}
        for symbol in self.venue.markets:
            mark = self.venue.prices[base_of(symbol)]
            index = self.index.get(symbol, mark * Decimal("0.99"))
            events[symbol] = MarkEvent(symbol, mark, index, now, funding)
        return events


def streamed_engine(
    tmp_path: Path, venue: FakeVenue, journal: Journal, clock: ReplayClock, stream: Stream
) -> Engine:
    config = fake_config(tmp_path)
    strategy = create_strategy("static", {"ratio": Decimal("0.4")})
    bot = Engine(config, venue, journal, strategy, clock, RunMode.LIVE)
    bot.observer.stream_prices = stream.prices
    return bot


async def test_a_streamed_cycle_prices_legs_at_the_mark_and_spot_at_the_index(
    tmp_path: Path, venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    stream = Stream(venue, clock, 8 * HOUR)
    bot = streamed_engine(tmp_path, venue, journal, clock, stream)
    report = await bot.cycle()
    assert report.status is RebalanceStatus.DONE, report.reason
    btc = venue.prices["BTC"]
    quotes = report.observation.quotes
    assert quotes[BTC].price == quotes[BTC].mark == btc
    assert quotes["BTC/USDT"].price == btc * Decimal("0.99") and quotes["BTC/USDT"].mark is None
    # 0.4 of 1 BTC valued at the index, in contracts at the mark: 0.4 × 0.99
    assert venue.short(BTC) == Decimal("0.396")


async def test_a_symbol_the_stream_does_not_price_sends_the_cycle_to_rest(
    tmp_path: Path, venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    stream = Stream(venue, clock, 8 * HOUR)
    stream.index[ETH] = None  # no index for ETH: ETH/USDT has no streamed price
    bot = streamed_engine(tmp_path, venue, journal, clock, stream)
    report = await bot.cycle()
    quotes = report.observation.quotes
    assert quotes["BTC/USDT"].price == venue.prices["BTC"]  # every quote from REST
    assert quotes[BTC].mark == venue.prices["BTC"]


async def test_funding_is_read_after_the_announced_time_and_journaled_once(
    tmp_path: Path, venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    stream = Stream(venue, clock, 8 * HOUR)
    bot = streamed_engine(tmp_path, venue, journal, clock, stream)
    await bot.cycle()  # opens the legs
    await clock.sleep(HOUR.total_seconds())
    await bot.cycle()  # reads funding (none yet), notes the next funding time: NOW + 8h
    early = venue.pay_funding(BTC, Decimal("0.0001"))  # booked before the announced time
    await clock.sleep(HOUR.total_seconds())
    held = await bot.cycle()
    assert held.status is RebalanceStatus.HELD and held.new_funding == 0
    assert journal.funding(venue=venue.name) == []  # not read before NOW + 8h

    await clock.sleep(6 * 3600)  # NOW + 8h: the funding time has come
    paid = venue.pay_funding(ETH, Decimal("0.0001"))
    stream.next_funding = 16 * HOUR
    due = await bot.cycle()
    assert due.new_funding == 2
    assert {p.payment_id for p in journal.funding(venue=venue.name)} == {
        early.payment_id,
        paid.payment_id,
    }
    await clock.sleep(HOUR.total_seconds())
    again = await bot.cycle()
    assert again.new_funding == 0 and len(journal.funding(venue=venue.name)) == 2


async def test_an_implausible_announced_funding_time_is_not_trusted(
    tmp_path: Path, venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    stream = Stream(venue, clock, 30 * 24 * HOUR)  # "next funding in a month": not believed
    bot = streamed_engine(tmp_path, venue, journal, clock, stream)
    await bot.cycle()
    await clock.sleep(HOUR.total_seconds())
    await bot.cycle()
    paid = venue.pay_funding(BTC, Decimal("0.0001"))
    await clock.sleep(HOUR.total_seconds())
    report = await bot.cycle()
    assert report.new_funding == 1
    assert [p.payment_id for p in journal.funding(venue=venue.name)] == [paid.payment_id]


async def test_without_streams_funding_is_read_every_cycle(
    tmp_path: Path, venue: FakeVenue, journal: Journal, clock: ReplayClock
) -> None:
    bot = Engine(
        fake_config(tmp_path),
        venue,
        journal,
        create_strategy("static", {"ratio": Decimal("0.4")}),
        clock,
        RunMode.LIVE,
    )
    await bot.cycle()
    await clock.sleep(3600)
    venue.pay_funding(BTC, Decimal("0.0001"))
    await clock.sleep(60)
    report = await bot.cycle()
    assert report.new_funding == 1


def test_mark_events_read_the_index_and_next_funding_of_both_exchanges() -> None:
    binance = {  # ccxt.pro's ticker of a Binance markPriceUpdate
        BTC: {
            "symbol": BTC,
            "markPrice": "50000.1",
            "indexPrice": "49990.5",
            "timestamp": 1_700_000_000_000,
            "info": {"e": "markPriceUpdate", "p": "50000.1", "i": "49990.5", "T": 1700006400000},
        }
    }
    bybit = {  # ccxt.pro's ticker of Bybit's tickers.BTCUSDT
        BTC: {
            "symbol": BTC,
            "markPrice": None,
            "timestamp": 1_700_000_000_500,
            "info": {
                "markPrice": "50001",
                "indexPrice": "49999",
                "nextFundingTime": "1700006400000",
            },
        }
    }
    assert mark_events(binance) == [
        MarkEvent(BTC, Decimal("50000.1"), Decimal("49990.5"), 1_700_000_000_000, 1700006400000)
    ]
    assert mark_events(bybit) == [
        MarkEvent(BTC, Decimal(50001), Decimal(49999), 1_700_000_000_500, 1700006400000)
    ]
    assert mark_events({BTC: {"symbol": BTC, "info": {"markPrice": "0"}}}) == []
