"""Map each holding's hedge to perp legs: which perps hedge a holding, and how much of each.

A holding is hedged, in this order, by

1. the proxy basket configured for it (``[hedge.proxies]``);
2. its own perp, when listed and liquid enough (24h quote volume at least ``min_volume``, when the
   venue reports volumes);
3. with ``auto_proxy``, ``anchor_weight`` of the anchor (BTC) plus the rest in the liquid candidate
   perp whose returns correlated best with the holding's over the lookback;

otherwise it stays unhedged and the mapping says why.

Leg notional = ratio × weight × value. With ``beta`` weighting, × the holding's beta to its basket
(its returns regressed on the basket's over the lookback, by default on the basket's worst bars
only: ``estimator`` and ``downside_quantile``, see `strategies.estimators`; clamped to
``[beta_min, beta_max]``);
a holding hedged by its own perp has beta 1 by construction. With ``min_variance`` the weights of a
basket of several legs come from one joint regression on all legs (the minimum-variance hedge; for
one leg that is the beta). Too little history → beta 1, and the leg's reason says so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from bot.core.domain import ZERO, HedgeTarget, perp_symbol
from strategies.analytics import (
    aligned,
    correlation,
    log_returns,
    min_variance_weights,
    weighted_sum,
)
from strategies.base import HedgeDecision, HoldingView
from strategies.estimators import Estimator, hedge_beta
from strategies.units import percent

ONE = Decimal(1)
DEFAULT_CANDIDATES = ("ETH", "BNB", "SOL", "XRP", "ADA", "DOGE", "LTC", "LINK", "AVAX", "DOT")
"""Liquid large and mid caps tried as the second leg of an automatic proxy basket."""
SWITCH_MARGIN = 0.1
"""An automatic proxy keeps last cycle's candidate until another correlates this much better."""


@dataclass(frozen=True, slots=True)
class LegWeight:
    """One perp hedging part of a holding."""

    asset: str
    weight: Decimal


