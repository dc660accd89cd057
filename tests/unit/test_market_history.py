from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pytest

from bot.market.history import (
    DATA_DIR_ENV,
    available_assets,
    default_shared_data_dir,
    find_data_dir,
    load_history,
    timeframe_ms,
)

H = 3_600_000
H4 = 4 * H
DAY = 24 * H
HEADER = "timestamp_ms,open,high,low,close,volume\n"


def _shared_data_dir() -> Path | None:
    try:
        return find_data_dir(None) or default_shared_data_dir()
    except FileNotFoundError:
        return None


SHARED = _shared_data_dir()


def _write(path: Path, header: str, rows: list[str]) -> None:
    path.write_text(header + "".join(f"{row}\n" for row in rows))


def _hourly_rows(path: Path, first_ms: int, end_ms: int) -> list[list[str]]:
    with path.open(newline="") as fh:
        return [r for r in list(csv.reader(fh))[1:] if first_ms <= int(r[0]) < end_ms]


# --- synthetic files -------------------------------------------------------------------------


@pytest.fixture
def tiny_dir(tmp_path: Path) -> Path:
    """One day of FOO 1h spot with a partial and an empty 4h bucket, perp 4h, funding."""
    _write(
        tmp_path / "binance_spot_FOOUSDT_1h.csv",
        HEADER,
        [
            f"{0 * H},10,12,9,11,1.5",
            f"{1 * H},11,13,10.5,12,2.25",
            f"{2 * H},12,12.5,8,9,3",
            f"{3 * H},9,10,8.5,9.5,0.25",
            # 04:00 bucket has a single hour (05:00); the 08:00 bucket is empty
            f"{5 * H},9.5,9.75,9.25,9.5,1",
            f"{12 * H},20,21,19,20.5,4",
            f"{13 * H},20.5,22,20,21,5",
            f"{20 * H},21,21,18,19,6",
        ],
    )
    _write(
        tmp_path / "binance_perp_FOOUSDT_4h.csv",
        HEADER,
        [f"{i * H4},10,11,9,10.5,7" for i in range(6)],
    )
    _write(
        tmp_path / "binance_perp_FOOUSDT_funding.csv",
        "timestamp_ms,rate\n",
        [f"{i * 8 * H},{rate}" for i, rate in enumerate(["0.0001", "-2.5e-05", "0.0003"])],
    )
    return tmp_path


def test_timeframe_ms_values_and_error() -> None:
    assert timeframe_ms("1h") == H
    assert timeframe_ms("4h") == H4
    assert timeframe_ms("1d") == DAY
    with pytest.raises(ValueError, match=r"'15m'.*allowed: 1h, 4h, 1d"):
        timeframe_ms("15m")


def test_aggregates_finer_candles_into_utc_buckets(tiny_dir: Path) -> None:
    market = load_history(tiny_dir, ["FOO"])

    bars = market.spot["FOO"].bars
    assert [b.open_ms for b in bars] == [0, H4, 3 * H4, 5 * H4]
    first = bars[0]
    assert (first.open, first.high, first.low, first.close) == (
        Decimal("10"),
        Decimal("13"),
        Decimal("8"),
        Decimal("9.5"),
    )
    assert first.volume == Decimal("7.00")
    partial = bars[1]
    assert (partial.open, partial.high, partial.low, partial.close, partial.volume) == (
        Decimal("9.5"),
        Decimal("9.75"),
        Decimal("9.25"),
        Decimal("9.5"),
        Decimal("1"),
    )
    assert market.timeframe_ms == H4
    assert market.label == f"historical replay from {tiny_dir}"
    assert not market.simulated


def test_daily_bar_from_hourly_file(tiny_dir: Path) -> None:
    market = load_history(tiny_dir, ["FOO"], timeframe="1d")

    (day,) = market.spot["FOO"].bars
    assert (day.open_ms, day.open, day.high, day.low, day.close, day.volume) == (
        0,
        Decimal("10"),
        Decimal("22"),
        Decimal("8"),
        Decimal("19"),
        Decimal("23.00"),
    )
    # the perp only has 4h candles: aggregated too
    (perp_day,) = market.perp["FOO"].bars
    assert perp_day.volume == Decimal("42")


