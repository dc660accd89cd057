from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bot.core.clock import ReplayClock
from bot.core.domain import ForcedClose, OrderIntent, OrderStatus, PositionSide, Side
from bot.margin.binance import bundled_brackets, liquidation_price
from bot.market.series import Bar, BarSeries, FundingEvent, FundingSeries, MarketData
from bot.sim.paper import PaperVenue

D = Decimal
H_MS = 3_600_000
H4_MS = 4 * H_MS
START = datetime(2024, 1, 1, tzinfo=UTC)
START_MS = 1_704_067_200_000  # 2024-01-01 00:00 UTC
BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"

# 4h bars by open hour -> (high, close); open = previous close, low = close - 100 (BTC), - 10 (ETH)
# BTC perp: the 12h bar is missing (no close at 16:00); the 20h bar spikes to 85000.
BTC_PERP = {0: (60500, 60000), 4: (60800, 60000), 8: (62500, 62000), 16: (63500, 63000)}
BTC_PERP |= {20: (85000, 64000)}
BTC_SPOT = {0: 60010, 4: 60020, 8: 62010, 12: 62510, 16: 63010, 20: 64010}  # no gap
ETH_PERP = {h: 3000 + 10 * i for i, h in enumerate(range(0, 24, 4))}  # closes 3000 .. 3050
ETH_SPOT = {h: ETH_PERP[h] + 1 for h in (8, 12, 16, 20)}  # spot starts with the 8h bar
# BTC funding every 8h; the 16:00 event falls inside the gap of the BTC perp candles
BTC_FUNDING = {8: "0.0001", 16: "0.0002", 24: "-0.0001"}


def at(hours: float) -> datetime:
    return START + timedelta(hours=hours)


def bar(open_hour: int, high: int, close: int, low_offset: int) -> Bar:
    return Bar(
        START_MS + open_hour * H_MS,
        D(close),
        D(high),
        D(close - low_offset),
        D(close),
        D(1),
    )


def series(closes: dict[int, int], highs: dict[int, int] | None = None, low: int = 10) -> BarSeries:
    bars = [bar(h, (highs or {}).get(h, c + low), c, low) for h, c in sorted(closes.items())]
    return BarSeries(H4_MS, bars)


def market_data() -> MarketData:
    return MarketData(
        label="hand-made test market",
        timeframe_ms=H4_MS,
        spot={"BTC": series(BTC_SPOT, low=100), "ETH": series(ETH_SPOT)},
        perp={
            "BTC": series(
                {h: c for h, (_, c) in BTC_PERP.items()},
                {h: hi for h, (hi, _) in BTC_PERP.items()},
                low=100,
            ),
            "ETH": series(ETH_PERP),
        },
        mark={"ETH": series({h: c + 1 for h, c in ETH_PERP.items()})},  # ETH mark = last + 1
        funding={
            "BTC": FundingSeries(
                [FundingEvent(START_MS + h * H_MS, D(r)) for h, r in BTC_FUNDING.items()]
            )
        },
    )


def venue(start_hour: float = 8, slippage_bps: str = "0") -> tuple[PaperVenue, ReplayClock]:
    clock = ReplayClock(at(start_hour))
    paper = PaperVenue(
        market_data(),
        clock,
        holdings={"BTC": D(1), "ETH": D(10)},
        collateral=D(10000),
        taker_fee=D("0.0005"),
        slippage_bps=D(slippage_bps),
    )
    return paper, clock


async def advance_to(clock: ReplayClock, hours: float) -> None:
    await clock.sleep((at(hours) - clock.now()).total_seconds())


def intent(
    cid: str, side: Side, amount: str, reduce_only: bool = False, symbol: str = BTC
) -> OrderIntent:
    return OrderIntent(cid, symbol, side, D(amount), reduce_only, D(0), D(1))


async def open_short(paper: PaperVenue, leverage: int, amount: str = "0.1") -> None:
    await paper.setup_leg(BTC, leverage)
    await paper.place_order(intent("open", Side.SELL, amount))


