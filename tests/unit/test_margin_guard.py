"""The liquidation-distance guard: top up to the target distance, else cut the smallest amount."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.core.domain import ZERO, Market, Position, PositionSide
from bot.margin.binance import bundled_brackets, liquidation_distance, liquidation_price
from bot.margin.plan import GuardKind, MarginAction, plan_margin_actions

D = Decimal
LONG = PositionSide.LONG
SHORT = PositionSide.SHORT
BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
WARNING, TARGET, CRITICAL = D("0.25"), D("0.35"), D("0.10")
CENT = D("0.01")
STEP = D("0.001")

# Bundled Binance brackets used below, as (floor, cap, mmr, cum):
#   BTCUSDT 1: [0, 50k) 0.4% 0 | 2: [50k, 600k) 0.5% 50 | ...
# Isolated one-way: LP = (WB + cum - s*Q*EP) / (Q*mmr - s*Q), s = +1 long / -1 short.


def market(symbol: str, step: Decimal = STEP) -> Market:
    return Market(
        symbol=symbol,
        base=symbol.split("/")[0],
        quote="USDT",
        contract_size=D(1),
        amount_step=step,
        min_amount=step,
        min_notional=D(5),
        price_tick=CENT,
    )


MARKETS = {BTC: market(BTC), ETH: market(ETH, D("0.001"))}


def position(symbol: str, side: PositionSide, contracts: str, entry: str, margin: str) -> Position:
    """Return a position carrying its Binance liquidation price, as a venue reports it."""
    liq = liquidation_price(side, D(contracts), D(entry), D(margin), bundled_brackets(symbol))
    return Position(symbol, side, D(contracts), D(entry), D(margin), 2, liquidation_price=liq)


def plan(positions: list[Position], marks: dict[str, str], collateral: str) -> list[MarginAction]:
    return plan_margin_actions(
        {p.symbol: p for p in positions},
        {s: D(m) for s, m in marks.items()},
        bundled_brackets,
        MARKETS,
        D(collateral),
        WARNING,
        TARGET,
        CRITICAL,
    )


def distance(pos: Position, mark: Decimal, contracts: Decimal, margin: Decimal) -> Decimal:
    """Return the liquidation distance of ``pos`` resized to ``contracts`` with ``margin``."""
    liq = liquidation_price(
        pos.side, contracts, pos.entry_price, margin, bundled_brackets(pos.symbol)
    )
    found = liquidation_distance(pos.side, mark, liq)
    assert found is not None
    return found


def target_price(side: PositionSide, mark: Decimal) -> Decimal:
    return mark * (1 + TARGET) if side is SHORT else mark * (1 - TARGET)


# --- nothing to do ----------------------------------------------------------------------------


def test_no_action_while_every_position_is_beyond_the_warning_distance() -> None:
    # 1x short 1 BTC from 50k: LP = (50000 + 50 + 50000) / 1.005 = 99552.24, 99% away.
    calm_short = position(BTC, SHORT, "1", "50000", "50000")
    # 2x long 10 ETH from 3000: LP about 1500, 40% below a 2500 mark.
    calm_long = position(ETH, LONG, "10", "3000", "15000")

    assert plan([calm_short, calm_long], {BTC: "50000", ETH: "2500"}, "0") == []
    assert plan([calm_short, calm_long], {BTC: "50000", ETH: "2500"}, "100000") == []


def test_positions_without_a_mark_or_liquidation_price_are_left_alone() -> None:
    near = position(BTC, SHORT, "1", "40000", "20000")  # LP 59751.24
    no_liq = Position(BTC, SHORT, D(1), D(40000), D(20000), 2, liquidation_price=None)

    assert plan([near], {}, "100000") == []
    assert plan([no_liq], {BTC: "59000"}, "100000") == []


# --- top-ups ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "entry", "margin", "mark"),
    [
        # 2x short 1 BTC from 40k: LP = (20000 + 50 + 40000) / 1.005 = 59751.24; at 48k: 24.5%.
        (SHORT, "40000", "20000", "48000"),
        # 2x long 1 BTC from 50k: LP = (25000 - 50000) / (0.004 - 1) = 25100.50; at 32k: 21.6%.
        (LONG, "50000", "25000", "32000"),
    ],
)
def test_top_up_restores_exactly_the_target_distance(
    side: PositionSide, entry: str, margin: str, mark: str
) -> None:
    pos = position(BTC, side, "1", entry, margin)
    assert pos.liquidation_price is not None
    assert WARNING > distance(pos, D(mark), pos.contracts, pos.isolated_margin) > CRITICAL

    [action] = plan([pos], {BTC: mark}, "100000")

    assert action.kind is GuardKind.ADD_MARGIN
    assert action.contracts == ZERO
    assert action.margin == action.margin.quantize(CENT)
    assert action.mark == D(mark) and action.liquidation_price == pos.liquidation_price
    after = liquidation_price(
        side, D(1), D(entry), D(margin) + action.margin, bundled_brackets(BTC)
    )
    assert after is not None
    wanted = target_price(side, D(mark))
    assert abs(after - wanted) < CENT  # restored to the cent
    assert distance(pos, D(mark), D(1), D(margin) + action.margin) >= TARGET  # rounded up
    assert distance(pos, D(mark), D(1), D(margin) + action.margin - CENT) < TARGET
    assert "to reach 35%" in action.reason


def test_the_collateral_budget_is_shared_across_positions_in_symbol_order() -> None:
    btc = position(BTC, SHORT, "1", "40000", "20000")  # 24.5% at 48000
    eth = position(ETH, SHORT, "10", "2000", "10000")  # 2x, LP 2988.05; 24.5% at 2400
    marks = {BTC: "48000", ETH: "2400"}
    [btc_alone] = plan([btc], marks, "100000")
    [eth_alone] = plan([eth], marks, "100000")

    both = plan([btc, eth], marks, str(btc_alone.margin + eth_alone.margin))
    assert [(a.symbol, a.margin) for a in both] == [
        (BTC, btc_alone.margin),
        (ETH, eth_alone.margin),
    ]

    short_by = D("1000.00")
    budget = btc_alone.margin + eth_alone.margin - short_by
    first, second = plan([btc, eth], marks, str(budget))
    assert (first.symbol, first.kind, first.margin) == (BTC, GuardKind.ADD_MARGIN, btc_alone.margin)
    assert (second.symbol, second.kind) == (ETH, GuardKind.ADD_MARGIN)
    assert second.margin == eth_alone.margin - short_by  # what BTC left, not what ETH needs
    assert first.margin + second.margin == budget


def test_partial_top_up_when_collateral_is_short_and_distance_is_above_critical() -> None:
    pos = position(BTC, SHORT, "1", "40000", "20000")  # 24.5% at 48000, above 10% critical
    [full] = plan([pos], {BTC: "48000"}, "100000")

    [action] = plan([pos], {BTC: "48000"}, "1234.567")

    assert action.kind is GuardKind.ADD_MARGIN
    assert action.contracts == ZERO
    assert action.margin == D("1234.56")  # all of it, down to the cent
    assert action.margin < full.margin
    assert f"only 1,234.56 collateral free of {full.margin:,.2f} needed" in action.reason
    assert TARGET > distance(pos, D(48000), D(1), D(20000) + action.margin) > D("0.245")


def test_no_collateral_and_distance_above_critical_leaves_the_position_alone() -> None:
    pos = position(BTC, SHORT, "1", "40000", "20000")  # 24.5%: warning, not critical

    assert plan([pos], {BTC: "48000"}, "0.009") == []


# --- cuts -------------------------------------------------------------------------------------


def margin_after_cut(pos: Position, close: Decimal, mark: Decimal, free: Decimal) -> Decimal:
    """Return the rest's margin: its own share, plus the closed part's equity, plus ``free``."""
    direction = D(1) if pos.side is LONG else D(-1)
    closed_equity = pos.isolated_margin * close / pos.contracts + direction * close * (
        mark - pos.entry_price
    )
    kept = pos.isolated_margin * (pos.contracts - close) / pos.contracts
    return kept + closed_equity + free


@pytest.mark.parametrize(
    ("side", "entry", "margin", "mark"),
    [
        # 2x short 2 BTC from 40k: LP = (40000 + 50 + 80000) / 2.01 = 59726.37; at 56k: 6.7%.
        (SHORT, "40000", "40000", "56000"),
        # 2x long 2 BTC from 50k: LP = (50000 - 100000) / (2 × 0.004 - 2) = 25100.50;
        # at 27k: 7.0%.
        (LONG, "50000", "50000", "27000"),
    ],
)
def test_cut_below_critical_without_collateral_is_the_smallest_that_restores_the_target(
    side: PositionSide, entry: str, margin: str, mark: str
) -> None:
    pos = position(BTC, side, "2", entry, margin)
    assert distance(pos, D(mark), pos.contracts, pos.isolated_margin) < CRITICAL

    [action] = plan([pos], {BTC: mark}, "0")

    assert action.kind is GuardKind.CUT
    assert ZERO < action.contracts < pos.contracts
    assert action.contracts % STEP == 0  # whole lots
    assert action.margin == action.margin.quantize(CENT)
    rest = pos.contracts - action.contracts
    kept = pos.isolated_margin * rest / pos.contracts
    # After closing `contracts` and adding `margin`, the rest sits at least `target` away ...
    assert distance(pos, D(mark), rest, kept + action.margin) >= TARGET
    # ... the guard adds back the closed part's equity (down to the cent) ...
    assert margin_after_cut(pos, action.contracts, D(mark), ZERO) - (kept + action.margin) < CENT
    # ... and one lot less would not be enough, even with all that equity put back.
    smaller = action.contracts - STEP
    fuller = margin_after_cut(pos, smaller, D(mark), ZERO)
    assert distance(pos, D(mark), pos.contracts - smaller, fuller) < TARGET
    assert f"close {action.contracts} of 2 contracts" in action.reason


def test_cut_uses_the_collateral_left_and_is_smaller_for_it() -> None:
    pos = position(BTC, SHORT, "2", "40000", "40000")  # 6.7% at 56000
    [bare] = plan([pos], {BTC: "56000"}, "0")

    [helped] = plan([pos], {BTC: "56000"}, "500")  # far less than the top-up it needs

    assert helped.kind is GuardKind.CUT
    assert helped.contracts < bare.contracts
    rest = pos.contracts - helped.contracts
    kept = pos.isolated_margin * rest / pos.contracts
    assert distance(pos, D(56000), rest, kept + helped.margin) >= TARGET
    smaller = helped.contracts - STEP
    fuller = margin_after_cut(pos, smaller, D(56000), D(500))
    assert distance(pos, D(56000), pos.contracts - smaller, fuller) < TARGET


def test_a_cut_takes_the_whole_budget_from_the_positions_after_it() -> None:
    btc = position(BTC, SHORT, "2", "40000", "40000")  # 6.7% at 56000: cut
    eth = position(ETH, SHORT, "10", "2000", "10000")  # 24.5% at 2400: wants a top-up

    actions = plan([btc, eth], {BTC: "56000", ETH: "2400"}, "500")

    assert [(a.symbol, a.kind) for a in actions] == [(BTC, GuardKind.CUT)]
