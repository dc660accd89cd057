"""The strategy interface: a pure function of a market view to hedge ratios per holding.

Strategies decide *how much* to hedge (a ratio of each holding's value); `strategies.baskets`
decides *with what* (the holding's own perp, or a proxy basket). A strategy never touches a venue,
a clock or a file: everything it may use arrives in `StrategyInput`, and anything it must remember
between cycles (a regime, a trailing level) goes out in `HedgeDecision.state` and comes back in
the next `StrategyInput.state`. Same input, same output.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from bot.core.domain import ZERO, Position


@dataclass(frozen=True, slots=True)
class HoldingView:
    """A spot holding valued at the current spot price."""

    asset: str
    amount: Decimal
    price: Decimal

    @property
    def value(self) -> Decimal:
        """Return the holding's value in quote currency."""
        return self.amount * self.price


@dataclass(frozen=True, slots=True)
class StrategyNeeds:
    """What the engine must fetch for a strategy's view; the default needs nothing."""

    history_bars: int = 0
    """Closes per asset (sized for the finest bar the engine may run on)."""
    history_assets: tuple[str, ...] = ()
    """Assets to fetch closes of beyond the holdings and their legs."""
    uses_funding_rates: bool = False
    """Whether `StrategyInput.funding_rates` must hold each perp leg's current rate."""

    @classmethod
    def merged(cls, needs: Iterable[StrategyNeeds]) -> StrategyNeeds:
        """Return what all of ``needs`` need together: the most bars, every asset, any rates."""
        parts = list(needs)
        return cls(
            history_bars=max((n.history_bars for n in parts), default=0),
            history_assets=tuple(sorted({a for n in parts for a in n.history_assets})),
            uses_funding_rates=any(n.uses_funding_rates for n in parts),
        )


@dataclass(frozen=True, slots=True)
class StrategyInput:
    """Everything a strategy may look at, frozen at one instant."""

    time: datetime
    holdings: tuple[HoldingView, ...]
    positions: Mapping[str, Position] = field(default_factory=dict)
    history: Mapping[str, Sequence[Decimal]] = field(default_factory=dict)
    """Asset -> recent spot closes, oldest first, one per `history_interval_seconds`."""
    history_interval_seconds: int = 4 * 3600
    funding_rates: Mapping[str, Decimal] = field(default_factory=dict)
    """Perp symbol -> current funding rate (> 0: shorts receive), if the strategy asked for it."""
    external: Mapping[str, Decimal] = field(default_factory=dict)
    """Optional outside figures, e.g. an implied-volatility index value."""
    state: Mapping[str, Any] = field(default_factory=dict)

    @property
    def total_value(self) -> Decimal:
        """Return the value of all holdings."""
        return sum((h.value for h in self.holdings), ZERO)


@dataclass(frozen=True, slots=True)
class HedgeDecision:
    """Hedge ratio per holding asset, the reason in a trader's words, and what it used."""

    ratios: Mapping[str, Decimal]
    reason: str
    inputs: Mapping[str, Any] = field(default_factory=dict)
    state: Mapping[str, Any] = field(default_factory=dict)


class StrategyParams(BaseModel):
    """Base of each strategy's parameter model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Strategy(Protocol):
    """A hedge-sizing rule. Implementations are small, pure and registered by name.

    ``needs`` tells the engine what to fetch for the view, so a strategy that needs nothing
    (``StrategyNeeds()``) costs no request.
    """

    name: ClassVar[str]
    Params: ClassVar[type[StrategyParams]]

    @property
    def needs(self) -> StrategyNeeds:
        """Return what the engine must fetch for the view (an attribute is fine)."""
        ...

    def __init__(self, params: Any) -> None:
        """Keep the validated parameters."""

    def decide(self, view: StrategyInput) -> HedgeDecision:
        """Return the hedge ratio of each holding in ``view``."""
        ...