# --- quotes: a bar's close is the price only once the bar has closed --------------------------


async def test_quote_is_last_closed_bar_until_the_next_close() -> None:
    paper, clock = venue(start_hour=8)

    at_start = (await paper.fetch_quotes([BTC]))[BTC]
    await advance_to(clock, 11 + 59 / 60)
    before_close = (await paper.fetch_quotes([BTC]))[BTC]
    await advance_to(clock, 12)
    at_close = (await paper.fetch_quotes([BTC]))[BTC]

    assert (at_start.price, at_start.timestamp) == (D(60000), at(8))  # the 4h bar's close
    assert (before_close.price, before_close.timestamp) == (D(60000), at(8))
    assert (at_close.price, at_close.timestamp) == (D(62000), at(12))  # the 8h bar's close


async def test_perp_quote_timestamp_is_bar_close_and_gap_leaves_it_old() -> None:
    paper, clock = venue(start_hour=8)
    await advance_to(clock, 17)

    quotes = await paper.fetch_quotes([BTC, ETH])

    assert quotes[BTC].timestamp == at(12)  # the 12h bar is missing: last close is 12:00
    assert quotes[BTC].price == D(62000)
    assert quotes[ETH].timestamp == at(16)
    assert quotes[ETH].price == D(3030)  # 12h bar close
    assert quotes[ETH].mark == D(3031)  # from the mark series
    assert quotes[BTC].mark == D(62000)  # no mark series: mark = last


async def test_spot_quote_is_last_closed_spot_bar() -> None:
    paper, clock = venue(start_hour=8)
    await advance_to(clock, 9)

    quotes = await paper.fetch_quotes(["BTC/USDT"])

    assert quotes["BTC/USDT"].price == D(60020)  # 4h bar, closed 08:00
    assert quotes["BTC/USDT"].timestamp == at(8)


async def test_missing_spot_data_gives_no_quote() -> None:
    paper, clock = venue(start_hour=8)

    before_first_bar = await paper.fetch_quotes(["ETH/USDT", "DOGE/USDT"])
    await advance_to(clock, 12)
    after_first_bar = await paper.fetch_quotes(["ETH/USDT", "DOGE/USDT"])

    assert before_first_bar == {}  # ETH spot's first bar closes at 12:00; no DOGE at all
    assert list(after_first_bar) == ["ETH/USDT"]
    assert after_first_bar["ETH/USDT"].price == D(3021)
    assert after_first_bar["ETH/USDT"].timestamp == at(12)


async def test_unknown_perp_gives_no_quote() -> None:
    paper, _ = venue()

    assert await paper.fetch_quotes(["DOGE/USDT:USDT"]) == {}


# --- orders -----------------------------------------------------------------------------------


async def test_place_order_fills_at_last_close_minus_slippage_with_fee() -> None:
    # sell 0.1 @ 60000 * (1 - 0.001) = 59940; fee 0.1 * 59940 * 0.0005 = 2.997;
    # margin at 2x 0.1 * 59940 / 2 = 2997 -> collateral 10000 - 2997 - 2.997 = 7000.003
    paper, _ = venue(start_hour=8, slippage_bps="10")
    await paper.setup_leg(BTC, 2)

    result = await paper.place_order(intent("hb-1", Side.SELL, "0.1"))

    assert result.status is OrderStatus.FILLED
    assert result.client_order_id == "hb-1"
    assert (result.amount, result.filled, result.average_price) == (D("0.1"), D("0.1"), D(59940))
    (fill,) = result.fills
    assert (fill.price, fill.fee, fill.fee_currency) == (D(59940), D("2.997"), "USDT")
    assert fill.timestamp == at(8)
    assert fill.client_order_id == "hb-1"
    assert await paper.fetch_collateral() == D("7000.003")
    position = (await paper.fetch_positions([BTC]))[BTC]
    assert position.side is PositionSide.SHORT
    assert (position.contracts, position.entry_price) == (D("0.1"), D(59940))
    assert (position.isolated_margin, position.leverage) == (D(2997), 2)