@dataclass(frozen=True, slots=True)
class BasketRules:
    """How holdings become legs: liquidity, automatic proxies, beta weighting.

    The defaults are the plain mapping (own perp, else a configured proxy); the configuration's
    ``[hedge.baskets]`` table switches the rest on.
    """

    min_volume: Decimal | None = None
    auto_proxy: bool = False
    anchor: str = "BTC"
    anchor_weight: Decimal = Decimal("0.5")
    candidates: tuple[str, ...] = DEFAULT_CANDIDATES
    lookback_bars: int = 180
    lookback: str = "30d"
    """The lookback in words, for the reasons."""
    beta: bool = False
    min_variance: bool = False
    beta_min: Decimal = Decimal("0.5")
    beta_max: Decimal = Decimal(2)
    estimator: Estimator = "downside"
    """How a beta is estimated: on the basket's worst bars (``downside``) or on all (``ols``)."""
    downside_quantile: float = 0.2
    """The share of the lookback's bars, the basket's worst, a downside beta reads."""

    @property
    def min_points(self) -> int:
        """Return how many returns an estimate needs: half the lookback, at least 10."""
        return max(10, self.lookback_bars // 2)

    def auto_assets(self) -> tuple[str, ...]:
        """Return the perps an automatic proxy basket may use."""
        return (self.anchor, *self.candidates) if self.auto_proxy else ()


PLAIN = BasketRules()


@dataclass(frozen=True, slots=True)
class Basket:
    """The legs hedging one holding, per unit of ``ratio × value``, and how they were chosen."""

    legs: tuple[LegWeight, ...]
    words: str = ""
    beta: Decimal = ONE
    pick: str | None = None
    """The candidate an automatic proxy chose, kept next cycle unless clearly beaten."""


@dataclass(frozen=True, slots=True)
class Universe:
    """What the venue offers to hedge with, and the recent closes to estimate from."""

    perp_assets: Collection[str]
    proxies: Mapping[str, Sequence[LegWeight]] = field(default_factory=dict)
    rules: BasketRules = PLAIN
    history: Mapping[str, Sequence[Decimal]] = field(default_factory=dict)
    volumes: Mapping[str, Decimal] = field(default_factory=dict)
    """Perp asset -> 24h quote volume, when the venue reports it."""
    picks: Mapping[str, str] = field(default_factory=dict)
    """Holding -> the candidate its automatic proxy used last cycle (`LegMapping.picks`)."""

    def returns(self, asset: str) -> list[float]:
        """Return the asset's log returns over the lookback."""
        return log_returns(self.history.get(asset, ()), self.rules.lookback_bars)

    def liquid(self, asset: str) -> tuple[bool, str]:
        """Return whether ``asset``'s perp is listed and liquid enough, and words if not plain."""
        if asset not in self.perp_assets:
            return False, "no perp listed"
        threshold = self.rules.min_volume
        if threshold is None:
            return True, ""
        volume = self.volumes.get(asset)
        if volume is None:
            return True, "24h volume unknown, liquidity not checked"
        if volume >= threshold:
            return True, ""
        return False, f"its perp traded {volume:,.0f} in 24h, under the {threshold:,.0f} threshold"


@dataclass(frozen=True, slots=True)
class LegMapping:
    """Targets per perp, plus the holdings that could not be hedged and why."""

    targets: tuple[HedgeTarget, ...]
    unhedged: tuple[str, ...]
    picks: Mapping[str, str] = field(default_factory=dict)
    """Holding -> candidate chosen by its automatic proxy; pass back as `Universe.picks`."""


def _fixed_basket(asset: str, universe: Universe) -> Basket | None:
    """Return the configured proxy or the own liquid perp of ``asset``; None when neither."""
    if asset in universe.proxies:
        legs = tuple(universe.proxies[asset])
        mix = " + ".join(f"{percent(leg.weight)} {leg.asset}" for leg in legs)
        return Basket(legs, f"configured proxy {mix}")
    liquid, words = universe.liquid(asset)
    return Basket((LegWeight(asset, ONE),), words) if liquid else None


def _auto_basket(asset: str, why: str, universe: Universe) -> Basket:
    """Return the anchor plus the liquid candidate best correlated with ``asset``."""
    rules = universe.rules
    anchor_ok = rules.anchor != asset and universe.liquid(rules.anchor)[0]
    target = universe.returns(asset)
    scored: list[tuple[float, str]] = []
    for candidate in rules.candidates:
        if candidate in (asset, rules.anchor) or not universe.liquid(candidate)[0]:
            continue
        y, x = aligned(target, universe.returns(candidate))
        rho = correlation(y, x) if len(y) >= rules.min_points else None
        if rho is not None:
            scored.append((rho, candidate))
    if not scored:
        if not anchor_ok:
            return Basket((), f"{why}, no proxy configured and no liquid proxy perp available")
        return Basket(
            (LegWeight(rules.anchor, ONE),),
            f"{why}: auto proxy {rules.anchor} only (no candidate with "
            f"{rules.min_points} bars of history alongside it)",
        )
    rho, best = max(scored)
    picked = f"most correlated liquid candidate over {rules.lookback}, ρ {rho:.2f}"
    kept = {c: r for r, c in scored}.get(universe.picks.get(asset, ""))
    if kept is not None and universe.picks[asset] != best and rho - kept < SWITCH_MARGIN:
        picked = f"kept, ρ {kept:.2f}: {best} at {rho:.2f} does not lead by {SWITCH_MARGIN}"
        rho, best = kept, universe.picks[asset]
    if not anchor_ok:
        return Basket((LegWeight(best, ONE),), f"{why}: auto proxy {best} ({picked})", pick=best)
    rest = ONE - rules.anchor_weight
    return Basket(
        (LegWeight(rules.anchor, rules.anchor_weight), LegWeight(best, rest)),
        f"{why}: auto proxy {percent(rules.anchor_weight)} {rules.anchor} + {percent(rest)} {best} "
        f"({picked})",
        pick=best,
    )


def choose_basket(asset: str, universe: Universe) -> Basket:
    """Return the legs that hedge ``asset`` (empty when none can), unsized."""
    fixed = _fixed_basket(asset, universe)
    if fixed is not None:
        return fixed
    why = universe.liquid(asset)[1]
    if not universe.rules.auto_proxy:
        return Basket((), f"{why} and no proxy configured")
    return _auto_basket(asset, why, universe)


def possible_leg_assets(asset: str, universe: Universe) -> tuple[str, ...]:
    """Return every perp that may hedge ``asset`` this cycle (to quote them before deciding)."""
    fixed = _fixed_basket(asset, universe)
    if fixed is not None:
        return tuple(leg.asset for leg in fixed.legs)
    rules = universe.rules
    return tuple(a for a in rules.auto_assets() if a != asset and universe.liquid(a)[0])


def history_bars(assets: Collection[str], universe: Universe) -> int:
    """Return the closes per asset that hedging ``assets`` needs: none when no estimate is made."""
    rules = universe.rules
    sized = rules.beta or rules.min_variance
    for asset in assets:
        fixed = _fixed_basket(asset, universe)
        own = fixed is not None and fixed.legs == (LegWeight(asset, ONE),)
        if (fixed is None and rules.auto_proxy) or (sized and fixed is not None and not own):
            return rules.lookback_bars + 1
    return 0


def _noted(
    basket: Basket,
    words: str,
    legs: tuple[LegWeight, ...] | None = None,
    scale: Decimal = ONE,
) -> Basket:
    """Return ``basket`` sized by ``legs`` and ``scale`` (its beta), with ``words`` added."""
    joined = "; ".join(p for p in (basket.words, words) if p)
    return replace(basket, words=joined, legs=legs or basket.legs, beta=scale)


def size_basket(asset: str, basket: Basket, universe: Universe) -> Basket:
    """Apply beta weighting or minimum-variance weights to ``basket``; beta 1 without data."""
    rules = universe.rules
    own = basket.legs == (LegWeight(asset, ONE),)
    if own or not basket.legs or not (rules.beta or rules.min_variance):
        return basket
    target = universe.returns(asset)
    factors = [universe.returns(leg.asset) for leg in basket.legs]
    points = len(aligned(target, *factors)[0])
    if points < rules.min_points:
        return _noted(basket, f"β 1 (fallback: {points} of {rules.min_points} bars needed)")
    if rules.min_variance and len(basket.legs) > 1:
        weights = min_variance_weights(target, factors)
        if weights is not None:
            sized = [min(max(Decimal(f"{w:.4f}"), ZERO), rules.beta_max) for w in weights]
            if sum(sized) > 0:
                legs = tuple(
                    LegWeight(leg.asset, w) for leg, w in zip(basket.legs, sized, strict=True)
                )
                mix = ", ".join(f"{leg.asset} {leg.weight:.2f}" for leg in legs)
                words = f"minimum-variance sizes over {rules.lookback}: {mix}"
                return _noted(basket, words, legs=legs)
    factor = weighted_sum(factors, [float(leg.weight) for leg in basket.legs])
    estimate = hedge_beta(target, factor, rules.estimator, rules.downside_quantile)
    if estimate is None:
        return _noted(basket, "β 1 (fallback: the legs did not move)")
    raw = Decimal(f"{estimate:.4f}")
    clamped = min(max(raw, rules.beta_min), rules.beta_max)
    worst = "' worst bars" if rules.estimator == "downside" else ""
    words = f"β {clamped:.2f} to its legs{worst} over {rules.lookback}"
    if clamped != raw:
        words += f" (estimate {raw:.2f} clamped to {rules.beta_min}–{rules.beta_max})"
    return _noted(basket, words, scale=clamped)


def map_to_legs(
    decision: HedgeDecision,
    holdings: Sequence[HoldingView],
    perp_assets: Collection[str],
    proxies: Mapping[str, Sequence[LegWeight]],
    quote: str = "USDT",
    *,
    rules: BasketRules = PLAIN,
    history: Mapping[str, Sequence[Decimal]] | None = None,
    volumes: Mapping[str, Decimal] | None = None,
    picks: Mapping[str, str] | None = None,
) -> LegMapping:
    """Turn per-holding ratios into one short-notional target per perp leg.

    Each target's ``sources`` name the spot value each holding insures through that leg.
    """
    universe = Universe(perp_assets, proxies, rules, history or {}, volumes or {}, picks or {})
    notional: dict[str, Decimal] = defaultdict(lambda: ZERO)
    sources: dict[str, list[tuple[str, Decimal]]] = defaultdict(list)
    words: dict[str, list[str]] = defaultdict(list)
    unhedged: list[str] = []
    chosen: dict[str, str] = {}
    for holding in holdings:
        ratio = decision.ratios.get(holding.asset, ZERO)
        basket = size_basket(holding.asset, choose_basket(holding.asset, universe), universe)
        if basket.pick is not None:
            chosen[holding.asset] = basket.pick
        if not basket.legs:
            if ratio > 0 and holding.value > 0:
                unhedged.append(f"{holding.asset}: {basket.words}")
            continue
        why = f" ({basket.words})" if basket.words else ""
        total_weight = sum((leg.weight for leg in basket.legs), ZERO)
        for leg in basket.legs:
            symbol = perp_symbol(leg.asset, quote)
            notional[symbol] += ratio * leg.weight * basket.beta * holding.value
            sources[symbol].append((holding.asset, holding.value * leg.weight / total_weight))
            share = "" if leg.weight == ONE else f" × {percent(leg.weight)}"
            sized = "" if basket.beta == ONE else f" × β{basket.beta:.2f}"
            words[symbol].append(f"{percent(ratio)}{share}{sized} of {holding.asset}{why}")
    targets = tuple(
        HedgeTarget(
            symbol=symbol,
            notional=notional[symbol],
            reason="; ".join(words[symbol]),
            sources=tuple(sources[symbol]),
        )
        for symbol in sorted(notional)
    )
    return LegMapping(targets=targets, unhedged=tuple(unhedged), picks=chosen)
