"""History files are parsed once per content: a changed file is read again, quoting still works."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.core.errors import DataError
from bot.market.history import load_history

H4 = 4 * 3_600_000
HEADER = "timestamp_ms,open,high,low,close,volume\n"


def _spot(directory: Path, closes: list[str], quote: str = "") -> Path:
    path = directory / "binance_spot_FOOUSDT_4h.csv"
    rows = [
        ",".join(f"{quote}{v}{quote}" for v in (i * H4, 10, 12, 9, close, 1))
        for i, close in enumerate(closes)
    ]
    path.write_text(HEADER + "".join(f"{row}\n" for row in rows), encoding="utf-8")
    return path


def _closes(directory: Path) -> list[Decimal]:
    return [bar.close for bar in load_history(directory, ["FOO"]).spot["FOO"].bars]


def test_a_file_rewritten_in_place_is_read_again(tmp_path: Path) -> None:
    _spot(tmp_path, ["11", "12", "13"])
    assert _closes(tmp_path) == [Decimal(11), Decimal(12), Decimal(13)]
    assert _closes(tmp_path) == [Decimal(11), Decimal(12), Decimal(13)]  # from the cache
    _spot(tmp_path, ["11", "12", "14"])  # same size, written at once: only the content differs
    assert _closes(tmp_path) == [Decimal(11), Decimal(12), Decimal(14)]


def test_each_load_converts_only_its_own_period(tmp_path: Path) -> None:
    _spot(tmp_path, ["11", "12", "13", "14"])
    whole = load_history(tmp_path, ["FOO"]).spot["FOO"].bars
    middle = load_history(tmp_path, ["FOO"], start_ms=H4, end_ms=3 * H4).spot["FOO"].bars
    assert [bar.close for bar in middle] == [Decimal(12), Decimal(13)]
    assert list(middle) == list(whole[1:3])


def test_quoted_fields_read_as_csv_reads_them(tmp_path: Path) -> None:
    plain, quoted = tmp_path / "plain", tmp_path / "quoted"
    plain.mkdir()
    quoted.mkdir()
    _spot(plain, ["11", "12.5"])
    _spot(quoted, ["11", "12.5"], quote='"')
    assert (
        load_history(quoted, ["FOO"]).spot["FOO"].bars
        == load_history(plain, ["FOO"]).spot["FOO"].bars
    )


def test_a_nul_byte_is_refused_as_bad_data(tmp_path: Path) -> None:
    path = _spot(tmp_path, ["11", "12"])
    path.write_bytes(path.read_bytes().replace(b",12,", b",1\x002,"))
    with pytest.raises(DataError, match="bad candle value"):
        load_history(tmp_path, ["FOO"])
