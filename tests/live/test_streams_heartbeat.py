"""With the streams up, a cycle that has nothing to do costs three REST reads at most.

The streams price every leg (Binance's mark-price stream, Bybit's linear tickers: the mark, and
the spot index it is built on) and announce the next funding time, so a steady cycle reads only
what they cannot carry: the spot wallet, the futures wallet and the positions (the heartbeat
that reconciles them). Real ccxt and ccxt.pro clients against the emulator, wall clock.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.domain import base_of, spot_symbol
from bot.venue.streams import OrderEvent
from tests.live.streams_rig import BTC, WAIT, running

HEARTBEAT = {
    "binanceusdm": {
        ("GET", "/api/v3/account"),
        ("GET", "/fapi/v3/account"),
        ("GET", "/fapi/v2/positionRisk"),
    },
    "bybit": {("GET", "/v5/account/wallet-balance"), ("GET", "/v5/position/list")},
}


@pytest.mark.parametrize("exchange", ["binanceusdm", "bybit"])
async def test_a_steady_cycle_with_the_streams_up_reads_only_the_heartbeat(
    tmp_path: Path, exchange: str
) -> None:
    async with running(tmp_path, exchange) as rig:
        assert rig.reactor is not None and rig.hedged()
        # Someone else's order changed: the reactor wakes one ordinary cycle, which holds. The
        # first after the hedge was placed also reads what placing it left new (its funding
        # so far, the legs' margin brackets); the second is the steady one.
        for manual in ("manual-1", "manual-2"):
            served = len(rig.emulator.requests)
            cycles = len(rig.reports)
            rig.reactor.note(OrderEvent(BTC, manual, "canceled", "limit"))
            await rig.until(lambda: len(rig.reports) > cycles, WAIT)  # noqa: B023
        report = rig.reports[-1]
        requests = rig.emulator.requests[served:]
        streamed = rig.reactor.fresh_prices()

        assert report.status == "held", report.reason
        assert len(requests) <= 3, requests
        assert set(requests) <= HEARTBEAT[exchange], requests
        quotes = report.observation.quotes
        perps = [s for s in quotes if ":" in s]
        assert BTC in perps
        for perp in perps:  # each leg at its streamed mark, its spot at the streamed index
            spot = quotes[spot_symbol(base_of(perp), "USDT")]
            assert quotes[perp].mark is not None and quotes[perp].price == quotes[perp].mark
            assert spot.mark is None and spot.price > 0
            assert perp in streamed and streamed[perp].index is not None
        await rig.stop()
        rig.journal_matches_exchange()
