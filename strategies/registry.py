"""Strategies by name: the built-ins plus any registered under the `hedgebot.strategies` group."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from bot.core.errors import ConfigError
from strategies.base import Strategy
from strategies.catalog import SINGLE, build, strategy_classes
from strategies.combine import MaxOf

_BUILT_IN: dict[str, type[Strategy]] = {**SINGLE, MaxOf.name: MaxOf}


def available_strategies() -> dict[str, type[Strategy]]:
    """Return every known strategy class by name (entry points may add more)."""
    return strategy_classes(_BUILT_IN)


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


def create_strategy(name: str, params: dict[str, Any], source: str = "<config>") -> Strategy:
    """Build the named strategy with validated parameters; raise `ConfigError` otherwise."""
    cls = _strategy_class(name, source)
    return build(cls, _validated_params(cls, params, source))
