"""Load real market history from CSV files into :class:`MarketData`.

File layout (one directory, e.g. ``../shared/data``), for an asset ``A`` quoted in ``Q``:

* ``binance_spot_{A}{Q}_{tf}.csv`` and ``binance_perp_{A}{Q}_{tf}.csv``: header
  ``timestamp_ms,open,high,low,close,volume``, ``timestamp_ms`` = candle open time (epoch ms, UTC).
* ``binance_perp_{A}{Q}_mark_{tf}.csv``: mark-price candles, same header.
* ``binance_perp_{A}{Q}_funding.csv``: header ``timestamp_ms,rate``, one row per funding event.

Rows are sorted ascending; missing candles are absent rows and stay absent. A timeframe without a
file of its own is aggregated from the coarsest finer file that exists (e.g. 4h from 1h).

Each file's content is parsed and checked once per process (`_read_table` keeps its timestamps
and lines, keyed by a digest of the bytes); a load converts to Decimal only the rows of its period.
"""

from __future__ import annotations

import csv
import hashlib
import operator
import os
import re
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from pathlib import Path

from bot.core.errors import DataError, MissingData
from bot.market.series import Bar, BarSeries, FundingEvent, FundingSeries, MarketData

DATA_DIR_ENV = "HEDGEBOT_DATA_DIR"

_TIMEFRAMES: dict[str, int] = {"1h": 3_600_000, "4h": 14_400_000, "1d": 86_400_000}
_CANDLE_HEADER = ["timestamp_ms", "open", "high", "low", "close", "volume"]
_FUNDING_HEADER = ["timestamp_ms", "rate"]
_NO_END = 2**63
_CACHED_FILES = 128
_Table = tuple[tuple[int, ...], tuple[str, ...]]
"""A history file's timestamps and its data lines (header and blank lines left out)."""
_TABLES: OrderedDict[tuple[Path, tuple[str, ...], int, bytes], _Table] = OrderedDict()
"""The files read in this process, by path, header, step and content digest; the latest last."""
_FETCH = "scripts/fetch_history.py"
_REFETCH = f"download it again ({_FETCH}) or remove it"


def timeframe_ms(tf: str) -> int:
    """Return the length of timeframe ``tf`` in milliseconds."""
    try:
        return _TIMEFRAMES[tf]
    except KeyError:
        allowed = ", ".join(_TIMEFRAMES)
        raise ValueError(f"unsupported timeframe {tf!r}; allowed: {allowed}") from None


def find_data_dir(explicit: str | Path | None, option: str = "--data-dir") -> Path | None:
    """Return the history directory: ``explicit``, else ``$HEDGEBOT_DATA_DIR``, else None.

    Raise `MissingData` (a `FileNotFoundError`) naming where the missing directory came from
    (``option``, or the environment variable) and the fix.
    """
    if explicit is not None:
        fix = f"pass an existing history directory to {option} (e.g. ../shared/data)"
        return _existing_dir(Path(explicit).expanduser(), f"{option}: data directory", fix)
    from_env = os.environ.get(DATA_DIR_ENV)
    if from_env:
        fix = f"point ${DATA_DIR_ENV} at an existing history directory, or unset it"
        what = f"data directory from ${DATA_DIR_ENV}"
        return _existing_dir(Path(from_env).expanduser(), what, fix)
    return None


def default_shared_data_dir() -> Path | None:
    """Return ``shared/data`` next to the repository holding this file, or None if absent."""
    for parent in Path(__file__).resolve().parents:
        if (parent / "pyproject.toml").is_file():
            candidate = parent.parent / "shared" / "data"
            return candidate if candidate.is_dir() else None
    return None


def available_assets(data_dir: Path, quote: str = "USDT", market: str = "spot") -> list[str]:
    """Return the assets that have ``market`` (``"spot"`` or ``"perp"``) candles in ``data_dir``.

    Sorted; mark-price and funding files do not count.
    """
    if market not in ("spot", "perp"):
        raise ValueError(f"market must be 'spot' or 'perp', got {market!r}")
    timeframes = "|".join(_TIMEFRAMES)
    pattern = re.compile(rf"binance_{market}_(\w+?){re.escape(quote)}_(?:{timeframes})\.csv")
    try:
        found = {m.group(1) for p in data_dir.iterdir() if (m := pattern.fullmatch(p.name))}
    except OSError as exc:
        raise DataError(f"cannot list the history directory {data_dir}: {exc.strerror}") from None
    return sorted(found)


