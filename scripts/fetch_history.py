"""Download Binance spot and USDⓈ-M perp candles and funding history into hedgebot's CSV format.

Public endpoints only (no API keys), through ccxt: ``binance`` for spot candles, ``binanceusdm``
for perp last-trade candles, mark-price candles (``fetch_ohlcv`` with ``params={"price": "mark"}``)
and realised funding (``fetch_funding_rate_history``). Each series is paged forward from
``--from`` until ``--to`` (exclusive) and written as the README's "Market data format":

    binance_spot_{A}USDT_{tf}.csv        timestamp_ms,open,high,low,close,volume
    binance_perp_{A}USDT_{tf}.csv        (same header; last-trade candles)
    binance_perp_{A}USDT_mark_{tf}.csv   (same header; mark-price candles)
    binance_perp_{A}USDT_funding.csv     timestamp_ms,rate

Only closed candles are kept (open + timeframe ≤ now); rows are ascending without duplicates;
funding times are rounded to the minute (Binance's raw times carry a few ms of jitter).

    python scripts/fetch_history.py --assets BTC ETH SOL --from 2022-01-01 --out data
    hedgebot backtest --data-dir data --window november-2022
"""

from __future__ import annotations

import argparse
import csv
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

TIMEFRAMES = {"1h": 3_600_000, "4h": 14_400_000, "1d": 86_400_000}
CANDLE_HEADER = ("timestamp_ms", "open", "high", "low", "close", "volume")
FUNDING_HEADER = ("timestamp_ms", "rate")
PAGE = 1000  # Binance's spot kline maximum; futures allow 1500 but weigh more above 1000
MINUTE_MS = 60_000


class CandleSource(Protocol):
    def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        since: int | None = None,
        limit: int | None = None,
        params: dict[str, Any] | None = None,
    ) -> list[list[Any]]: ...


class FundingSource(Protocol):
    def fetch_funding_rate_history(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]: ...


def fetch_candles(
    exchange: CandleSource,
    symbol: str,
    timeframe: str,
    since_ms: int,
    until_ms: int,
    now_ms: int,
    params: Mapping[str, Any] | None = None,
    page: int = PAGE,
) -> list[list[Any]]:
    """Return the closed candles of ``symbol`` opened in ``[since_ms, until_ms)``, ascending."""
    step = TIMEFRAMES[timeframe]
    rows: dict[int, list[Any]] = {}
    cursor = since_ms
    while cursor < until_ms:
        batch = exchange.fetch_ohlcv(
            symbol, timeframe, since=cursor, limit=page, params=dict(params or {})
        )
        fresh = [c for c in batch if int(c[0]) >= cursor]
        if not fresh:
            break
        for candle in fresh:
            opened = int(candle[0])
            if opened < until_ms and opened + step <= now_ms and opened % step == 0:
                rows[opened] = [opened, *candle[1:6]]
        cursor = max(int(c[0]) for c in fresh) + step
    return [rows[t] for t in sorted(rows)]


def _rate_text(event: Mapping[str, Any]) -> str:
    """Return the rate as the exchange wrote it when ccxt kept it, else the float's repr."""
    raw = (event.get("info") or {}).get("fundingRate")
    return raw if isinstance(raw, str) else repr(float(event["fundingRate"]))


def fetch_funding(
    exchange: FundingSource,
    symbol: str,
    since_ms: int,
    until_ms: int,
    page: int = PAGE,
) -> list[tuple[int, str]]:
    """Return ``(time_ms, rate)`` of the funding events in ``[since_ms, until_ms)``, ascending."""
    events: dict[int, str] = {}
    cursor = since_ms
    while cursor < until_ms:
        batch = exchange.fetch_funding_rate_history(symbol, since=cursor, limit=page)
        fresh = [e for e in batch if int(e["timestamp"]) >= cursor]
        if not fresh:
            break
        for event in fresh:
            moment = (int(event["timestamp"]) + MINUTE_MS // 2) // MINUTE_MS * MINUTE_MS
            if moment < until_ms:
                events[moment] = _rate_text(event)
        cursor = max(int(e["timestamp"]) for e in fresh) + 1
    return sorted(events.items())


def _number(value: Any) -> str:
    return value if isinstance(value, str) else repr(float(value))


def write_candles(path: Path, candles: Iterable[Sequence[Any]]) -> int:
    """Write candles under the candle header; return the number of rows."""
    count = 0
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CANDLE_HEADER)
        for candle in candles:
            writer.writerow([int(candle[0]), *(_number(v) for v in candle[1:6])])
            count += 1
    return count


def write_funding(path: Path, events: Iterable[tuple[int, str]]) -> int:
    """Write funding events under the funding header; return the number of rows."""
    count = 0
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(FUNDING_HEADER)
        for moment, rate in events:
            writer.writerow([moment, rate])
            count += 1
    return count


def download(
    spot: CandleSource,
    perp: Any,
    asset: str,
    timeframe: str,
    since_ms: int,
    until_ms: int,
    out: Path,
    now_ms: int,
    *,
    with_perp: bool = True,
) -> dict[str, int]:
    """Write the four files of ``asset`` (perp ones only ``with_perp``); return rows per file."""
    written: dict[str, int] = {}
    name = f"binance_spot_{asset}USDT_{timeframe}.csv"
    candles = fetch_candles(spot, f"{asset}/USDT", timeframe, since_ms, until_ms, now_ms)
    written[name] = write_candles(out / name, candles)
    if not with_perp:
        return written
    symbol = f"{asset}/USDT:USDT"
    for stem, params in ((f"{asset}USDT", None), (f"{asset}USDT_mark", {"price": "mark"})):
        name = f"binance_perp_{stem}_{timeframe}.csv"
        candles = fetch_candles(perp, symbol, timeframe, since_ms, until_ms, now_ms, params)
        written[name] = write_candles(out / name, candles)
    name = f"binance_perp_{asset}USDT_funding.csv"
    written[name] = write_funding(out / name, fetch_funding(perp, symbol, since_ms, until_ms))
    return written


def _ms(text: str) -> int:
    moment = datetime.fromisoformat(text)
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", nargs="+", required=True, help="e.g. BTC ETH SOL")
    parser.add_argument("--from", dest="since", required=True, help="UTC start, e.g. 2022-01-01")
    parser.add_argument("--to", dest="until", help="UTC end, exclusive (default: now)")
    parser.add_argument("--timeframe", choices=sorted(TIMEFRAMES), default="4h")
    parser.add_argument("--out", default="data", help="directory to write (created)")
    parser.add_argument("--spot-only", action="store_true", help="skip perp, mark and funding")
    args = parser.parse_args()

    import ccxt  # imported here: the paging and writing above need no network library

    now_ms = int(time.time() * 1000)
    since_ms = _ms(args.since)
    until_ms = min(_ms(args.until), now_ms) if args.until else now_ms
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    spot = ccxt.binance({"enableRateLimit": True})
    perp = ccxt.binanceusdm({"enableRateLimit": True})
    for asset in (a.upper() for a in args.assets):
        try:
            written = download(
                spot,
                perp,
                asset,
                args.timeframe,
                since_ms,
                until_ms,
                out,
                now_ms,
                with_perp=not args.spot_only and f"{asset}/USDT:USDT" in perp.load_markets(),
            )
        except ccxt.BadSymbol as error:
            print(f"{asset}: skipped ({error})")
            continue
        for name, rows in written.items():
            print(f"{out / name}: {rows} rows")


if __name__ == "__main__":
    main()
