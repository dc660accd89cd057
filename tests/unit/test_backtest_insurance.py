from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from bot.backtest.insurance import (
    BasketSpec,
    Method,
    Outcome,
    backtest_effectiveness,
    carry_per_year,
    equal_value,
    hedge_section,
    hidden_perps,
    outcome,
    parse_method,
    render,
    replay_config,
    restricted_data,
    share_removed,
)
from bot.backtest.runner import Point, RunResult, RunSpec
from bot.backtest.windows import WINDOWS
from bot.core.clock import to_ms
from bot.core.errors import ConfigError
from bot.journal.records import JournalTotals
from bot.settings.config import StrategyConfig, parse_config
from bot.sim.paper_account import build_paper
from strategies.baskets import LegWeight
from tests.conftest import paper_config_dict

T0 = datetime(2024, 1, 1, tzinfo=UTC)
REFERENCE = BasketSpec(("AVAX", "DOT", "NEAR", "SOL"), ("BTC", "ETH", "ADA", "XRP", "LTC", "BCH"))


def point(day: float, spot: str, equity: str, fees: str = "0", funding: str = "0") -> Point:
    return Point(
        T0 + timedelta(days=day),
        Decimal(spot),
        Decimal(equity),
        Decimal(0),
        Decimal(fees),
        Decimal(funding),
        Decimal(0),
    )


def test_share_removed_is_hedge_over_the_loss_per_unit_of_ratio() -> None:
    assert share_removed(-1000, 400, 0.4) == pytest.approx(1.0)
    assert share_removed(-1000, 200, 0.4) == pytest.approx(0.5)
    assert share_removed(-1000, -50, 0.4) == pytest.approx(-0.125)
    assert share_removed(500, -200, 0.4) is None  # no loss to remove
    assert share_removed(-1000, 0, 0) is None


def test_carry_is_fees_less_funding_per_year_of_the_average_spot() -> None:
    year = 365.25
    points = [
        point(0, "90000", "0"),
        point(year / 2, "110000", "0", "300", "100"),
    ]
    # (300 − 100) per half year = 400 / year, over an average spot of 100,000
    assert carry_per_year(points) == pytest.approx(0.004)
    assert carry_per_year(points[:1]) is None


def test_outcome_reads_spot_and_hedge_pnl_off_the_curve() -> None:
    totals = JournalTotals(*(Decimal(0),) * 5, 0, 0, 0, 0, 0, 0)
    spec = RunSpec("static 40%", StrategyConfig())
    points = (point(0, "100000", "50000"), point(10, "80000", "57000", "10", "2"))
    result = RunResult(spec, "v", Decimal(50000), points, totals, 1.0, Decimal(0), 0)
    measured = outcome(result, 0.4)
    assert (measured.spot_pnl, measured.hedge_pnl) == (-20000, 7000)
    assert measured.share == pytest.approx(0.875)
    with pytest.raises(ValueError, match="no cycles"):
        outcome(RunResult(spec, "v", Decimal(1), (), totals, 0, Decimal(0), 0), 0.4)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("auto", Method("auto")),
        ("auto+beta", Method("auto+beta", sizing={"beta": True})),
        ("auto+minvar", Method("auto+minvar", sizing={"min_variance": True})),
        ("own", Method("own", own=True)),
        (
            "fixed+beta:btc=0.5,ETH=0.5",
            Method(
                "fixed+beta:btc=0.5,ETH=0.5",
                proxy=(LegWeight("BTC", Decimal("0.5")), LegWeight("ETH", Decimal("0.5"))),
                sizing={"beta": True},
            ),
        ),
    ],
)
def test_methods_parse(text: str, expected: Method) -> None:
    assert parse_method(text) == expected


@pytest.mark.parametrize(
    "text", ["fixed", "auto:BTC=1", "own:BTC=1", "auto+gamma", "fixed:BTC=0.6", "fixed:BTC", "x"]
)
def test_bad_methods_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match=f"method {re.escape(text)}"):
        parse_method(text)


