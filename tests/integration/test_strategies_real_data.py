"""The strategies on real Binance history (../shared/data), with their default parameters."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.core.clock import to_ms
from bot.journal.records import RunMode
from bot.journal.store import Journal
from bot.market.history import load_history
from bot.market.series import MarketData
from bot.runtime.engine import CycleReport, Engine
from bot.settings.config import parse_config
from bot.sim.paper_account import build_paper, build_strategy
from strategies.base import HedgeDecision, HoldingView, Strategy, StrategyInput
from strategies.baskets import BasketRules, LegWeight, map_to_legs
from strategies.registry import create_strategy
from tests.conftest import paper_config_dict

pytestmark = pytest.mark.shared_data

H4 = 4 * 3600
SMALL_CAPS = ("LINK", "SOL", "AVAX", "DOT", "NEAR", "XTZ")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.fixture(scope="module")
def market(shared_data_dir: Path) -> MarketData:
    return load_history(
        shared_data_dir,
        ["BTC", "DOGE", *SMALL_CAPS],
        "4h",
        start_ms=to_ms(utc(2020, 1, 15)),
        end_ms=to_ms(utc(2023, 9, 1)),
    )


def view_at(
    market: MarketData, when: datetime, assets: tuple[str, ...], bars: int, state: Mapping[str, Any]
) -> StrategyInput:
    """Return what the engine would show at ``when``: one unit of each asset, closes so far."""
    history = {a: [b.close for b in market.spot[a].closes_until(to_ms(when), bars)] for a in assets}
    return StrategyInput(
        time=when,
        holdings=tuple(HoldingView(a, Decimal(1), history[a][-1]) for a in assets),
        history=history,
        history_interval_seconds=H4,
        state=state,
    )


def walk(
    strategy: Strategy, market: MarketData, assets: tuple[str, ...], start: datetime, end: datetime
) -> list[HedgeDecision]:
    """Run ``strategy`` every 4h from ``start`` to ``end``, carrying its state."""
    bars = strategy.needs.history_bars
    decisions: list[HedgeDecision] = []
    state: Mapping[str, Any] = {}
    when = start
    while when <= end:
        decision = strategy.decide(view_at(market, when, assets, bars, state))
        state = decision.state
        decisions.append(decision)
        when += timedelta(hours=4)
    return decisions


@pytest.mark.parametrize(
    ("week", "expected"),
    [
        ((utc(2020, 3, 12), utc(2020, 3, 19)), {"extreme"}),  # COVID crash
        ((utc(2021, 5, 19), utc(2021, 5, 26)), {"extreme"}),  # China mining ban, leverage flush
        ((utc(2022, 5, 9), utc(2022, 5, 16)), {"uncertain", "extreme"}),  # LUNA
        ((utc(2022, 11, 8), utc(2022, 11, 15)), {"uncertain", "extreme"}),  # FTX
    ],
)
def test_crash_weeks_end_in_a_high_volatility_regime(
    market: MarketData, week: tuple[datetime, datetime], expected: set[str]
) -> None:
    start, end = week
    strategy = create_strategy("volatility_regime", {})
    decisions = walk(strategy, market, ("BTC",), start - timedelta(days=21), end)
    last = decisions[-1]
    assert last.inputs["regime"] in expected, last.reason
    assert last.ratios["BTC"] >= Decimal("0.3")


def test_a_calm_stretch_of_2023_stays_calm_until_the_fall_of_17_august(market: MarketData) -> None:
    strategy = create_strategy("volatility_regime", {})
    decisions = walk(strategy, market, ("BTC",), utc(2023, 6, 29), utc(2023, 8, 20))
    stretch = decisions[21 * 6 : 49 * 6]  # 20 Jul → 17 Aug 2023
    assert {d.inputs["regime"] for d in stretch} == {"calm"}
    assert max(d.inputs["realized_vol"] for d in stretch) < Decimal("0.5")  # 45% + hysteresis
    assert max(d.ratios["BTC"] for d in stretch) <= Decimal("0.2")
    # BTC fell 7% on 17 August: the 7-day downside measure leaves calm within the day.
    after = decisions[50 * 6 :]  # 18 → 20 Aug
    assert {d.inputs["regime"] for d in after} == {"uncertain"}


def test_small_caps_have_a_beta_above_one_to_btc_over_2021_2022(market: MarketData) -> None:
    end = to_ms(utc(2023, 1, 1))
    bars = 2 * 365 * 6 + 1
    btc = [b.close for b in market.spot["BTC"].closes_until(end, bars)]
    rules = BasketRules(beta=True, lookback_bars=bars - 1, beta_max=Decimal(3), estimator="ols")
    betas = {}
    for asset in SMALL_CAPS:
        closes = [b.close for b in market.spot[asset].closes_until(end, bars)]
        assert len(closes) == len(btc) == bars  # no gaps: the series align bar for bar
        holding = HoldingView(asset, Decimal(1), closes[-1])
        mapping = map_to_legs(
            HedgeDecision(ratios={asset: Decimal(1)}, reason="test"),
            [holding],
            {"BTC"},
            {asset: [LegWeight("BTC", Decimal(1))]},
            rules=rules,
            history={asset: closes, "BTC": btc},
        )
        (target,) = mapping.targets
        betas[asset] = target.notional / holding.value
        assert f"β {betas[asset]:.2f} to its legs over 30d" in target.reason
    assert all(b > 1 for b in betas.values()), betas


def test_profit_taking_fires_on_doge_in_early_2021_and_not_on_btc(market: MarketData) -> None:
    strategy = create_strategy("profit_taking", {})
    start = utc(2021, 1, 1)
    decisions = walk(strategy, market, ("DOGE", "BTC"), start, utc(2021, 3, 1))
    doge = [i for i, d in enumerate(decisions) if d.ratios["DOGE"] >= 1]
    assert doge, "profit taking never fired on DOGE"
    fired = start + timedelta(hours=4 * doge[0])
    assert utc(2021, 1, 28) <= fired <= utc(2021, 2, 1)
    assert "DOGE rose" in decisions[doge[0]].reason
    assert all(d.ratios["BTC"] == 0 for d in decisions)
    assert max(d.inputs["rise"]["BTC"] for d in decisions) < Decimal("2.5")  # 2.34× at most
    # the over-hedge ends on its trailing rule once DOGE falls 20% off its peak
    ended = next(d for d in decisions[doge[0] :] if d.ratios["DOGE"] == 0)
    assert "fell below" in ended.reason


CPI = utc(2022, 11, 10, 13, 30)  # US CPI release that ended the FTX week's slide


def test_an_event_lifts_the_hedge_to_100_percent_then_hands_back(
    shared_data_dir: Path, tmp_path: Path
) -> None:
    data = paper_config_dict(
        paper={
            "holdings": {"BTC": 1, "ETH": 10},
            "start": "2022-11-08T00:00:00Z",
            "end": "2022-11-12T00:00:00Z",
        },
        journal={"url": f"sqlite:///{tmp_path / 'journal.sqlite'}"},
    )
    calendar = {"events": [{"name": "US CPI", "time": CPI}], "lead": "24h", "lag": "12h"}
    data["strategy"] = {
        "name": "max_of",
        "parts": [{"name": "volatility_regime"}, {"name": "event_calendar", **calendar}],
    }
    config = parse_config(data)
    strategy = build_strategy(config)
    setup = build_paper(
        config, shared_data_dir, session="event", warmup_bars=strategy.needs.history_bars
    )
    reports: list[CycleReport] = []
    with Journal.open(config.journal.url) as journal:
        engine = Engine(config, setup.venue, journal, strategy, setup.clock, RunMode.PAPER)
        asyncio.run(engine.run(asyncio.Event(), setup.end, reports.append))
    hedged = {r.time: sum(t.notional for t in r.targets) / r.spot_value for r in reports}
    lead, lag = CPI - timedelta(hours=24), CPI + timedelta(hours=12)
    inside = [t for t in hedged if lead <= t < lag]
    before = [t for t in hedged if t < lead]
    after = [t for t in hedged if t >= lag]
    assert inside[0] - lead < timedelta(hours=4)  # the first rebalance after the lead time
    assert all(hedged[t] == 1 for t in inside)
    assert all(Decimal("0.3") <= hedged[t] < 1 for t in before + after)  # the regime's ratio
    raised = next(r for r in reports if r.time == inside[0])
    assert "US CPI at 2022-11-10 13:30 UTC" in raised.reason
