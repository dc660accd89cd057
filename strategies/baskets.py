"""Map each holding's hedge to perp legs: its own perp when listed, else a proxy basket.

``targets = ratio × holding value``, split over the holding's legs by weight and summed per perp,
so two holdings proxied by BTC make one BTC leg whose target says where each part comes from.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from bot.domain import ZERO, HedgeTarget, perp_symbol
from strategies.base import HedgeDecision, HoldingView

ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class LegWeight:
    """One perp hedging part of a holding."""

    asset: str
    weight: Decimal


@dataclass(frozen=True, slots=True)
class LegMapping:
    """Targets per perp, plus the holdings that could not be hedged and why."""

    targets: tuple[HedgeTarget, ...]
    unhedged: tuple[str, ...]


def legs_for(
    asset: str,
    perp_assets: Collection[str],
    proxies: Mapping[str, Sequence[LegWeight]],
) -> tuple[LegWeight, ...]:
    """Return the legs that hedge ``asset``: a configured proxy basket wins, then its own perp."""
    if asset in proxies:
        return tuple(proxies[asset])
    if asset in perp_assets:
        return (LegWeight(asset, ONE),)
    return ()


def map_to_legs(
    decision: HedgeDecision,
    holdings: Sequence[HoldingView],
    perp_assets: Collection[str],
    proxies: Mapping[str, Sequence[LegWeight]],
    quote: str = "USDT",
) -> LegMapping:
    """Turn per-holding ratios into one short-notional target per perp leg."""
    notional: dict[str, Decimal] = defaultdict(lambda: ZERO)
    sources: dict[str, list[tuple[str, Decimal]]] = defaultdict(list)
    words: dict[str, list[str]] = defaultdict(list)
    unhedged: list[str] = []
    for holding in holdings:
        ratio = decision.ratios.get(holding.asset, ZERO)
        legs = legs_for(holding.asset, perp_assets, proxies)
        if not legs:
            if ratio > 0 and holding.value > 0:
                unhedged.append(f"{holding.asset}: no perp listed and no proxy configured")
            continue
        for leg in legs:
            symbol = perp_symbol(leg.asset, quote)
            part = ratio * leg.weight * holding.value
            notional[symbol] += part
            sources[symbol].append((holding.asset, leg.weight * holding.value))
            share = "" if leg.weight == ONE else f" × {leg.weight * 100:.4g}%"
            words[symbol].append(f"{ratio * 100:.4g}%{share} of {holding.asset}")
    targets = tuple(
        HedgeTarget(
            symbol=symbol,
            notional=notional[symbol],
            reason="; ".join(words[symbol]),
            sources=tuple(sources[symbol]),
        )
        for symbol in sorted(notional)
    )
    return LegMapping(targets=targets, unhedged=tuple(unhedged))
