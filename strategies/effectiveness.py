"""How much of a holding's falls its proxy basket took back, on the holding's worst days.

Over the closes a cycle already has (the baskets' lookback), the closes are cut into whole days
counted back from the last one. On each of the holding's ``worst`` falling days the basket's
share of the fall is β × Σ wᵢ·rᵢ / r: r the holding's simple return that day, rᵢ each leg's, wᵢ
its weight and β the basket's beta (`strategies.baskets.size_basket`). A share of 1 means a hedge
at ratio h took back h of the fall; the range over those days is what history says to expect,
not a promise. A holding hedged by its own perp is left out (its share is 1 by construction).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import pairwise

from strategies.baskets import Basket, LegWeight, Universe, choose_basket, size_basket
from strategies.units import percent

DAY_SECONDS = 86_400
WORST_DAYS = 5
"""Worst days of the holding an estimate looks at."""


@dataclass(frozen=True, slots=True)
class Effectiveness:
    """A proxied holding's basket and the share of each of its worst days' falls it took back."""

    asset: str
    legs: tuple[LegWeight, ...]
    beta: Decimal
    shares: tuple[float, ...]
    """One per worst falling day, the worst first; empty when the closes were too few."""
    days: int
    """Whole days of closes the worst days were picked from."""

    @property
    def low(self) -> float | None:
        """Return the smallest share, None without one."""
        return min(self.shares, default=None)

    @property
    def high(self) -> float | None:
        """Return the largest share, None without one."""
        return max(self.shares, default=None)

    @property
    def median(self) -> float | None:
        """Return the median share, None without one."""
        return statistics.median(self.shares) if self.shares else None


def day_returns(closes: Sequence[Decimal | float], bars_per_day: int) -> list[float]:
    """Return the simple returns of whole days counted back from the last close, oldest first."""
    step = max(1, bars_per_day)
    picked = [float(c) for c in closes[::-1][::step]][::-1]
    return [b / a - 1 if a > 0 else 0.0 for a, b in pairwise(picked)]


def worst_day_shares(
    target: Sequence[float],
    legs: Sequence[tuple[float, Sequence[float]]],
    beta: float,
    worst: int = WORST_DAYS,
) -> tuple[float, ...]:
    """Return β × Σ w·r_leg / r on the ``worst`` falling days of ``target``, the worst first.

    ``legs`` are (weight, day returns); every series is aligned on its latest day.
    """
    size = min((len(s) for s in (target, *(r for _, r in legs))), default=0)
    if size == 0:
        return ()
    target = target[len(target) - size :]
    cut = [(w, r[len(r) - size :]) for w, r in legs]
    falls = sorted((r, day) for day, r in enumerate(target) if r < 0)[:worst]
    return tuple(beta * sum(w * r[day] for w, r in cut) / fall for fall, day in falls)


def basket_effectiveness(
    asset: str,
    basket: Basket,
    history: Mapping[str, Sequence[Decimal]],
    bar_seconds: int,
    worst: int = WORST_DAYS,
) -> Effectiveness:
    """Return the share of ``asset``'s worst days' falls that ``basket`` took back."""
    per_day = max(1, DAY_SECONDS // max(1, bar_seconds))
    target = day_returns(history.get(asset, ()), per_day)
    legs = [
        (float(leg.weight), day_returns(history.get(leg.asset, ()), per_day)) for leg in basket.legs
    ]
    shares = worst_day_shares(target, legs, float(basket.beta), worst)
    days = min((len(r) for r in (target, *(r for _, r in legs))), default=0)
    return Effectiveness(asset, basket.legs, basket.beta, shares, days)


def proxy_effectiveness(
    assets: Iterable[str], universe: Universe, bar_seconds: int, worst: int = WORST_DAYS
) -> list[Effectiveness]:
    """Return the estimate of each of ``assets`` that a proxy basket (not its own perp) hedges."""
    out = []
    for asset in assets:
        basket = size_basket(asset, choose_basket(asset, universe), universe)
        if basket.legs and basket.legs != (LegWeight(asset, Decimal(1)),):
            out.append(basket_effectiveness(asset, basket, universe.history, bar_seconds, worst))
    return out


def describe(estimate: Effectiveness) -> str:
    """Return one line: the basket and the range of shares of a fall it took back."""
    mix = " + ".join(f"{percent(leg.weight)} {leg.asset}" for leg in estimate.legs)
    sized = "" if estimate.beta == 1 else f" × β{estimate.beta:.2f}"
    head = f"hedge effectiveness {estimate.asset} ({mix}{sized}): "
    if estimate.low is None or estimate.high is None or estimate.median is None:
        return head + (
            f"not estimated ({estimate.days} days of closes with no falling day)"
            if estimate.days
            else "not estimated (no day of closes at hand: a cycle reads them only for auto "
            "proxies or β sizing)"
        )
    return head + (
        f"removed {estimate.low:.2f} to {estimate.high:.2f} × h of the fall (median "
        f"{estimate.median:.2f}) on its {len(estimate.shares)} worst of the last {estimate.days} "
        "days (history, not a promise)"
    )
