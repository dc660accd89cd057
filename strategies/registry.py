"""Strategies by name: the built-ins plus any registered under the `hedgebot.strategies` group."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, cast

from pydantic import ValidationError

from bot.errors import ConfigError
from strategies.base import Strategy, StrategyNeeds, StrategyParams
from strategies.combine import MaxOf
from strategies.event_calendar import EventCalendar
from strategies.profit_taking import ProfitTaking
from strategies.static import StaticRatio
from strategies.volatility_regime import VolatilityRegime

ENTRY_POINT_GROUP = "hedgebot.strategies"
_BUILT_IN: dict[str, type[Strategy]] = {
    cls.name: cast(type[Strategy], cls)
    for cls in (StaticRatio, VolatilityRegime, EventCalendar, ProfitTaking, MaxOf)
}


def available_strategies() -> dict[str, type[Strategy]]:
    """Return every known strategy class by name (entry points may add more)."""
    found = dict(_BUILT_IN)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name not in found:
            found[entry.name] = cast(type[Strategy], entry.load())
    return found


def _strategy_class(name: str, source: str) -> type[Strategy]:
    classes = available_strategies()
    if name not in classes:
        allowed = ", ".join(sorted(classes))
        raise ConfigError(
            f"invalid configuration in {source}:\n"
            f"  - strategy.name: unknown strategy {name!r}; allowed: {allowed}"
        )
    return classes[name]


def _validated_params(cls: type[Strategy], params: dict[str, Any], source: str) -> Any:
    try:
        return cls.Params.model_validate(params)
    except ValidationError as error:
        lines = [f"invalid configuration in {source}:"]
        for item in error.errors():
            field = ".".join(str(p) for p in item["loc"])
            message = item["msg"].removeprefix("Value error, ")
            if item["type"] == "extra_forbidden":
                message = f"not a parameter of strategy {cls.name!r}"
            lines.append(f"  - strategy.{field}: {message} (got {item.get('input')!r})")
        raise ConfigError("\n".join(lines)) from None


def build(cls: type[Strategy], params: StrategyParams) -> Strategy:
    """Return ``cls(params)``; raise `ConfigError` when it does not declare its `StrategyNeeds`.

    A plugin written for the former loose attributes (``history_bars``...) is refused here, not
    left to run without the history it expects.
    """
    strategy = cls(params)
    if not isinstance(getattr(strategy, "needs", None), StrategyNeeds):  # plugins are untyped
        raise ConfigError(
            f"strategy {cls.name!r} declares no needs: give it a `needs` attribute, a "
            "strategies.base.StrategyNeeds (StrategyNeeds() when it needs no history)"
        )
    return strategy


def create_strategy(name: str, params: dict[str, Any], source: str = "<config>") -> Strategy:
    """Build the named strategy with validated parameters; raise `ConfigError` otherwise."""
    cls = _strategy_class(name, source)
    return build(cls, _validated_params(cls, params, source))
