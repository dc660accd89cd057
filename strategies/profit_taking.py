"""`profit_taking`: lock in a parabolic rally by hedging that holding fully (or over-hedging).

When a holding's price reaches ``multiple`` × its lowest close of the last ``window`` (e.g. 5× in
30 days), it is hedged at ``ratio`` (100% or more, capped at 200%: above 100% is net short) until
the price closes below a trailing level ``trail`` under its peak since then, or ``max_hold``
passes. It then hands back (``base_ratio``) and re-arms once the rise has fallen below
``multiple`` again, so one rally fires once.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, ClassVar

from pydantic import Field

from strategies.base import (
    HedgeDecision,
    HoldingView,
    StrategyInput,
    StrategyNeeds,
    StrategyParams,
)
from strategies.units import (
    FINEST_BAR_SECONDS,
    Duration,
    bars_in,
    describe,
    parse_duration,
    percent,
)


class ProfitTakingParams(StrategyParams):
    """Parameters of the profit-taking strategy."""

    multiple: Annotated[Decimal, Field(gt=1)] = Decimal(5)
    """Rise that fires it: price / lowest close of the window."""
    window: Duration = parse_duration("30d")
    ratio: Annotated[Decimal, Field(ge=1, le=2)] = Decimal(1)
    """Hedge while it holds: 1 = fully hedged, up to 2 = as much short again (net short)."""
    trail: Annotated[Decimal, Field(gt=0, lt=1)] = Decimal("0.2")
    """Ends once the price is this fraction under its peak since firing."""
    max_hold: Duration = parse_duration("30d")
    base_ratio: Annotated[Decimal, Field(ge=0, le=1)] = Decimal(0)
    """Ratio of holdings without a rally."""


def _price(value: Decimal) -> str:
    return f"{value:.6g}"


class ProfitTaking:
    """Over-hedge a holding after a parabolic rise until a trailing stop or a time limit."""

    name: ClassVar[str] = "profit_taking"
    Params: ClassVar[type[StrategyParams]] = ProfitTakingParams

    def __init__(self, params: ProfitTakingParams) -> None:
        """Keep the parameters and the history they need."""
        self.params = params
        self.needs = StrategyNeeds(history_bars=bars_in(params.window, FINEST_BAR_SECONDS) + 1)

    def _rise(self, view: StrategyInput, holding: HoldingView) -> tuple[Decimal, Decimal] | None:
        """Return (multiple over the window's lowest close, that low), None without history."""
        count = bars_in(self.params.window, view.history_interval_seconds)
        closes = list(view.history.get(holding.asset, ()))[-(count + 1) :]
        low = min([*closes, holding.price]) if closes else None
        if low is None or low <= 0:
            return None
        return holding.price / low, low

    def _follow(
        self, asset: str, entry: dict[str, str], price: Decimal, now: datetime
    ) -> tuple[dict[str, str] | None, str]:
        """Return the running hedge's updated entry (None once it ends) and the words."""
        params = self.params
        peak = max(Decimal(entry["peak"]), price)
        stop = peak * (1 - params.trail)
        trailing = f"{_price(stop)} ({percent(params.trail)} under the {_price(peak)} peak)"
        since = datetime.fromisoformat(entry["since"])
        until = since + params.max_hold
        if price < stop:
            return (
                None,
                f"{asset} at {_price(price)} fell below {trailing}: profit-taking hedge ended",
            )
        if now >= until:
            return (
                None,
                f"{asset}: profit-taking hedge ended, {describe(params.max_hold)} time limit",
            )
        words = (
            f"profit taking: {asset} hedged at {percent(params.ratio)} since "
            f"{since:%Y-%m-%d %H:%M} UTC (rose {float(entry['multiple']):.3g}×) "
            f"until below {trailing} or {until:%Y-%m-%d %H:%M} UTC"
        )
        return {**entry, "peak": str(peak)}, words

    def _fire(self, asset: str, multiple: Decimal, low: Decimal, price: Decimal) -> str:
        params = self.params
        return (
            f"profit taking: {asset} rose {float(multiple):.3g}× within {describe(params.window)} "
            f"({_price(low)} → {_price(price)}), hedged at {percent(params.ratio)} until it "
            f"falls below {_price(price * (1 - params.trail))} or {describe(params.max_hold)} pass"
        )

    def decide(self, view: StrategyInput) -> HedgeDecision:
        """Return ``ratio`` for holdings in a profit-taking hedge, ``base_ratio`` for the rest."""
        params, now = self.params, view.time
        active: dict[str, dict[str, str]] = dict(view.state.get("active", {}))
        spent = set(view.state.get("spent", ()))
        ratios: dict[str, Decimal] = {}
        words: list[str] = []
        rises: dict[str, Decimal | None] = {}
        for holding in view.holdings:
            asset, price = holding.asset, holding.price
            rise = self._rise(view, holding)
            rises[asset] = rise[0] if rise else None
            ratios[asset] = params.base_ratio
            if asset in active:
                entry, said = self._follow(asset, active.pop(asset), price, now)
                words.append(said)
                if entry is None:
                    spent.add(asset)
                else:
                    active[asset] = entry
                    ratios[asset] = params.ratio
            elif rise is not None and asset in spent:
                if rise[0] < params.multiple:
                    spent.discard(asset)
                else:
                    words.append(
                        f"{asset} is {float(rise[0]):.3g}× its {describe(params.window)} low "
                        f"but its profit-taking hedge already ran on this rally "
                        f"(re-arms below {params.multiple:.4g}×)"
                    )
            elif rise is not None and rise[0] >= params.multiple:
                multiple, low = rise
                active[asset] = {
                    "since": now.isoformat(),
                    "peak": str(price),
                    "multiple": f"{multiple:.4f}",
                }
                ratios[asset] = params.ratio
                words.append(self._fire(asset, multiple, low, price))
        if not words:
            known = [(r, a) for a, r in rises.items() if r is not None]
            top = f" (largest: {max(known)[1]} {float(max(known)[0]):.3g}×)" if known else ""
            words.append(
                f"no profit-taking hedge: no holding rose {params.multiple:.4g}× within "
                f"{describe(params.window)}{top}; hedge {percent(params.base_ratio)}"
            )
        return HedgeDecision(
            ratios=ratios,
            reason="; ".join(words),
            inputs={"rise": rises, "active": sorted(active)},
            state={"active": active, "spent": sorted(spent)},
        )
