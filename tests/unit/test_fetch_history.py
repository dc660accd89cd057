"""scripts/fetch_history.py without a network: paging, filtering and the CSV it writes.

A fake exchange stands in for ccxt's ``binance``/``binanceusdm``: it implements the two methods the
script calls with Binance's paging behaviour (ascending from ``since``, at most ``limit`` rows).
"""

from __future__ import annotations

import importlib.util
import sys
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bot.market.history import load_history

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fetch_history.py"
H4 = 14_400_000
T0 = 1_667_260_800_000  # 2022-11-01 00:00 UTC


@pytest.fixture(scope="module")
def fetch() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fetch_history", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["fetch_history"] = module
    spec.loader.exec_module(module)
    return module


class FakeExchange:
    """Serves candles and funding like Binance's public endpoints, recording every call."""

    def __init__(self, candles: int = 20, funding: int = 10, gap: tuple[int, ...] = ()) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.candles = [
            [T0 + i * H4, 100.0 + i, 101.5 + i, 99.25 + i, 100.5 + i, 10.0 * i]
            for i in range(candles)
            if i not in gap
        ]
        self.funding = [
            {
                "timestamp": T0 + i * 2 * H4 + 7,  # ms jitter as Binance sends it
                "fundingRate": 0.0001 * (i - 3),
                "info": {"fundingRate": f"{0.0001 * (i - 3):.8f}"},
            }
            for i in range(funding)
        ]

    def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        since: int | None = None,
        limit: int | None = None,
        params: dict[str, Any] | None = None,
    ) -> list[list[Any]]:
        self.calls.append(("ohlcv", {"symbol": symbol, "since": since, "params": params}))
        rows = [c for c in self.candles if since is None or c[0] >= since]
        if params and params.get("price") == "mark":
            rows = [[c[0], c[1] + 0.5, c[2] + 0.5, c[3] + 0.5, c[4] + 0.5, 0.0] for c in rows]
        return [list(c) for c in rows[:limit]]

    def fetch_funding_rate_history(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        self.calls.append(("funding", {"symbol": symbol, "since": since}))
        rows = [e for e in self.funding if since is None or e["timestamp"] >= since]
        return rows[:limit]


def test_candles_are_paged_until_the_end_without_duplicates(fetch: ModuleType) -> None:
    exchange = FakeExchange(candles=20)
    now = T0 + 30 * H4
    rows = fetch.fetch_candles(exchange, "BTC/USDT", "4h", T0, T0 + 17 * H4, now, page=4)
    assert [r[0] for r in rows] == [T0 + i * H4 for i in range(17)]
    sinces = [call["since"] for _, call in exchange.calls]
    assert sinces == [T0 + i * 4 * H4 for i in range(5)]  # 4 + 4 + 4 + 4 + 1 (cut at --to)


def test_the_candle_still_open_is_left_out_and_gaps_stay_gaps(fetch: ModuleType) -> None:
    exchange = FakeExchange(candles=12, gap=(3, 4, 5, 6, 7))
    now = T0 + 11 * H4 + H4 // 2  # candle 11 opened but has not closed
    rows = fetch.fetch_candles(exchange, "BTC/USDT", "4h", T0, T0 + 100 * H4, now, page=2)
    assert [(r[0] - T0) // H4 for r in rows] == [0, 1, 2, 8, 9, 10]


def test_mark_candles_ask_for_the_mark_price(fetch: ModuleType) -> None:
    exchange = FakeExchange(candles=3)
    params = {"price": "mark"}
    rows = fetch.fetch_candles(
        exchange, "BTC/USDT:USDT", "4h", T0, T0 + 3 * H4, T0 + 9 * H4, params
    )
    assert rows[0][4] == 101.0
    assert all(call["params"] == {"price": "mark"} for _, call in exchange.calls)


def test_funding_is_paged_rounded_to_the_minute_and_keeps_the_exact_rate(
    fetch: ModuleType,
) -> None:
    exchange = FakeExchange(funding=10)
    events = fetch.fetch_funding(exchange, "BTC/USDT:USDT", T0, T0 + 9 * 2 * H4, page=3)
    assert [t for t, _ in events] == [T0 + i * 2 * H4 for i in range(9)]
    assert events[0][1] == "-0.00030000"
    assert len(exchange.calls) == 4  # the fourth page holds only the event at --to: left out


def test_an_exchange_returning_nothing_new_stops_the_paging(fetch: ModuleType) -> None:
    exchange = FakeExchange(candles=3, funding=2)
    later = T0 + 50 * H4
    assert fetch.fetch_candles(exchange, "X/USDT", "4h", later, later + H4, later + H4) == []
    assert fetch.fetch_funding(exchange, "X/USDT:USDT", later, later + H4) == []
    assert len(exchange.calls) == 2


def test_downloaded_files_load_as_market_history(fetch: ModuleType, tmp_path: Path) -> None:
    exchange = FakeExchange(candles=12, funding=6)
    end = T0 + 12 * H4
    written = fetch.download(exchange, exchange, "BTC", "4h", T0, end, tmp_path, end + H4)
    assert written == {
        "binance_spot_BTCUSDT_4h.csv": 12,
        "binance_perp_BTCUSDT_4h.csv": 12,
        "binance_perp_BTCUSDT_mark_4h.csv": 12,
        "binance_perp_BTCUSDT_funding.csv": 6,
    }
    text = (tmp_path / "binance_spot_BTCUSDT_4h.csv").read_text()
    assert text.splitlines()[:2] == [
        "timestamp_ms,open,high,low,close,volume",
        f"{T0},100.0,101.5,99.25,100.5,0.0",
    ]
    data = load_history(tmp_path, ["BTC"], "4h")
    assert len(data.spot["BTC"]) == 12 and len(data.perp["BTC"]) == 12
    assert data.mark["BTC"].bars[0].close == Decimal("101.0")
    assert data.funding["BTC"].events[1].rate == Decimal("-0.00020000")
    assert data.funding["BTC"].events[1].time_ms == T0 + 2 * H4
