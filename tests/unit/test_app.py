"""Which assets a paper market loads, how much history before its start, and the run summary."""

from __future__ import annotations

from typing import Any

import pytest

from bot.cli.commands.run import describe_strategy
from bot.settings.config import Config, parse_config
from bot.sim.paper_account import (
    build_paper,
    build_strategy,
    market_assets,
    open_paper,
    replay_bars,
)
from strategies.baskets import DEFAULT_CANDIDATES
from tests.conftest import paper_config_dict

LOOKBACK_BARS = 30 * 6  # the default 30d basket lookback in 4h bars
EVERY_PERP = None


def config(strategy: dict[str, Any] | None = None, **overrides: Any) -> Config:
    data = paper_config_dict(**overrides)
    if strategy is not None:
        data["strategy"] = strategy  # replaced, not merged with the default static ratio
    return parse_config(data)


def test_holdings_with_their_own_perps_need_nothing_more() -> None:
    plain = config(paper={"holdings": {"BTC": 1, "ETH": 10}})

    found = market_assets(plain, build_strategy(plain), perps=EVERY_PERP)

    assert found.required == ("BTC", "ETH")
    assert found.optional == found.skipped == ()
    assert found.warmup_bars == 0  # static, and no basket estimate to make
    assert found.assets == ["BTC", "ETH"]


def test_configured_proxy_legs_are_required() -> None:
    proxied = config(
        paper={"holdings": {"BTC": 1, "NEO": 400}},
        hedge={"proxies": {"NEO": [{"asset": "ETH", "weight": 1}]}},
    )

    found = market_assets(proxied, perps={"BTC", "ETH"})

    assert found.required == ("BTC", "ETH", "NEO")
    assert found.optional == ()
    assert found.warmup_bars == 0


def test_a_holding_without_perp_loads_the_auto_proxy_candidates_found_in_the_data() -> None:
    auto = config(paper={"holdings": {"BTC": 1, "NEO": 400}})
    perps = {"BTC", "ETH", "SOL", "XRP", "BNB"}
    spot = {"BTC", "NEO", "ETH", "SOL", "XRP"}  # no BNB spot

    found = market_assets(auto, build_strategy(auto), spot, perps)

    assert found.required == ("BTC", "NEO")
    assert found.optional == ("ETH", "SOL", "XRP")
    assert found.skipped == ("BNB",)
    assert found.legs == {"BTC", "ETH", "SOL", "XRP", "BNB"}
    assert found.warmup_bars == LOOKBACK_BARS + 1  # correlations over the lookback


def test_the_simulated_market_takes_every_candidate_only_when_a_holding_needs_a_proxy() -> None:
    restricted = config(paper={"holdings": {"XRP": 1000}}, hedge={"perps": ["BTC", "ETH"]})
    plain = config(paper={"holdings": {"XRP": 1000}})

    assert market_assets(restricted).optional == ("BTC", "ETH")  # hedge.perps allows these only
    assert market_assets(plain).optional == ()  # XRP has its own perp
    off = config(paper={"holdings": {"NEO": 1}}, hedge={"baskets": {"auto_proxy": False}})
    assert market_assets(off, perps=set()).optional == ()


def test_beta_sized_proxies_warm_up_over_the_lookback() -> None:
    sized = config(
        paper={"holdings": {"NEO": 400}},
        hedge={
            "proxies": {"NEO": [{"asset": "BTC", "weight": 1}]},
            "baskets": {"beta": True, "lookback": "10d"},
        },
    )

    assert market_assets(sized, perps={"BTC"}).warmup_bars == 10 * 6 + 1


def test_strategy_history_assets_are_optional_and_their_bars_are_warmed_up() -> None:
    regime = config(
        paper={"holdings": {"ETH": 10}},
        strategy={"name": "volatility_regime", "reference": "BTC"},
    )
    strategy = build_strategy(regime)

    found = market_assets(regime, strategy, {"ETH", "BTC"}, {"ETH"})
    assert found.required == ("ETH",)
    assert found.optional == ("BTC",)
    assert found.warmup_bars == replay_bars(strategy.needs.history_bars)  # 1h-sized, in 4h bars

    absent = market_assets(regime, strategy, {"ETH"}, {"ETH"})
    assert absent.optional == ()
    assert absent.skipped == ("BTC",)


def test_max_of_passes_on_its_parts_history_assets() -> None:
    combined = config(
        paper={"holdings": {"ETH": 10}},
        strategy={
            "name": "max_of",
            "parts": [{"name": "volatility_regime", "reference": "BTC"}, {"name": "static"}],
        },
    )

    assert market_assets(combined, build_strategy(combined)).optional == ("BTC",)


def test_simulated_paper_replays_history_assets_without_their_perps() -> None:
    regime = config(
        paper={"holdings": {"ETH": 10}, "simulated_bars": 20},
        strategy={"name": "volatility_regime", "reference": "BTC", "window": "1d"},
    )

    strategy, setup = open_paper(regime, None)

    assert setup.venue.name.startswith("paper:")
    assert sorted(setup.data.spot) == ["BTC", "ETH"]
    assert sorted(setup.data.perp) == ["ETH"]  # BTC is measured, never traded
    bars = strategy.needs.history_bars  # sized for 1h bars: the window is 7 bars of 4h
    start_ms = int(setup.start.timestamp() * 1000)
    assert len(setup.data.spot["BTC"].closes_until(start_ms, bars)) > replay_bars(bars) == 7
    assert setup.notes == ()


def test_candidates_are_simulated_when_a_holding_cannot_use_its_perp() -> None:
    restricted = config(
        paper={"holdings": {"XRP": 1000}, "simulated_bars": 20},
        hedge={"perps": ["BTC", *DEFAULT_CANDIDATES[:1]]},
    )

    setup = build_paper(restricted, None)

    assert sorted(setup.data.perp) == ["BTC", "ETH", "XRP"]
    start_ms = int(setup.start.timestamp() * 1000)
    assert len(setup.data.spot["ETH"].closes_until(start_ms, LOOKBACK_BARS + 1)) == (
        LOOKBACK_BARS + 1
    )


# --- the summary line -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "params", "expected"),
    [
        ("static", {"ratio": 0.4}, "static ratio=0.4"),
        (
            "volatility_regime",
            {"window": "14d", "regimes": [{}, {}, {}]},
            "volatility_regime window=14d 3 regimes",
        ),
        (
            "max_of",
            {"parts": [{"name": "volatility_regime", "window": "14d"}, {"name": "event_calendar"}]},
            "max_of(volatility_regime, event_calendar)",
        ),
        (
            "event_calendar",
            {"events": [{"name": "FOMC"}] * 12, "lead": "24h"},
            "event_calendar 12 events lead=24h",
        ),
    ],
)
def test_strategy_description_stays_short(name: str, params: dict[str, Any], expected: str) -> None:
    assert describe_strategy(name, params) == expected


def test_a_long_strategy_description_is_cut_at_the_width() -> None:
    text = describe_strategy("static", {"note": "x" * 100})

    assert len(text) == 60
    assert text.endswith("…")
