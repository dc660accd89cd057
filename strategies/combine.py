"""`max_of`: run several strategies and hedge each holding at the highest ratio any of them wants.

E.g. a volatility regime for the base hedge plus an event calendar that lifts it to 100% around
scheduled events: when the event passes, the calendar drops to 0 and the regime's ratio is back.
Each part keeps its own state between cycles, under its key in this strategy's state.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from decimal import Decimal
from typing import Any, ClassVar

from pydantic import Field, ValidationError, field_validator

from bot.core.domain import ZERO
from strategies.base import (
    HedgeDecision,
    Strategy,
    StrategyInput,
    StrategyNeeds,
    StrategyParams,
)
from strategies.catalog import build, strategy_classes
from strategies.units import percent


def _validated_part(index: int, part: Any) -> tuple[str, StrategyParams]:
    """Return a part's strategy name and validated parameters, or raise a ValueError saying why."""
    if not isinstance(part, dict) or not isinstance(part.get("name"), str):
        raise ValueError(f"part {index + 1} needs a strategy name, e.g. {{ name = 'static' }}")
    name, params = part["name"], {k: v for k, v in part.items() if k != "name"}
    classes = strategy_classes()
    if name not in classes:
        raise ValueError(
            f"part {index + 1}: unknown strategy {name!r}; allowed: {', '.join(sorted(classes))}"
        )
    try:
        return name, classes[name].Params.model_validate(params)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc']) or name}: "
            f"{item['msg'].removeprefix('Value error, ')}"
            for item in error.errors()
        )
        raise ValueError(f"part {index + 1} ({name}): {problems}") from None


class MaxOfParams(StrategyParams):
    """Parameters of `max_of`: the strategies to combine, each a table with its ``name``."""

    parts: tuple[Any, ...] = Field(min_length=2)

    @field_validator("parts", mode="before")
    @classmethod
    def _validate_parts(cls, parts: Any) -> tuple[tuple[str, StrategyParams], ...]:
        if not isinstance(parts, list | tuple):
            raise ValueError("parts must be a list of strategy tables")
        return tuple(_validated_part(i, part) for i, part in enumerate(parts))


class MaxOf:
    """Hedge each holding at the maximum of the ratios its parts decide."""

    name: ClassVar[str] = "max_of"
    Params: ClassVar[type[StrategyParams]] = MaxOfParams

    def __init__(self, params: MaxOfParams) -> None:
        """Build the parts; each part's state lives under its key (its name, numbered if twice).

        It needs what its parts need together (`StrategyNeeds.merged`).
        """
        classes = strategy_classes()
        counts = Counter(name for name, _ in params.parts)
        self.parts: list[tuple[str, Strategy]] = []
        for index, (name, part_params) in enumerate(params.parts):
            key = name if counts[name] == 1 else f"{name}#{index + 1}"
            self.parts.append((key, build(classes[name], part_params)))
        self.needs = StrategyNeeds.merged(part.needs for _, part in self.parts)

    def decide(self, view: StrategyInput) -> HedgeDecision:
        """Ask every part, then keep the highest ratio per holding and say which part set it."""
        decisions = [
            (key, part.decide(replace(view, state=view.state.get(key, {}))))
            for key, part in self.parts
        ]
        ratios: dict[str, Decimal] = {}
        winners: dict[str, str] = {}
        for holding in view.holdings:
            asset = holding.asset
            ratio, key = max(
                ((d.ratios.get(asset, ZERO), key) for key, d in decisions),
                key=lambda pair: pair[0],
            )
            ratios[asset], winners[asset] = ratio, key
        parts = " | ".join(f"{key}: {d.reason}" for key, d in decisions)
        return HedgeDecision(
            ratios=ratios,
            reason=f"{self._outcome(ratios, winners)} (highest of {len(decisions)} strategies "
            f"per holding) — {parts}",
            inputs={**{key: dict(d.inputs) for key, d in decisions}, "chosen_by": winners},
            state={key: dict(d.state) for key, d in decisions},
        )

    @staticmethod
    def _outcome(ratios: dict[str, Decimal], winners: dict[str, str]) -> str:
        if not ratios:
            return "no holdings"
        if len(set(ratios.values())) == 1 and len(set(winners.values())) == 1:
            ratio, key = next(iter(ratios.values())), next(iter(winners.values()))
            return f"{percent(ratio)} of every holding from {key}"
        return ", ".join(
            f"{asset} {percent(ratio)} ({winners[asset]})" for asset, ratio in ratios.items()
        )