def load_history(
    data_dir: Path,
    assets: Sequence[str],
    timeframe: str = "4h",
    start_ms: int | None = None,
    end_ms: int | None = None,
    quote: str = "USDT",
    warmup_bars: int = 0,
    spot_history_bars: int = 0,
) -> MarketData:
    """Load spot, perp, mark candles and funding of ``assets`` from ``data_dir``.

    Keep candles whose whole period lies in ``[start_ms - warmup_bars * tf, end_ms]`` and funding
    events inside the same window; spot candles reach back ``max(warmup_bars,
    spot_history_bars)`` bars (history for the closes read before the start, none of it required).
    Spot candles are required; perp, mark and funding are optional.
    """
    tf_ms = timeframe_ms(timeframe)
    if warmup_bars < 0:
        raise ValueError(f"warmup_bars must be >= 0, got {warmup_bars}")
    if start_ms is not None and end_ms is not None and start_ms > end_ms:
        raise ValueError(f"start_ms {start_ms} is after end_ms {end_ms}")
    if not data_dir.is_dir():
        raise MissingData(
            f"market history directory {data_dir} does not exist; pass an existing one"
        )
    lo = -_NO_END if start_ms is None else start_ms - warmup_bars * tf_ms
    spot_lo = lo if start_ms is None else min(lo, start_ms - spot_history_bars * tf_ms)
    hi = _NO_END if end_ms is None else end_ms

    spot: dict[str, BarSeries] = {}
    perp: dict[str, BarSeries] = {}
    mark: dict[str, BarSeries] = {}
    funding: dict[str, FundingSeries] = {}
    for asset in assets:
        symbol = f"{asset}{quote}"
        bars = _load_candles(data_dir, f"binance_spot_{symbol}", timeframe, spot_lo, hi)
        if bars is None:
            names = (f"binance_spot_{symbol}_{tf}.csv" for tf in _source_timeframes(timeframe))
            looked_for = ", ".join(names)
            raise MissingData(
                f"no spot candles for asset {asset!r}: looked for {looked_for} in {data_dir}; "
                f"fetch them ({_FETCH}) or leave {asset} out"
            )
        spot[asset] = BarSeries(tf_ms, bars)
        for table, stem in (
            (perp, f"binance_perp_{symbol}"),
            (mark, f"binance_perp_{symbol}_mark"),
        ):
            optional = _load_candles(data_dir, stem, timeframe, lo, hi)
            if optional is not None:
                table[asset] = BarSeries(tf_ms, optional)
        funding_path = data_dir / f"binance_perp_{symbol}_funding.csv"
        if funding_path.is_file():
            funding[asset] = FundingSeries(_read_funding(funding_path, lo, hi))
    return MarketData(
        label=f"historical replay from {data_dir}",
        timeframe_ms=tf_ms,
        spot=spot,
        perp=perp,
        mark=mark,
        funding=funding,
    )


def _existing_dir(path: Path, what: str, fix: str) -> Path:
    """Return ``path`` if it is a directory, else raise `MissingData` naming it and the fix."""
    if not path.is_dir():
        raise MissingData(f"{what} {path} does not exist or is not a directory; {fix}")
    return path


def _source_timeframes(timeframe: str) -> list[str]:
    """Return the file timeframes that can supply ``timeframe`` candles, preferred first."""
    target = _TIMEFRAMES[timeframe]
    finer = [tf for tf, ms in _TIMEFRAMES.items() if ms < target and target % ms == 0]
    return [timeframe, *sorted(finer, key=_TIMEFRAMES.__getitem__, reverse=True)]


def _load_candles(data_dir: Path, stem: str, timeframe: str, lo: int, hi: int) -> list[Bar] | None:
    """Return the candles of ``stem`` at ``timeframe`` within ``[lo, hi]``, or None if no file."""
    for source in _source_timeframes(timeframe):
        path = data_dir / f"{stem}_{source}.csv"
        if path.is_file():
            return _read_candles(path, _TIMEFRAMES[source], _TIMEFRAMES[timeframe], lo, hi)
    return None


