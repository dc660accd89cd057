"""The margin guard sizes top-ups and cuts with the venue's own liquidation method."""

from __future__ import annotations

from decimal import ROUND_UP, Decimal
from itertools import product

import pytest

from bot.core.domain import Bracket, Market, Position, PositionSide
from bot.margin.binance import (
    bundled_brackets,
    liquidation_distance,
    liquidation_price,
    margin_for_liquidation_distance,
)
from bot.margin.plan import GuardKind, MarginAction, plan_margin_actions
from bot.margin.venues import (
    LiquidationMethod,
    bybit_liquidation_price,
    liquidation_price_for,
    margin_for_distance_for,
)

D = Decimal
LONG, SHORT = PositionSide.LONG, PositionSide.SHORT
BINANCE, BYBIT = LiquidationMethod.BINANCE, LiquidationMethod.BYBIT
BTC = "BTC/USDT:USDT"
WARNING, TARGET, CRITICAL = D("0.25"), D("0.35"), D("0.10")
STEP = D("0.001")
EXACT = D("1e-8")

# Bybit BTCUSDT risk limits: position value at entry, (floor, cap], cum = mmDeduction.
BYBIT_BTC = (
    Bracket(floor=D(0), cap=D(2_000_000), max_leverage=100, mmr=D("0.005"), cum=D(0)),
    Bracket(floor=D(2_000_000), cap=D(10_000_000), max_leverage=50, mmr=D("0.01"), cum=D(10_000)),
)
TABLES = {BINANCE: bundled_brackets(BTC), BYBIT: BYBIT_BTC}
MARKETS = {
    BTC: Market(
        symbol=BTC,
        base="BTC",
        quote="USDT",
        contract_size=D(1),
        amount_step=STEP,
        min_amount=STEP,
        min_notional=D(5),
        price_tick=D("0.01"),
    )
}


def bybit_short(contracts: str, entry: str, margin: str) -> Position:
    """Return a Bybit short carrying the liquidation price Bybit reports for it."""
    liq = bybit_liquidation_price(SHORT, D(contracts), D(entry), D(margin), BYBIT_BTC)
    return Position(BTC, SHORT, D(contracts), D(entry), D(margin), 2, liquidation_price=liq)


def plan(
    pos: Position, mark: str, collateral: str, method: LiquidationMethod | None = None
) -> list[MarginAction]:
    """Plan the guard for one position on tiers ``BYBIT_BTC``; the engine's call without method."""
    args = (
        {BTC: pos},
        {BTC: D(mark)},
        lambda _symbol: BYBIT_BTC,
        MARKETS,
        D(collateral),
        WARNING,
        TARGET,
        CRITICAL,
    )
    return plan_margin_actions(*args) if method is None else plan_margin_actions(*args, method)


def bybit_distance(pos: Position, mark: Decimal, contracts: Decimal, margin: Decimal) -> Decimal:
    """Return the Bybit distance of ``pos`` resized to ``contracts`` with ``margin``."""
    liq = bybit_liquidation_price(pos.side, contracts, pos.entry_price, margin, BYBIT_BTC)
    found = liquidation_distance(pos.side, mark, liq)
    assert found is not None
    return found


def test_bybit_top_up_reaches_the_target_under_bybits_own_liquidation_price() -> None:
    # Short 1 BTC @ 50,000, margin 22,250: Bybit MM = 50,000 x 0.5% = 250 (tier of the entry
    # value), LP = 50,000 + (22,250 - 250) / 1 = 72,000; mark 60,000 -> 20% away (< 25%).
    pos = bybit_short("1", "50000", "22250")
    assert pos.liquidation_price == D(72000)
    (action,) = plan(pos, "60000", "100000", BYBIT)
    # Target LP = 60,000 x 1.35 = 81,000 -> WB = 250 + (81,000 - 50,000) = 31,250: add 9,000.
    assert action.kind is GuardKind.ADD_MARGIN and action.margin == D(9000)
    after = bybit_distance(pos, D(60000), pos.contracts, pos.isolated_margin + action.margin)
    assert abs(after - TARGET) <= EXACT
    # Binance's formula on the same position asks for more: MM at the liquidation notional,
    # 81,000 x 1.005 - 50,000 = 31,405, so 9,155, which would overshoot Bybit's target.
    (binance,) = plan(pos, "60000", "100000")  # the default: the engine's call today
    assert binance.margin == D(9155) != action.margin
    overshoot = bybit_distance(pos, D(60000), pos.contracts, pos.isolated_margin + binance.margin)
    assert overshoot - TARGET > D("0.002")


