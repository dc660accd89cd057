"""Nonsense from the exchange: the bot refuses to act on it, says why, and places no order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.core.errors import VenueError
from tests.live.conftest import LiveRig

TICKERS = ("GET", "/fapi/v1/ticker/24hr")


def every_ticker(field: str, value: Any) -> Callable[[Any], Any]:
    def mutate(body: Any) -> Any:
        for entry in body:
            if value is None:
                entry.pop(field, None)
            else:
                entry[field] = value
        return body

    return mutate


def every_position(field: str, value: Any) -> Callable[[Any], Any]:
    def mutate(body: Any) -> Any:
        for entry in body:
            if float(entry.get("positionAmt", 0)) != 0:
                entry[field] = value
        return body

    return mutate


PRICE_NONSENSE = {
    "NaN price": every_ticker("lastPrice", "NaN"),
    "negative price": every_ticker("lastPrice", "-3.5"),
    "zero price": every_ticker("lastPrice", "0"),
    "huge price": every_ticker("lastPrice", "1e40"),
    "text price": every_ticker("lastPrice", "abc"),
    "missing price": every_ticker("lastPrice", None),
    "missing symbol": every_ticker("symbol", None),
    "malformed JSON": lambda body: '[{"symbol": "BTCUSDT", "lastPr',
    "object instead of list": lambda body: {"unexpected": True},
}


@pytest.mark.parametrize("case", list(PRICE_NONSENSE))
async def test_nonsense_prices_place_no_order_and_say_why(rig: LiveRig, case: str) -> None:
    rig.emulator.faults.corrupt(*TICKERS, PRICE_NONSENSE[case], times=10)
    try:
        report = await rig.engine.cycle()
    except VenueError as refused:  # unreadable: the cycle fails and the loop retries later
        assert str(refused)  # the reason is in words
    else:  # unusable (no price for a leg): the cycle is skipped, journaled with the reason
        assert report.status == "skipped" and "no price" in report.reason
    assert not rig.emulator.account.orders
    assert rig.journal.totals(venue=rig.venue.name).orders == 0
    rig.emulator.faults.clear()
    await rig.clock.sleep(4 * 3600)
    assert (await rig.engine.cycle()).status == "done"  # sense again: the loop acts


POSITION_NONSENSE = {
    "NaN entry price": every_position("entryPrice", "NaN"),
    "negative isolated wallet": every_position("isolatedWallet", "-100"),
    "huge position": every_position("positionAmt", "-1e30"),
}


@pytest.mark.parametrize("case", list(POSITION_NONSENSE))
async def test_nonsense_positions_stop_the_cycle_before_any_order(rig: LiveRig, case: str) -> None:
    await rig.engine.cycle()
    placed = len(rig.emulator.account.orders)
    rig.emulator.account.spot_balances["BTC"] *= 3  # a reason to trade, if the bot believed
    for path in ("/fapi/v2/positionRisk", "/fapi/v3/positionRisk"):
        rig.emulator.faults.corrupt("GET", path, POSITION_NONSENSE[case], times=10)
    await rig.clock.sleep(4 * 3600)
    with pytest.raises(VenueError):
        await rig.engine.cycle()
    assert len(rig.emulator.account.orders) == placed


async def test_unreadable_order_answer_is_looked_up_not_resent(rig: LiveRig) -> None:
    rig.emulator.faults.corrupt("POST", "/fapi/v1/order", lambda body: "<html>oops</html>", times=3)
    report = await rig.engine.cycle()
    assert report.status == "done", [(e.status, e.reason) for e in report.executions]
    assert len(rig.emulator.account.orders) == 3  # executed once each, confirmed by client id
    assert all("after an error" in e.reason for e in report.executions)
