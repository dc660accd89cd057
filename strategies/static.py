"""`static`: hedge every holding at one fixed ratio (the article's "e.g. 30%")."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, ClassVar

from pydantic import Field

from strategies.base import HedgeDecision, StrategyInput, StrategyNeeds, StrategyParams


class StaticParams(StrategyParams):
    """Parameters of the static strategy."""

    ratio: Annotated[Decimal, Field(ge=0, le=3)] = Decimal("0.3")
    """Fraction of each holding's value to hold short; above 1 over-hedges (net short)."""


class StaticRatio:
    """Hold a short of ``ratio`` × value against every holding, whatever the market does."""

    name: ClassVar[str] = "static"
    Params: ClassVar[type[StrategyParams]] = StaticParams
    needs = StrategyNeeds()

    def __init__(self, params: StaticParams) -> None:
        """Keep the ratio."""
        self.ratio = params.ratio

    def decide(self, view: StrategyInput) -> HedgeDecision:
        """Return the same ratio for every holding."""
        percent = f"{self.ratio * 100:.4g}%"
        return HedgeDecision(
            ratios={h.asset: self.ratio for h in view.holdings},
            reason=f"static hedge: {percent} of every holding",
            inputs={"ratio": str(self.ratio)},
        )
