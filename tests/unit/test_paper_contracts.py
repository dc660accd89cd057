"""Paper perps trade in the lots the exchanges published (bot/data/contract_specs.json)."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest

from bot.core.domain import PositionSide
from bot.core.planner import round_down
from bot.journal.memory import MemoryJournal
from bot.journal.records import RunMode
from bot.runtime.engine import Engine
from bot.settings.config import parse_config
from bot.sim.contracts import (
    ContractSpec,
    generated_market,
    paper_market,
    source_of,
    specs_of,
)
from bot.sim.paper_account import build_paper, build_strategy
from tests.conftest import paper_config_dict

D = Decimal
H4_MS = 14_400_000
START = datetime(2024, 1, 1, tzinfo=UTC)
START_MS = 1_704_067_200_000
PRICES = {"LTC": "50", "XRP": "0.5"}


def test_the_snapshot_holds_the_rules_its_source_file_gives() -> None:
    # ccxt/ccxt ts/src/test/static/markets/binance.json @ 0dca8ac0: each swap's info.filters
    binance = specs_of("binance")
    assert binance["LTCUSDT"] == ContractSpec(D("0.01"), D("0.001"), D("0.001"), D(5))
    assert binance["XRPUSDT"] == ContractSpec(D("0.0001"), D("0.1"), D("0.1"), D(5))
    assert binance["BTCUSDT"] == ContractSpec(D("0.10"), D("0.001"), D("0.001"), D(5))
    assert binance["DOGEUSDT"].tick_size == D("0.00001")
    # ccxt/ccxt ts/src/test/static/markets/bybit.json @ 1f8d53ec: each linear perp's info
    bybit = specs_of("bybit")
    assert bybit["LTCUSDT"] == ContractSpec(D("0.01"), D("0.1"), D("0.1"), D(5))
    assert bybit["ETHUSDT"].step_size == D("0.01")
    listed = {f"{a}USDT" for a in ("BTC", "ETH", "LTC", "ADA", "XRP", "DOGE", "TRX")}
    assert set(binance) == set(bybit) == listed


def test_the_snapshot_names_its_source_and_date() -> None:
    for venue, commit, year in (
        ("binance", "0dca8ac0a3ce97d642fd9973b3121c2d6e3e3063", "2023"),
        ("bybit", "1f8d53ec6ee5e019956c2fd2dc204102b924716d", "2025"),
    ):
        source = source_of(venue)
        assert source.repository == "ccxt/ccxt"
        assert source.path == f"ts/src/test/static/markets/{venue}.json"
        assert source.commit == commit and source.taken.startswith(year)
    text = (resources.files("bot") / "data" / "contract_specs.json").read_text(encoding="utf-8")
    assert "0dca8ac0a3ce97d642fd9973b3121c2d6e3e3063" in json.loads(text)["_source"]


def test_a_perp_outside_the_snapshot_gets_generated_rules_and_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="bot.sim.contracts"):
        first = paper_market("WXYZ", D("2.5"), venue="bybit")
        again = paper_market("WXYZ", D("2.6"), venue="bybit")
    assert first == again == generated_market("WXYZ", D("2.5"))
    assert (first.amount_step, first.min_notional) == (D(1), D(5))
    warned = [r.getMessage() for r in caplog.records if "WXYZ/USDT:USDT" in r.getMessage()]
    assert len(warned) == 1 and "no bybit contract rules" in warned[0]
    with pytest.raises(ValueError, match="okx"):
        specs_of("okx")


def _flat_history(directory: Path) -> None:
    """Two days of flat 4h candles, spot and perp, of LTC at 50 and XRP at 0.5."""
    for asset, price in PRICES.items():
        rows = "".join(
            f"{START_MS + i * H4_MS},{price},{price},{price},{price},1000\n" for i in range(12)
        )
        for market in ("spot", "perp"):
            path = directory / f"binance_{market}_{asset}USDT_4h.csv"
            path.write_text("timestamp_ms,open,high,low,close,volume\n" + rows)


def test_a_small_portfolio_is_hedged_within_one_published_lot(tmp_path: Path) -> None:
    _flat_history(tmp_path)
    config = parse_config(
        paper_config_dict(
            paper={
                "holdings": {"LTC": 3, "XRP": 200},
                "start": "2024-01-01T00:00:00Z",
                "end": "2024-01-02T00:00:00Z",
            },
            strategy={"name": "static", "ratio": 0.333},
            hedge={"deadband": 0},
        )
    )
    setup = build_paper(config, tmp_path)
    engine = Engine(
        config, setup.venue, MemoryJournal(), build_strategy(config), setup.clock, RunMode.PAPER
    )
    asyncio.run(engine.cycle())

    positions = asyncio.run(setup.venue.fetch_positions(["LTC/USDT:USDT", "XRP/USDT:USDT"]))
    held = {s: (p.side, p.contracts) for s, p in positions.items()}
    # 0.333 of 3 LTC and of 200 XRP, at equal spot and perp prices: 0.999 LTC and 66.6 XRP.
    assert held == {
        "LTC/USDT:USDT": (PositionSide.SHORT, D("0.999")),
        "XRP/USDT:USDT": (PositionSide.SHORT, D("66.6")),
    }
    # The generated lots (0.1 LTC, 1 XRP) left 0.099 LTC and 0.6 XRP unhedged.
    old = {a: generated_market(a, D(p)).amount_step for a, p in PRICES.items()}
    assert round_down(D("0.999"), old["LTC"]) == D("0.9")
    assert round_down(D("66.6"), old["XRP"]) == D(66)