async def test_reduce_only_buy_fills_at_last_close_plus_slippage() -> None:
    # at 12:00 the last close is 62000: buy at 62000 * 1.001 = 62062;
    # PnL 0.05 * (59940 - 62062) = -106.1; fee 0.05 * 62062 * 0.0005 = 1.55155
    paper, clock = venue(start_hour=8, slippage_bps="10")
    await open_short(paper, 2)
    await advance_to(clock, 12)

    result = await paper.place_order(intent("hb-2", Side.BUY, "0.05", reduce_only=True))

    (fill,) = result.fills
    assert (fill.price, fill.fee, fill.realized_pnl) == (D(62062), D("1.55155"), D("-106.1"))
    assert result.reduce_only is True


async def test_find_order_by_client_id() -> None:
    paper, _ = venue()
    await open_short(paper, 2)

    found = await paper.find_order("open", BTC)

    assert found is not None
    assert (found.client_order_id, found.status, found.filled) == (
        "open",
        OrderStatus.FILLED,
        D("0.1"),
    )
    assert len(found.fills) == 1
    assert await paper.find_order("never-sent", BTC) is None


async def test_setup_leg_twice_succeeds() -> None:
    paper, _ = venue()

    await paper.setup_leg(BTC, 3)
    await paper.setup_leg(BTC, 3)

    assert BTC in paper.exchange.isolated
    assert paper.exchange.leverage_of(BTC) == 3


async def test_fetch_fills_filters_by_since_and_symbol() -> None:
    paper, clock = venue()
    await open_short(paper, 2)
    await paper.setup_leg(ETH, 2)
    await paper.place_order(intent("eth", Side.SELL, "1", symbol=ETH))
    await advance_to(clock, 12)
    await paper.place_order(intent("close", Side.BUY, "0.1", reduce_only=True))

    every = await paper.fetch_fills([BTC], {})
    after_open = await paper.fetch_fills([BTC], {BTC: at(8)})
    after_close = await paper.fetch_fills([BTC], {BTC: at(12)})
    both = await paper.fetch_fills([BTC, ETH], {})

    assert [f.client_order_id for f in every] == ["open", "close"]
    assert [f.client_order_id for f in after_open] == ["close"]  # strictly after `since`
    assert after_close == []
    assert [f.client_order_id for f in both] == ["open", "eth", "close"]


# --- funding ----------------------------------------------------------------------------------

# short 0.1 BTC opened at 08:00 (after the 08:00 settlement, which it does not see):
#   16:00 rate 0.0002, mark = last known close 62000 (the 12h bar is missing):
#         0.1 * 62000 * 0.0002 = 1.24 received
#   24:00 rate -0.0001, mark = 20h bar close 64000: 0.1 * 64000 * -0.0001 = -0.64 paid
EXPECTED_FUNDING = [(at(16), D("0.0002"), D("1.24")), (at(24), D("-0.0001"), D("-0.64"))]


@pytest.mark.parametrize(
    "schedule",
    [
        [24],
        [12, 17, 17, 20, 24, 24],
        [h + 0.5 for h in range(8, 24)] + [24],
        list(range(9, 25)),
    ],
    ids=["one-jump", "irregular", "half-hours", "hourly"],
)
async def test_funding_applied_exactly_once_whatever_the_catch_up_cadence(
    schedule: list[float],
) -> None:
    paper, clock = venue(start_hour=8)
    await open_short(paper, 2)

    for hours in schedule:
        await advance_to(clock, hours)
        paper.catch_up()
        paper.catch_up()

    payments = await paper.fetch_funding(None)
    assert [(p.timestamp, p.rate, p.amount) for p in payments] == EXPECTED_FUNDING
    assert all(p.symbol == BTC and p.position_contracts == D("-0.1") for p in payments)
    position = (await paper.fetch_positions([BTC]))[BTC]
    assert position.isolated_margin == D(3000) + D("1.24") - D("0.64")


