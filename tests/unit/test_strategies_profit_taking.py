from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from strategies.base import HedgeDecision, HoldingView, Strategy, StrategyInput
from strategies.registry import create_strategy

H4 = 4 * 3600
T0 = datetime(2021, 1, 1, tzinfo=UTC)


def taking(**params: Any) -> Strategy:
    return create_strategy("profit_taking", {"window": "10d", **params})


def walk(strategy: Strategy, prices: Sequence[float], step_hours: int = 4) -> list[HedgeDecision]:
    """Feed one price per cycle for MEME (BTC flat at 100), carrying the state."""
    state: Mapping[str, Any] = {}
    decisions = []
    for i in range(len(prices)):
        closes = [Decimal(str(p)) for p in prices[: i + 1]]
        view = StrategyInput(
            time=T0 + timedelta(hours=step_hours * i),
            holdings=(
                HoldingView("MEME", Decimal(1000), closes[-1]),
                HoldingView("BTC", Decimal(1), Decimal(100)),
            ),
            history={"MEME": closes, "BTC": [Decimal(100)] * (i + 1)},
            history_interval_seconds=H4,
            state=state,
        )
        decision = strategy.decide(view)
        state = decision.state
        decisions.append(decision)
    return decisions


def test_fires_on_a_5x_rise_and_ends_below_the_trailing_level() -> None:
    prices = [1, 2, 4, 5.2, 7, 8, 6.5, 6.3, 6.0]
    decisions = walk(taking(ratio=1.5), prices)
    meme = [d.ratios["MEME"] for d in decisions]
    assert meme == [0, 0, 0, Decimal("1.5"), Decimal("1.5"), Decimal("1.5"), Decimal("1.5"), 0, 0]
    assert all(d.ratios["BTC"] == 0 for d in decisions)
    assert "MEME rose 5.2× within 10d (1 → 5.2)" in decisions[3].reason
    assert "below 6.4 (20% under the 8 peak): profit-taking hedge ended" in decisions[7].reason
    # still 6× its low, but this rally already fired: no second over-hedge
    assert decisions[8].state["spent"] == ["MEME"]
    assert "MEME is 6× its 10d low but its profit-taking hedge already ran" in decisions[8].reason


def test_re_arms_once_the_rise_falls_below_the_multiple() -> None:
    prices = [1, 6, 4, 2, 3]
    window = taking(window="8h", max_hold="1d")  # the low of 1 leaves the window after 2 bars
    decisions = walk(window, prices)
    assert [d.ratios["MEME"] for d in decisions] == [0, 1, 0, 0, 0]
    assert decisions[-1].state == {"active": {}, "spent": []}


def test_time_limit_ends_the_over_hedge() -> None:
    decisions = walk(taking(max_hold="8h"), [1, 5, 5.5, 6, 6.5])
    assert [d.ratios["MEME"] for d in decisions] == [0, 1, 1, 0, 0]
    assert "8h time limit" in decisions[3].reason


def test_same_input_same_output() -> None:
    strategy = taking()
    state = {"active": {"MEME": {"since": T0.isoformat(), "peak": "8", "multiple": "6"}}}
    view = StrategyInput(
        time=T0 + timedelta(days=1),
        holdings=(HoldingView("MEME", Decimal(1), Decimal(9)),),
        history={"MEME": [Decimal(1), Decimal(9)]},
        history_interval_seconds=H4,
        state=state,
    )
    first, second = strategy.decide(view), strategy.decide(view)
    assert first == second
    assert first.state["active"]["MEME"]["peak"] == "9"
    assert state["active"]["MEME"]["peak"] == "8"  # the input state is left alone