def test_hedge_section_per_method() -> None:
    auto = hedge_section(REFERENCE, parse_method("auto+beta"))
    assert auto["perps"] == list(REFERENCE.perps)
    assert auto["proxies"] == {}
    assert auto["baskets"]["auto_proxy"] is True
    assert auto["baskets"]["beta"] is True
    assert auto["baskets"]["candidates"] == ["ETH", "ADA", "XRP", "LTC", "BCH"]
    own = hedge_section(REFERENCE, parse_method("own"))
    assert own["perps"][-4:] == ["AVAX", "DOT", "NEAR", "SOL"]
    assert own["baskets"]["auto_proxy"] is False
    fixed = hedge_section(REFERENCE, parse_method("fixed:BTC=1"))
    assert fixed["proxies"]["SOL"] == [{"asset": "BTC", "weight": "1"}]
    assert fixed["baskets"]["auto_proxy"] is False
    assert hidden_perps(REFERENCE, parse_method("auto")) == ["AVAX", "DOT", "NEAR", "SOL"]
    assert hidden_perps(REFERENCE, parse_method("own")) == []


def test_replay_config_is_a_valid_static_paper_config() -> None:
    holdings = {a: Decimal(10) for a in REFERENCE.assets}
    period = (WINDOWS["may-2021"].start, WINDOWS["may-2021"].end)
    method = parse_method("auto+beta")
    config = parse_config(
        replay_config(REFERENCE, method, holdings, period, Decimal("0.4"), Decimal(80000))
    )
    assert config.hedge.perps == list(REFERENCE.perps)
    assert config.hedge.baskets.beta is True
    assert config.paper.start == period[0]
    assert config.strategy.params()["ratio"] == "0.4"


def test_restricted_data_hides_the_named_perps_only(tmp_path: Path) -> None:
    source = tmp_path / "data"
    source.mkdir()
    names = [
        "binance_spot_AVAXUSDT_4h.csv",
        "binance_perp_AVAXUSDT_4h.csv",
        "binance_perp_AVAXUSDT_funding.csv",
        "binance_perp_BTCUSDT_4h.csv",
    ]
    for name in names:
        (source / name).write_text("x")
    view = restricted_data(source, ["AVAX"], tmp_path / "view")
    assert sorted(p.name for p in view.iterdir()) == [
        "binance_perp_BTCUSDT_4h.csv",
        "binance_spot_AVAXUSDT_4h.csv",
    ]


def test_equal_value_from_the_last_close(tmp_path: Path) -> None:
    bar = 4 * 3600 * 1000
    start = to_ms(T0)
    for asset, price in (("AVAX", 20), ("SOL", 100)):
        rows = [f"{start - k * bar},{price},{price},{price},{price},1" for k in (3, 2, 1)]
        path = tmp_path / f"binance_spot_{asset}USDT_4h.csv"
        path.write_text("timestamp_ms,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    amounts = equal_value(tmp_path, ["AVAX", "SOL"], start, Decimal(10000))
    assert amounts == {"AVAX": Decimal(500), "SOL": Decimal(100)}


def test_render_shows_shares_then_carry() -> None:
    cells: dict[tuple[str, str], Outcome | str] = {
        ("may-2021", "auto"): Outcome(-1000, 290, 0.725, 0.01),
        ("may-2021", "own"): "no data",
        ("calm", "auto"): Outcome(100, -40, None, -0.0251),
    }
    text = render(["auto", "own"], cells, ["may-2021"], ["calm"])
    lines = text.splitlines()
    assert lines[2].split() == ["may-2021", "0.72h", "no", "data"]
    assert lines[3].split() == ["calm", "(carry)", "-2.51%/yr", "-"]


def test_backtest_notes_name_each_proxied_holding() -> None:
    config = parse_config(
        paper_config_dict(
            paper={"holdings": {"BTC": 1, "DOGE": 1000}, "collateral": 50000},
            hedge={"perps": ["BTC", "ETH"], "baskets": {"beta": True, "candidates": ["ETH"]}},
        )
    )
    base = build_paper(config, None)
    [line] = backtest_effectiveness(config, base)
    assert line.startswith("hedge effectiveness DOGE (50% BTC + 50% ETH × β")
    assert "worst of the last 30 days" in line