async def test_fetch_funding_filters_by_since() -> None:
    paper, clock = venue(start_hour=8)
    await open_short(paper, 2)
    await advance_to(clock, 24)

    after_16 = await paper.fetch_funding(at(16))
    after_24 = await paper.fetch_funding(at(24))

    assert [p.timestamp for p in after_16] == [at(24)]
    assert after_24 == []


async def test_no_funding_without_position() -> None:
    paper, clock = venue(start_hour=0)
    await advance_to(clock, 24)

    assert await paper.fetch_funding(None) == []


# --- liquidation ------------------------------------------------------------------------------


async def test_bar_high_crossing_liquidation_price_shows_up_as_liquidation_fill() -> None:
    # short 0.1 @ 60000 at 3x: margin 2000, fee 3 -> collateral 7997.
    # 16:00 funding +1.24 -> isolated 2001.24. Notional at LP ~8k -> bracket 1 (0.4%, cum 0):
    # LP = (2001.24 + 6000) / (0.1 * 0.004 + 0.1) = 8001.24 / 0.1004 = 79693.63 < 85000 (20h high)
    paper, clock = venue(start_hour=8)
    await open_short(paper, 3)
    await advance_to(clock, 20)
    position = (await paper.fetch_positions([BTC]))[BTC]
    expected = liquidation_price(
        PositionSide.SHORT, D("0.1"), D(60000), D("2001.24"), bundled_brackets(BTC)
    )
    assert position.liquidation_price == expected == D("8001.24") / D("0.1004")

    await advance_to(clock, 23.99)  # the spiking bar is still running: no look-ahead
    assert BTC in await paper.fetch_positions([BTC])
    await advance_to(clock, 24)
    fills = await paper.fetch_fills([BTC], {BTC: at(20)})

    (liq,) = fills
    assert liq.forced is ForcedClose.LIQUIDATION
    assert (liq.side, liq.amount, liq.price) == (Side.BUY, D("0.1"), expected)
    assert liq.timestamp == at(24)
    assert liq.client_order_id is None
    assert liq.realized_pnl == D("0.1") * (D(60000) - expected)
    assert liq.fee == D("2001.24") + liq.realized_pnl  # what is left of the margin
    assert await paper.fetch_positions([BTC]) == {}
    assert await paper.fetch_collateral() == D(7997)  # wallet untouched by the liquidation
    # the 24:00 settlement comes after the liquidation: nothing is paid on a flat position
    assert [p.timestamp for p in await paper.fetch_funding(None)] == [at(16)]


async def test_2x_short_survives_the_same_spike() -> None:
    # 2x: LP = (3001.24 + 6000) / 0.1004 = 89653.8 > 85000
    paper, clock = venue(start_hour=8)
    await open_short(paper, 2)
    await advance_to(clock, 24)

    assert not any(f.forced for f in await paper.fetch_fills([BTC], {}))
    assert (await paper.fetch_positions([BTC]))[BTC].contracts == D("0.1")


async def test_funding_rate_is_the_last_settled_one_never_a_future_one() -> None:
    paper, clock = venue(start_hour=8)
    settled = sorted(h for h in BTC_FUNDING if h <= 8)
    rates = await paper.fetch_funding_rates(["BTC/USDT:USDT", "ETH/USDT:USDT"])
    assert rates == {"BTC/USDT:USDT": D(BTC_FUNDING[settled[-1]])}  # ETH has no funding data
    later = min(h for h in BTC_FUNDING if h > 8)
    await advance_to(clock, later - 0.5)
    assert (await paper.fetch_funding_rates(["BTC/USDT:USDT"]))["BTC/USDT:USDT"] == D(
        BTC_FUNDING[settled[-1]]
    )
    await advance_to(clock, later)
    assert (await paper.fetch_funding_rates(["BTC/USDT:USDT"]))["BTC/USDT:USDT"] == D(
        BTC_FUNDING[later]
    )
