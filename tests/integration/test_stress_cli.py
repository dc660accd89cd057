"""`hedgebot stress` in-process: the table, --json, --plot, crash days from history, bad shocks."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from bot.cli.main import main
from tests.tiny_config import CANDLES_HEADER, JAN_2022, candle_rows

NOV_2022 = 1_667_260_800_000


def history(cwd: Path) -> None:
    """BTC at 40,000 over January 2022 (the paper replay); in November 2022 flat at 20,000 but
    for the 9th, whose six 4h candles open at 20,000 and fall to 16,000: a −20% day."""
    data = cwd / "data"
    data.mkdir()
    november = [20_000.0] * (8 * 6) + [20_000, 19_000, 18_000, 17_000, 16_500, 16_000]
    november += [16_000.0] * (21 * 6)
    text = (
        CANDLES_HEADER + candle_rows(JAN_2022, [40_000.0] * 360) + candle_rows(NOV_2022, november)
    )
    (data / "binance_spot_BTCUSDT_4h.csv").write_text(text, encoding="utf-8")
    (data / "binance_perp_BTCUSDT_4h.csv").write_text(
        CANDLES_HEADER + candle_rows(JAN_2022, [40_000.0] * 360), encoding="utf-8"
    )


def test_the_table_says_the_hedge_is_planned_and_crash_days_need_history(
    tiny_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["stress", "-c", "tiny.toml"]) == 0
    out = capsys.readouterr().out
    assert "no leg open; stressing the 1 leg(s) the strategy would open now" in out
    assert "historical crash days need market history: pass --data-dir DIR" in out
    assert "== crash: BTC −30%, every other asset −60%" in out
    assert "== squeeze: short squeeze: every asset +40%" in out
    assert "to come through without a cut or a liquidation" in out


def test_json_carries_every_scenario_with_exact_money(
    tiny_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["stress", "-c", "tiny.toml", "--json", "--shock", "btc=-35%"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["hedge"] == "planned"
    names = [s["name"] for s in document["scenarios"]]
    assert names == ["crash", "squeeze", "custom"]
    custom = document["scenarios"][2]
    assert custom["shocks"] == {"BTC": "-0.35"}
    spot = custom["assets"][0]
    assert spot["asset"] == "BTC"
    assert Decimal(spot["spot_pnl"]) == Decimal(spot["spot_value"]) * Decimal("-0.35")
    (leg,) = custom["legs"]
    assert leg["symbol"] == "BTC/USDT:USDT" and not leg["liquidated"]


def test_crash_days_come_from_history_and_the_plot_is_written(
    tiny_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history(tiny_dir)
    code = main(["stress", "-c", "tiny.toml", "--data-dir", "data", "--plot", "out.png"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "FTX collapse (6–10 Nov): worst day 2022-11-09" in out
    assert "BTC    -20.0%" in out
    assert "march-2020: no daily candles of the holdings" in out
    assert (tiny_dir / "out.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("shock", "says"),
    [
        ("BTC-35%", "BTC-35% is not an asset"),
        ("BTC=-35", "the move is not a percentage"),
        ("BTC=abc%", "the move is not a percentage"),
        ("BTC=nan%", "the move is not a percentage"),
        ("BTC=-100%", "a price cannot fall 100% or more; use e.g. BTC=-99%"),
        ("=5%", "no asset is not an asset"),
    ],
)
def test_a_bad_shock_is_one_line_and_exit_code_2(
    shock: str, says: str, tiny_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["stress", "-c", "tiny.toml", "--shock", shock]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert line.startswith("hedgebot stress: argument --shock") and says in line, line
    assert "write shocks like BTC=-35%" in line or "use e.g." in line


def test_an_asset_shocked_twice_is_refused(
    tiny_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["stress", "-c", "tiny.toml", "--shock", "BTC=-5%", "--shock", "BTC=-9%"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == "hedgebot: --shock BTC given twice (-5.0% and -9.0%); give each asset once"