def _read_candles(path: Path, source_ms: int, target_ms: int, lo: int, hi: int) -> list[Bar]:
    """Read the ``source_ms`` candles of ``path`` as ``target_ms`` bars lying in ``[lo, hi]``.

    Each bar is open=first, high=max, low=min, close=last, volume=sum of the source candles in the
    UTC-aligned bucket ``[t, t + target_ms)``; buckets without any source candle produce no bar.
    """
    all_times, lines = _read_table(path, _CANDLE_HEADER, source_ms)
    first_row = bisect_left(all_times, -(-lo // target_ms) * target_ms)
    end_row = bisect_left(all_times, hi // target_ms * target_ms)
    times, rows = all_times[first_row:end_row], _rows(lines[first_row:end_row])
    dec = Decimal
    try:
        if source_ms == target_ms:
            return [
                Bar(t, dec(r[1]), dec(r[2]), dec(r[3]), dec(r[4]), dec(r[5]))
                for t, r in zip(times, rows, strict=True)
            ]
        bars: list[Bar] = []
        bucket: int | None = None
        first = top = bottom = last = volume = dec(0)
        for t, r in zip(times, rows, strict=True):
            start = t - t % target_ms
            high, low = dec(r[2]), dec(r[3])
            if start != bucket:
                if bucket is not None:
                    bars.append(Bar(bucket, first, top, bottom, last, volume))
                bucket = start
                first, top, bottom, volume = dec(r[1]), high, low, dec(r[5])
            else:
                top = max(top, high)
                bottom = min(bottom, low)
                volume += dec(r[5])
            last = dec(r[4])
        if bucket is not None:
            bars.append(Bar(bucket, first, top, bottom, last, volume))
        return bars
    except (IndexError, InvalidOperation) as exc:
        raise DataError(f"{path}: bad candle value: {exc!r}; {_REFETCH}") from exc


def _read_funding(path: Path, lo: int, hi: int) -> list[FundingEvent]:
    """Read the funding events of ``path`` with time in ``[lo, hi]``."""
    times, lines = _read_table(path, _FUNDING_HEADER, 1)
    first_row, end_row = bisect_left(times, lo), bisect_right(times, hi)
    try:
        return [
            FundingEvent(t, Decimal(r[1]))
            for t, r in zip(times[first_row:end_row], _rows(lines[first_row:end_row]), strict=True)
        ]
    except (IndexError, InvalidOperation) as exc:
        raise DataError(f"{path}: bad funding rate: {exc!r}; {_REFETCH}") from exc


def _rows(lines: Sequence[str]) -> list[list[str]]:
    """Return the CSV fields of ``lines`` (data lines kept by `_read_table`)."""
    return list(csv.reader(lines))


def _read_table(path: Path, header: list[str], step_ms: int) -> _Table:
    """Return the timestamps and data lines of ``path``, checking header, order and alignment.

    Checked once per process for each content the file has (`_TABLES`).
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read it: {exc}") from None
    key = (path, tuple(header), step_ms, hashlib.blake2b(data, digest_size=16).digest())
    table = _TABLES.get(key)
    if table is None:
        table = _TABLES[key] = _checked_table(path, header, step_ms, data)
        while len(_TABLES) > _CACHED_FILES:
            _TABLES.popitem(last=False)
    _TABLES.move_to_end(key)
    return table


def _checked_table(path: Path, header: list[str], step_ms: int, data: bytes) -> _Table:
    """Return the timestamps and data lines of ``data``, the content of ``path``, once checked."""
    try:
        text = data.decode("utf-8")
        first, _, body = text.partition("\n")
        found = next(csv.reader([first])) if text else None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read it: {exc}") from None
    if found != header:
        raise DataError(f"{path}: header {found!r}, expected {','.join(header)}; {_REFETCH}")
    lines = tuple(filter(None, body.splitlines()))
    if '"' in body:  # quoted fields: read them as csv does
        try:
            rows = _rows(lines)
        except csv.Error as exc:
            raise DataError(f"{path}: cannot read it: {exc}") from None
        if len(rows) != len(lines):
            raise DataError(f"{path}: a quoted field spans lines; {_REFETCH}")
        keys = [row[0] for row in rows]
    else:  # plain values: the first field is what precedes the first comma
        keys = [line.partition(",")[0] for line in lines]
    try:
        times = tuple(map(int, keys))
    except ValueError as exc:
        raise DataError(f"{path}: bad timestamp: {exc}; {_REFETCH}") from exc
    if not all(map(operator.lt, times, times[1:])):
        prev, t = next((a, b) for a, b in pairwise(times) if b <= a)
        raise DataError(
            f"{path}: timestamp {t} does not follow {prev} in ascending order; {_REFETCH}"
        )
    if step_ms > 1 and any(map(step_ms.__rmod__, times)):
        raise DataError(f"{path}: timestamps not aligned to {step_ms} ms candles; {_REFETCH}")
    return times, lines
