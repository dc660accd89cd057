"""REST alone guards by the mark: a squeeze only the mark shows is seen at the next cycle.

Binance's 24h ticker carries the last trade price only; the position read carries the mark the
exchange liquidates by. Here the emulator moves ETH's mark toward the short's liquidation price
while the last trade price stays where it was: the next REST cycle must top the margin up.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from bot.core.domain import Position, PositionSide, Quote
from bot.journal.records import RunMode
from bot.runtime.engine import Engine
from bot.runtime.observe import with_position_marks
from tests.live.conftest import LiveRig

ETH = "ETH/USDT:USDT"


async def test_a_mark_only_squeeze_is_topped_up_by_the_next_rest_cycle(rig: LiveRig) -> None:
    await rig.engine.cycle()
    held = rig.sim.positions[ETH]  # the simulator's live object: its figures are copied
    contracts, margin = held.contracts, held.isolated_margin
    liquidation = rig.sim.liquidation_price(ETH)
    assert contracts < 0 and liquidation is not None
    ticker = (await rig.venue.fetch_quotes([ETH]))[ETH]
    assert ticker.mark is None  # Binance's 24h ticker: the last trade price only
    opened = liquidation / ticker.price - 1
    # Levels around the distance the short was opened at: a 4% rise of the mark (inside
    # risk.max_basis of spot) takes it under the warning level, not under the critical one.
    risk = rig.config.risk.model_copy(
        update={
            "liquidation_critical": opened - Decimal("0.10"),
            "liquidation_warning": opened - Decimal("0.02"),
            "liquidation_target": opened + Decimal("0.05"),
        }
    )
    config = rig.config.model_copy(update={"risk": risk})
    engine = Engine(config, rig.venue, rig.journal, rig.engine.strategy, rig.clock, RunMode.LIVE)
    mark = (ticker.price * Decimal("1.04")).quantize(Decimal("0.01"))
    rig.emulator.account.set_mark(ETH, mark)

    report = await engine.cycle()

    assert (await rig.venue.fetch_quotes([ETH]))[ETH].price == ticker.price  # last did not move
    assert report.observation.quotes[ETH].mark == mark  # the cycle judged by the mark
    after = rig.sim.positions[ETH]
    assert after.contracts == contracts
    assert after.isolated_margin > margin  # topped up, nothing cut
    topped = rig.sim.liquidation_price(ETH)
    assert topped is not None
    assert abs(topped / mark - 1 - risk.liquidation_target) < Decimal("0.001")


def test_a_quote_without_a_mark_takes_its_positions_mark_and_keeps_its_own_otherwise() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    btc, eth = "BTC/USDT:USDT", "ETH/USDT:USDT"
    quotes = {btc: Quote(btc, Decimal(100), at), eth: Quote(eth, Decimal(10), at, Decimal("10.5"))}
    short = Position(btc, PositionSide.SHORT, Decimal(1), Decimal(90), Decimal(50), 2)
    positions = {
        btc: replace(short, mark_price=Decimal("101.5")),
        eth: replace(short, symbol=eth, mark_price=Decimal(11)),
    }
    result = with_position_marks(quotes, positions)
    assert (result[btc].mark, result[btc].price) == (Decimal("101.5"), Decimal(100))
    assert result[eth].mark == Decimal("10.5")  # the quote's own mark stays
    assert with_position_marks(quotes, {})[btc].mark is None
