"""Contract size is explicit on every order: a 10-unit contract counts 10× against the limits."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from bot.core.domain import Fill, ForcedClose, HedgeTarget, Market, Side
from bot.core.limits import cap_order_size, cap_turnover
from bot.core.planner import LegAction, LegPlan, plan_leg
from bot.journal.store import Journal
from bot.runtime.protection import turnover_last_day

D = Decimal
SYMBOL = "KILO/USDT:USDT"
RID = "20240101T000000-paper-main"
TEN = Market(
    symbol=SYMBOL,
    base="KILO",
    quote="USDT",
    contract_size=D(10),
    amount_step=D(1),
    min_amount=D(1),
    min_notional=D(5),
    price_tick=D("0.01"),
)
STEPS = {SYMBOL: TEN.amount_step}


def planned(notional: str) -> LegPlan:
    """Plan a fresh short of ``notional`` USDT at price 100 on the 10-unit market."""
    return plan_leg(RID, HedgeTarget(SYMBOL, D(notional)), None, D(100), TEN, D(0))


def test_planned_intent_notional_counts_the_contract_size() -> None:
    plan = planned("50000")  # 50000 / (100 × 10) = 50 contracts

    assert plan.intent is not None
    assert plan.intent.amount == D(50)
    assert plan.intent.contract_size == D(10)
    assert plan.intent.notional == D(50000)


def test_order_notional_limit_clips_a_10_unit_contract_order_to_the_limit() -> None:
    capped, notes = cap_order_size([planned("50000")], D(20000), STEPS)

    intent = capped[0].intent
    assert intent is not None
    assert (intent.amount, intent.notional) == (D(20), D(20000))  # 20 contracts × 10 × 100
    assert notes == [f"{SYMBOL}: order 50,000.00 clipped to max_order_notional 20,000.00"]


def test_turnover_limit_counts_10_unit_contracts_and_clips_to_the_room_left() -> None:
    # 12,000 traded in 24h, limit 30,000: 18,000 of room = 18 contracts of 10 at 100.
    capped, notes = cap_turnover([planned("50000")], D(12000), D(30000), STEPS)

    intent = capped[0].intent
    assert intent is not None
    assert (intent.amount, intent.notional) == (D(18), D(18000))
    assert notes == [
        f"{SYMBOL}: max_daily_turnover 30,000.00 reached (12,000.00 traded in 24h): "
        "order 50,000.00 clipped to 18 contracts"
    ]


def test_turnover_limit_refuses_an_order_when_less_than_one_10_unit_contract_fits() -> None:
    # 29,500 traded: 500 of room is half a contract (10 × 100 = 1,000).
    capped, _ = cap_turnover([planned("5000")], D(29500), D(30000), STEPS)

    assert capped[0].action is LegAction.SKIP
    assert capped[0].intent is None


def test_the_days_traded_turnover_counts_the_contract_size(tmp_path: Path) -> None:
    now = datetime(2024, 1, 2, tzinfo=UTC)
    fills = [
        Fill("paper", "1", SYMBOL, Side.SELL, D(3), D(100), D(0), "USDT", D(0), now),
        Fill("paper", "2", "BTC/USDT:USDT", Side.SELL, D("0.5"), D(40000), D(0), "USDT", D(0), now),
        Fill(
            "paper",
            "3",
            SYMBOL,
            Side.BUY,
            D(9),
            D(90),
            D(0),
            "USDT",
            D(0),
            now,
            None,
            None,
            ForcedClose.LIQUIDATION,
        ),
    ]
    with Journal.open(f"sqlite:///{tmp_path / 'journal.sqlite'}") as journal:
        journal.record_fills(fills)
        turnover = turnover_last_day(journal, "paper", now, {SYMBOL: TEN})
    # 3 contracts × 10 × 100 + 0.5 BTC × 40,000 (a symbol not loaded: contract size 1); the
    # liquidation is not our trading.
    assert turnover == D(3000) + D(20000)
