from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from bot.core.errors import ConfigError
from bot.settings.config import load_config, parse_config
from strategies.base import HoldingView, StrategyInput
from strategies.catalog import ENTRY_POINT_GROUP
from strategies.registry import available_strategies, create_strategy
from tests.conftest import paper_config_dict

BUILT_IN = {"static", "volatility_regime", "event_calendar", "profit_taking", "max_of"}
CPI = datetime(2022, 11, 10, 13, 30, tzinfo=UTC)
CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


def combined() -> dict[str, object]:
    return {
        "parts": [
            {"name": "static", "ratio": 0.3},
            {"name": "event_calendar", "events": [{"name": "US CPI", "time": CPI}], "lag": "12h"},
            {"name": "profit_taking"},
        ]
    }


def at(moment: datetime) -> StrategyInput:
    return StrategyInput(time=moment, holdings=(HoldingView("BTC", Decimal(1), Decimal(17000)),))


def test_built_ins_are_registered_and_published_as_entry_points() -> None:
    assert set(available_strategies()) >= BUILT_IN
    assert {e.name for e in entry_points(group=ENTRY_POINT_GROUP)} >= BUILT_IN


def test_max_of_takes_the_highest_ratio_and_hands_back() -> None:
    strategy = create_strategy("max_of", combined())
    before = strategy.decide(at(CPI - timedelta(hours=25)))
    assert before.ratios == {"BTC": Decimal("0.3")}
    assert before.inputs["chosen_by"] == {"BTC": "static"}
    during = strategy.decide(at(CPI))
    assert during.ratios == {"BTC": 1}
    assert during.reason.startswith("100% of every holding from event_calendar")
    assert "US CPI at 2022-11-10 13:30 UTC" in during.reason
    assert strategy.decide(at(CPI + timedelta(hours=12))).ratios == {"BTC": Decimal("0.3")}
    assert set(during.state) == {"static", "event_calendar", "profit_taking"}


def test_max_of_is_pure() -> None:
    strategy = create_strategy("max_of", combined())
    seen = at(CPI)
    assert strategy.decide(seen) == strategy.decide(seen)


def test_a_bad_part_names_the_part_and_the_field() -> None:
    with pytest.raises(ConfigError, match=r"part 2 \(event_calendar\): lead: .*not a duration"):
        create_strategy(
            "max_of",
            {"parts": [{"name": "static"}, {"name": "event_calendar", "events": [], "lead": "x"}]},
        )
    with pytest.raises(ConfigError, match="part 1: unknown strategy 'nope'"):
        create_strategy("max_of", {"parts": [{"name": "nope"}, {"name": "static"}]})


def test_config_takes_basket_rules_and_inputs() -> None:
    config = parse_config(
        paper_config_dict(
            hedge={"baskets": {"beta": True, "lookback": "60d", "beta_range": [0.8, 1.5]}},
            inputs={"implied_vol": 0.62},
        )
    )
    rules = config.hedge.baskets.rules(config.interval_seconds)
    assert (rules.beta, rules.lookback_bars, rules.beta_max) == (True, 360, Decimal("1.5"))
    assert config.inputs == {"implied_vol": Decimal("0.62")}
    with pytest.raises(ConfigError, match="beta_range"):
        parse_config(paper_config_dict(hedge={"baskets": {"beta_range": [2, 1]}}))


def test_shipped_regime_config_and_readme_examples_validate() -> None:
    config = load_config(CONFIG_DIR / "regime.toml")
    assert config.strategy.name == "max_of"
    docs = (CONFIG_DIR.parent / "README.md").read_text(encoding="utf-8")
    examples = [block.split("```", 1)[0] for block in docs.split("```toml\n")[1:]]
    assert len(examples) >= 6
    for example in examples:
        data = tomllib.loads(example)
        merged = paper_config_dict(**{k: v for k, v in data.items() if k != "strategy"})
        merged["strategy"] = data.get("strategy", merged["strategy"])
        parse_config(merged, "README.md")


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("static", {}),
        ("volatility_regime", {"window": "1d"}),
        ("event_calendar", {"events": [{"name": "US CPI", "time": CPI}]}),
        ("profit_taking", {"window": "1d"}),
        ("max_of", combined()),
    ],
)
def test_every_built_in_is_pure(name: str, params: dict[str, object]) -> None:
    closes = [Decimal(100 + (i % 3) * 5) for i in range(30)]
    seen = StrategyInput(
        time=CPI,
        holdings=(HoldingView("BTC", Decimal(1), closes[-1]),),
        history={"BTC": closes},
    )
    strategy = create_strategy(name, params)
    first = strategy.decide(seen)
    assert strategy.decide(seen) == first
    assert create_strategy(name, params).decide(seen) == first