def test_optional_series(tiny_dir: Path) -> None:
    market = load_history(tiny_dir, ["FOO"])

    assert market.has_perp("FOO")
    assert "FOO" not in market.mark
    assert [e.rate for e in market.funding["FOO"].events] == [
        Decimal("0.0001"),
        Decimal("-0.000025"),
        Decimal("0.0003"),
    ]
    # a perp only available at a coarser timeframe cannot serve 1h bars: no entry
    hourly = load_history(tiny_dir, ["FOO"], timeframe="1h")
    assert len(hourly.spot["FOO"]) == 8
    assert not hourly.has_perp("FOO")


def test_trim_with_warmup(tiny_dir: Path) -> None:
    market = load_history(tiny_dir, ["FOO"], start_ms=3 * H4, end_ms=6 * H4, warmup_bars=2)

    # bars lying entirely in [start - 2 bars, end]; the empty 08:00 bucket stays absent
    assert [b.open_ms for b in market.spot["FOO"].bars] == [H4, 3 * H4, 5 * H4]
    assert [b.open_ms for b in market.perp["FOO"].bars] == [H4, 2 * H4, 3 * H4, 4 * H4, 5 * H4]
    assert [e.time_ms for e in market.funding["FOO"].events] == [8 * H, 16 * H]

    no_warmup = load_history(tiny_dir, ["FOO"], start_ms=3 * H4, end_ms=6 * H4 - 1)
    assert [b.open_ms for b in no_warmup.spot["FOO"].bars] == [3 * H4]


def test_trim_arguments_validated(tiny_dir: Path) -> None:
    with pytest.raises(ValueError, match="after end_ms"):
        load_history(tiny_dir, ["FOO"], start_ms=2 * H4, end_ms=H4)
    with pytest.raises(ValueError, match="warmup_bars"):
        load_history(tiny_dir, ["FOO"], warmup_bars=-1)
    with pytest.raises(ValueError, match=r"unsupported timeframe '2h'; allowed: 1h, 4h, 1d"):
        load_history(tiny_dir, ["FOO"], timeframe="2h")


def test_missing_asset_names_files_and_directory(tiny_dir: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        load_history(tiny_dir, ["FOO", "BAR"], timeframe="1d")

    message = str(info.value)
    assert "'BAR'" in message
    for name in ("binance_spot_BARUSDT_1d.csv", "_4h.csv", "binance_spot_BARUSDT_1h.csv"):
        assert name in message
    assert str(tiny_dir) in message


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_history(tmp_path / "nope", ["BTC"])


@pytest.mark.parametrize(
    ("rows", "error"),
    [
        (["7200000,1,1,1,1,1", "3600000,1,1,1,1,1"], "ascending"),
        (["3600001,1,1,1,1,1"], "aligned"),
        (["3600000,1,1,oops,1,1"], "bad candle value"),
        (["3600000,1,1,1,1"], "bad candle value"),
        (["1h,1,1,1,1,1"], "bad timestamp"),
    ],
)
def test_malformed_files_are_rejected(tmp_path: Path, rows: list[str], error: str) -> None:
    _write(tmp_path / "binance_spot_FOOUSDT_1h.csv", HEADER, rows)

    with pytest.raises(ValueError, match=error):
        load_history(tmp_path, ["FOO"], timeframe="1h")


def test_wrong_header_is_rejected(tmp_path: Path) -> None:
    _write(tmp_path / "binance_spot_FOOUSDT_4h.csv", "time,o,h,l,c,v\n", ["0,1,1,1,1,1"])

    with pytest.raises(ValueError, match="header"):
        load_history(tmp_path, ["FOO"])


def test_find_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    assert find_data_dir(None) is None
    assert find_data_dir(str(tmp_path)) == tmp_path
    with pytest.raises(FileNotFoundError, match="missing"):
        find_data_dir(tmp_path / "missing")

    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert find_data_dir(None) == tmp_path
    other = tmp_path / "other"
    other.mkdir()
    assert find_data_dir(other) == other  # explicit wins over the environment
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "gone"))
    with pytest.raises(FileNotFoundError, match=DATA_DIR_ENV):
        find_data_dir(None)


