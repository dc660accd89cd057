"""`hedgebot backtest --frontier` on real history: table, JSON and plot, checked against plain runs.

Five holdings with perps of their own over a few days of the FTX collapse (the crash) and of
January 2023 (the rise). Each static point must be what the plain backtest of that ratio over
that period gives: its hedge P&L over the unhedged portfolio's move.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli_inprocess import run_cli

pytestmark = pytest.mark.shared_data

HOLDINGS = {"BTC": 1, "ETH": 10, "ADA": 20000, "XRP": 20000, "LTC": 100}
CRASH = ("2022-11-07", "2022-11-11")
CALM = ("2023-01-08", "2023-01-14")


def _config(tmp_path: Path) -> Path:
    config = tmp_path / "frontier.toml"
    holdings = "\n".join(f"{asset} = {amount}" for asset, amount in HOLDINGS.items())
    config.write_text(
        'interval = "4h"\n[paper]\ncollateral = 150000\n[paper.holdings]\n'
        f"{holdings}\n[risk]\nleverage = 2\n",
        encoding="utf-8",
    )
    return config


def _backtest(
    args: list[str], config: Path, data: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> str:
    common = ["backtest", "--config", str(config), "--data-dir", str(data), "-q"]
    result = run_cli([*common, *args], capfd, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _plain_share(
    period: tuple[str, str], ratio: str, paths: tuple[Path, Path, Path], capfd: Any
) -> float:
    """Return the share the plain backtest of ``ratio`` gives: hedge P&L over the spot's move."""
    config, data, tmp_path = paths
    out = tmp_path / f"plain-{period[0]}-{ratio}"
    args = ["--from", period[0], "--to", period[1], "--compare", ratio, "--out", str(out)]
    _backtest(args, config, data, tmp_path, capfd)
    unhedged, hedged = json.loads((out / "metrics.json").read_text())["portfolios"]
    spot_move = unhedged["end_value"] - unhedged["start_value"]
    return float(abs(hedged["hedge_pnl"] / spot_move))


@pytest.mark.slow
def test_the_frontier_writes_table_json_and_plot_matching_the_plain_backtests(
    shared_data_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    config, out = _config(tmp_path), tmp_path / "frontier"
    stdout = _backtest(
        [
            "--frontier",
            "--crash",
            ":".join(CRASH),
            "--calm",
            ":".join(CALM),
            "--static",
            "0.5",
            "1",
            "--compare",
            "volatility_regime",
            "--plots",
            "--out",
            str(out),
        ],
        config,
        shared_data_dir,
        tmp_path,
        capfd,
    )
    assert "crash loss removed" in stdout and "calm upside given up" in stdout
    assert "static 50%" in stdout and "static 100%" in stdout
    assert "verdict: volatility_regime: " in stdout

    saved = json.loads((out / "frontier.json").read_text())
    assert [(p["name"], p["kind"]) for p in saved["periods"]] == [
        (":".join(CRASH), "crash"),
        (":".join(CALM), "calm"),
    ]
    statics = {s["label"]: [c["share"] for c in s["shares"]] for s in saved["static"]}
    paths = (config, shared_data_dir, tmp_path)
    for label, ratio in (("static 50%", "0.5"), ("static 100%", "1")):
        crash, calm = statics[label]
        assert crash == pytest.approx(_plain_share(CRASH, ratio, paths, capfd), rel=1e-9)
        assert calm == pytest.approx(_plain_share(CALM, ratio, paths, capfd), rel=1e-9)
    # An own-perp hedge removes about its ratio of the fall and gives up about its ratio.
    assert 0.85 < statics["static 100%"][0] < 1.1 and 0.85 < statics["static 100%"][1] < 1.1

    line = saved["mean"]["line"]
    assert [p["ratio"] for p in line] == [0.0, 0.5, 1.0]
    (regime,) = saved["mean"]["strategies"]
    costs, benefits = [p["cost"] for p in line], [p["benefit"] for p in line]
    right = next((i for i in range(1, len(costs)) if regime["cost"] <= costs[i]), len(costs) - 1)
    slope = (benefits[right] - benefits[right - 1]) / (costs[right] - costs[right - 1])
    on_line = benefits[right - 1] + slope * (regime["cost"] - costs[right - 1])
    assert regime["verdict"]["margin"] == pytest.approx(regime["benefit"] - on_line)
    assert regime["verdict"]["text"] in stdout

    png = (out / "frontier.png").read_bytes()
    assert png.startswith(b"\x89PNG") and 5_000 < len(png) < 150_000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--frontier", "--crash", "crash-of-1929"], "--crash: unknown period 'crash-of-1929'"),
        (
            ["--frontier", "--crash", "2010-01-01:2010-02-01", "--calm", ":".join(CALM)],
            "period 2010-01-01:2010-02-01 (2010-01-01 → 2010-02-01): no candles",
        ),
        (["--frontier", "--window", "may-2021"], "--frontier replays its own periods"),
        (["--calm", "q1-2023"], "go with --frontier"),
        (["--frontier", "--compare"], "expected at least one argument"),
    ],
)
def test_bad_frontier_input_is_one_line_and_exit_2(
    args: list[str],
    message: str,
    shared_data_dir: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    common = ["backtest", "--config", str(_config(tmp_path)), "--data-dir", str(shared_data_dir)]
    result = run_cli([*common, *args, "--out", str(tmp_path / "out")], capfd, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