def test_the_default_method_is_binance_and_unchanged() -> None:
    table = bundled_brackets(BTC)
    liq = liquidation_price(SHORT, D(1), D(50000), D(20000), table)  # about 69,600: 16% away
    pos = Position(BTC, SHORT, D(1), D(50000), D(20000), 2, liquidation_price=liq)
    args = ({BTC: pos}, {BTC: D(60000)}, lambda _s: table, MARKETS, D(10**6))
    levels = (WARNING, TARGET, CRITICAL)
    (default,) = plan_margin_actions(*args, *levels)
    (binance,) = plan_margin_actions(*args, *levels, BINANCE)
    assert default == binance
    needed = margin_for_liquidation_distance(SHORT, D(1), D(50000), D(60000), TARGET, table)
    assert default.margin == (needed - pos.isolated_margin).quantize(D("0.01"), ROUND_UP)


def test_bybit_cut_is_the_smallest_that_restores_the_target_by_bybits_method() -> None:
    # Short 2 BTC @ 50,000 with 2,500 margin: MM 500, LP = 50,000 + 1,000 = 51,000; mark 50,000
    # -> 2% away (< critical), no collateral: cut.
    pos = bybit_short("2", "50000", "2500")
    mark = D(50000)
    (cut,) = plan(pos, "50000", "0", BYBIT)
    assert cut.kind is GuardKind.CUT and D(0) < cut.contracts < pos.contracts
    rest = pos.contracts - cut.contracts
    kept = pos.isolated_margin * rest / pos.contracts
    assert bybit_distance(pos, mark, rest, kept + cut.margin) >= TARGET
    bigger_rest = rest + STEP  # one lot less cut: short of the target under Bybit's method
    closed = pos.contracts - bigger_rest
    equity = pos.isolated_margin * closed / pos.contracts  # entry == mark: no loss on the part
    margin = pos.isolated_margin * bigger_rest / pos.contracts + equity
    assert bybit_distance(pos, mark, bigger_rest, margin) < TARGET


@pytest.mark.parametrize(("method", "side"), list(product((BINANCE, BYBIT), (SHORT, LONG))))
def test_margin_for_distance_puts_each_venues_liquidation_price_at_the_target(
    method: LiquidationMethod, side: PositionSide
) -> None:
    contracts, entry, mark = D(3), D(50000), D(45000) if side is SHORT else D(55000)
    table = TABLES[method]
    margin = margin_for_distance_for(method, side, contracts, entry, mark, TARGET, table, D(1))
    assert margin > 0
    liq = liquidation_price_for(method, side, contracts, entry, margin, table, D(1))
    found = liquidation_distance(side, mark, liq)
    assert found is not None and abs(found - TARGET) <= EXACT


def test_margin_for_distance_is_zero_for_an_empty_position_and_checks_its_inputs() -> None:
    assert margin_for_distance_for(BYBIT, SHORT, D(0), D(1), D(1), TARGET, BYBIT_BTC) == 0
    with pytest.raises(ValueError, match="target distance"):
        margin_for_distance_for(BYBIT, SHORT, D(1), D(1), D(1), D(0), BYBIT_BTC)
    with pytest.raises(ValueError, match="long's target distance"):
        margin_for_distance_for(BYBIT, LONG, D(1), D(1), D(1), D(1), BYBIT_BTC)
    with pytest.raises(ValueError, match="mark price"):
        margin_for_distance_for(BYBIT, LONG, D(1), D(1), D(0), TARGET, BYBIT_BTC)