def test_available_assets(tiny_dir: Path) -> None:
    (tiny_dir / "coinbase_spot_ETCUSD_1d.csv").write_text(HEADER)
    (tiny_dir / "binance_spot_BARUSDT_4h.csv").write_text(HEADER)

    assert available_assets(tiny_dir) == ["BAR", "FOO"]


def test_available_perps_count_candles_only(tiny_dir: Path) -> None:
    (tiny_dir / "binance_perp_BARUSDT_mark_4h.csv").write_text(HEADER)  # mark alone: no perp
    (tiny_dir / "binance_perp_BAZUSDT_funding.csv").write_text("timestamp_ms,rate\n")
    (tiny_dir / "binance_perp_QUXUSDT_1h.csv").write_text(HEADER)

    assert available_assets(tiny_dir, market="perp") == ["FOO", "QUX"]
    with pytest.raises(ValueError, match="spot' or 'perp"):
        available_assets(tiny_dir, market="mark")


# --- real history in ../shared/data ---------------------------------------------------------


@pytest.mark.shared_data
def test_default_shared_data_dir_is_sibling_of_repo() -> None:
    repo_root = Path(__file__).resolve().parents[2]
    expected = repo_root.parent / "shared" / "data"
    if not expected.is_dir():
        pytest.skip(f"{expected} not present")
    assert default_shared_data_dir() == expected


@pytest.fixture
def shared_dir() -> Path:
    if SHARED is None:
        pytest.skip(f"shared market history not found (set {DATA_DIR_ENV})")
    return SHARED


@pytest.mark.shared_data
def test_real_available_assets(shared_dir: Path) -> None:
    assets = available_assets(shared_dir)
    assert {"BTC", "ETH", "ADA", "XRP", "LTC", "SOL", "NEO"} <= set(assets)
    assert "ETC" not in assets  # coinbase USD file only


@pytest.mark.shared_data
def test_real_native_4h_values_are_exact(shared_dir: Path) -> None:
    market = load_history(shared_dir, ["ADA"])

    bar = market.spot["ADA"].last_closed(1584014400000 + H4)  # 2020-03-12 12:00 UTC
    assert bar is not None
    assert bar.open_ms == 1584014400000
    assert (str(bar.open), str(bar.high), str(bar.low), str(bar.close)) == (
        "0.02776",
        "0.0311",
        "0.02688",
        "0.02962",
    )
    assert bar.volume == Decimal("271075178.5")
    perp = market.perp["ADA"].last_closed(1584014400000 + H4)
    assert perp is not None and perp.close == Decimal("0.02947")
    assert "ADA" not in market.mark


@pytest.mark.shared_data
def test_real_btc_4h_is_aggregated_from_1h(shared_dir: Path) -> None:
    t0 = 1584014400000  # 2020-03-12 12:00 UTC
    market = load_history(shared_dir, ["BTC"], start_ms=t0, end_ms=t0 + H4)

    (bar,) = market.spot["BTC"].bars
    assert (bar.open_ms, bar.open, bar.high, bar.low, bar.close, bar.volume) == (
        t0,
        Decimal("6064.27"),
        Decimal("6307.59"),
        Decimal("5734.69"),
        Decimal("6132.13"),
        Decimal("54565.202965"),
    )
    rows = _hourly_rows(shared_dir / "binance_spot_BTCUSDT_1h.csv", t0, t0 + H4)
    assert len(rows) == 4
    assert bar.open == Decimal(rows[0][1])
    assert bar.high == max(Decimal(r[2]) for r in rows)
    assert bar.low == min(Decimal(r[3]) for r in rows)
    assert bar.close == Decimal(rows[-1][4])
    assert bar.volume == sum(Decimal(r[5]) for r in rows)


