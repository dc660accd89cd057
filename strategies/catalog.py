"""Strategy classes by name, built-ins and plugins alike, and `build`, which checks their needs.

The layer under `strategies.registry` and `strategies.combine`: the registry names every strategy
(combinations included), a combination builds its parts, and both build through here.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib.metadata import entry_points
from typing import cast

from bot.core.errors import ConfigError
from strategies.base import Strategy, StrategyNeeds, StrategyParams
from strategies.event_calendar import EventCalendar
from strategies.profit_taking import ProfitTaking
from strategies.static import StaticRatio
from strategies.volatility_regime import VolatilityRegime

ENTRY_POINT_GROUP = "hedgebot.strategies"
SINGLE: dict[str, type[Strategy]] = {
    cls.name: cast(type[Strategy], cls)
    for cls in (StaticRatio, VolatilityRegime, EventCalendar, ProfitTaking)
}
"""The built-in strategies that decide on their own (not combinations)."""


@cache
def _registered() -> tuple[tuple[str, type[Strategy]], ...]:
    """Return the classes registered under `ENTRY_POINT_GROUP`, looked up once per process."""
    return tuple(
        (entry.name, cast(type[Strategy], entry.load()))
        for entry in entry_points(group=ENTRY_POINT_GROUP)
    )


def strategy_classes(built_in: Mapping[str, type[Strategy]] = SINGLE) -> dict[str, type[Strategy]]:
    """Return ``built_in`` plus every class registered under `ENTRY_POINT_GROUP`, by name."""
    found = dict(built_in)
    for name, cls in _registered():
        found.setdefault(name, cls)
    return found


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