@pytest.mark.shared_data
def test_real_btc_gaps_stay_gaps(shared_dir: Path) -> None:
    # Binance outage: 2018-02-08 04:00 .. 2018-02-09 04:00 UTC has no hourly candles
    market = load_history(shared_dir, ["BTC"], start_ms=1518048000000, end_ms=1518192000000)
    opens = [b.open_ms for b in market.spot["BTC"].bars]
    assert opens[0] == 1518048000000
    assert opens[1] == 1518163200000
    series = market.spot["BTC"]
    # until the next bar closes, the last visible bar is the one before the outage
    before = series.last_closed(1518163200000 + H4 - 1)
    assert before is not None and before.open_ms == 1518048000000
    # a single-hour bucket (2021-04-25 04:00 UTC) becomes a bar from that one candle
    lone = load_history(shared_dir, ["BTC"], start_ms=1619323200000, end_ms=1619337600000)
    (bar,) = lone.spot["BTC"].bars
    assert (bar.open, bar.high, bar.low, bar.close, bar.volume) == (
        Decimal("49626.76"),
        Decimal("49705.04"),
        Decimal("49600.24"),
        Decimal("49683.94"),
        Decimal("5.887034"),
    )


@pytest.mark.shared_data
def test_real_last_closed_only_after_close(shared_dir: Path) -> None:
    t0 = 1584014400000
    series = load_history(shared_dir, ["BTC"]).spot["BTC"]

    before_close = series.last_closed(t0 + H4 - 1)
    assert before_close is not None and before_close.open_ms == t0 - H4
    at_close = series.last_closed(t0 + H4)
    assert at_close is not None and at_close.open_ms == t0
    assert [b.open_ms for b in series.closed_between(t0, t0 + 2 * H4)] == [t0, t0 + H4]
    assert [b.open_ms for b in series.closes_until(t0 + H4 - 1, 2)] == [t0 - 2 * H4, t0 - H4]


@pytest.mark.shared_data
def test_real_daily_bar_from_4h_file(shared_dir: Path) -> None:
    day = 1583971200000  # 2020-03-12 UTC
    market = load_history(shared_dir, ["ADA", "BTC"], "1d", start_ms=day, end_ms=day + DAY)

    (ada,) = market.spot["ADA"].bars
    assert (ada.open, ada.high, ada.low, ada.close) == (
        Decimal("0.0397"),
        Decimal("0.03983"),
        Decimal("0.02191"),
        Decimal("0.02329"),
    )
    (btc,) = market.spot["BTC"].bars
    assert btc.close == Decimal("4800.0")  # Binance BTC/USDT daily close on 2020-03-12
    assert market.timeframe_ms == DAY


@pytest.mark.shared_data
def test_real_funding_events_between(shared_dir: Path) -> None:
    day = 1583971200000  # 2020-03-12 00:00 UTC
    market = load_history(shared_dir, ["BTC"])

    events = market.funding["BTC"].between(day, day + DAY)
    assert [(e.time_ms - day) // H for e in events] == [8, 16, 24]
    assert [e.rate for e in events] == [
        Decimal("0.0001"),
        Decimal("-0.00015149"),
        Decimal("-0.00016073"),
    ]
    last = market.funding["BTC"].last_before(day + 16 * H - 1)
    assert last is not None and last.time_ms == day + 8 * H


@pytest.mark.shared_data
def test_real_trim_with_warmup_on_real_data(shared_dir: Path) -> None:
    start, end = 1704067200000, 1706745600000  # 2024-01-01 .. 2024-02-01 UTC
    market = load_history(
        shared_dir, ["BTC", "ADA", "NEO"], start_ms=start, end_ms=end, warmup_bars=50
    )

    for asset in ("BTC", "ADA", "NEO"):
        series = market.spot[asset]
        assert series.bars[0].open_ms == start - 50 * H4
        assert series.last_close_ms == end
        assert len(series.closes_until(start, 1000)) == 50
    assert market.mark["BTC"].bars[0].open_ms == start - 50 * H4
    assert "NEO" not in market.perp and "NEO" not in market.funding
    funding = market.funding["ADA"].events
    assert funding[0].time_ms == start - 50 * H4
    assert funding[-1].time_ms == end
    assert market.common_range_ms(["BTC", "ADA"]) == (start - 49 * H4, end)


@pytest.mark.shared_data
def test_real_missing_asset_on_real_dir(shared_dir: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"'LUNA'.*binance_spot_LUNAUSDT_4h.csv"):
        load_history(shared_dir, ["BTC", "LUNA"])
