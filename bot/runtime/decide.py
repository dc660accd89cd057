"""Decide: ask the strategy, map its wish to legs, apply the limits, plan the orders."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bot.core.domain import HedgeTarget
from bot.core.limits import cap_order_size, cap_targets, cap_turnover, fit_to_margin
from bot.core.planner import LegPlan, hold_blocked, plan_rebalance, with_resting
from bot.runtime.observe import Observation, Observer
from bot.settings.config import Config
from strategies.base import HedgeDecision, Strategy, StrategyInput
from strategies.baskets import Universe, map_to_legs
from strategies.effectiveness import describe, proxy_effectiveness


@dataclass(frozen=True, slots=True)
class Decided:
    """What one decision step produced: decision, capped targets, order plans, limits' notes."""

    decision: HedgeDecision
    targets: tuple[HedgeTarget, ...]
    plans: list[LegPlan]
    notes: list[str]


class Decider:
    """The decision step of one account: strategy, legs and limits, with the state they keep.

    The strategy's state and the basket picks carry from one decision to the next; the state is
    kept only once a cycle has acted on it (`commit`), so a dry run changes nothing.
    """

    def __init__(self, config: Config, strategy: Strategy, observer: Observer) -> None:
        """Decide for ``strategy`` on the legs ``observer`` has loaded."""
        self.config = config
        self.strategy = strategy
        self.observer = observer
        self._strategy_state: Mapping[str, Any] = {}
        self._proxy_picks: Mapping[str, str] = {}

    def decide(
        self,
        rebalance_id: str,
        seen: Observation,
        turnover_used: Decimal,
        resting: Mapping[str, Decimal] | None = None,
        blocked: Mapping[str, str] | None = None,
    ) -> Decided:
        """Return the decision on ``seen``, its capped targets and the order plans.

        ``resting`` (signed contracts of our resting orders) counts toward each leg's position;
        ``blocked`` legs (an order in flight, an implausible price) get no order, with the reason.
        """
        view = StrategyInput(
            time=seen.time,
            holdings=seen.holdings,
            positions=seen.positions,
            history=seen.history,
            history_interval_seconds=seen.history_interval_seconds,
            funding_rates=seen.funding_rates,
            external=self.config.inputs,
            state=self._strategy_state,
        )
        decision = self.strategy.decide(view)
        markets = self.observer.markets
        mapping = map_to_legs(
            decision,
            seen.holdings,
            {m.base for m in markets.values()},
            self.observer.proxies,
            self.config.hedge.quote,
            rules=self.observer.baskets,
            history=seen.history,
            volumes=seen.volumes,
            picks=self._proxy_picks,
        )
        self._proxy_picks = mapping.picks
        risk = self.config.risk
        guarded = cap_targets(
            mapping.targets, view.total_value, risk.max_total_notional, risk.max_hedge_ratio
        )
        prices = {s: q.mark_or_last for s, q in seen.quotes.items() if ":" in s}
        plans = plan_rebalance(
            rebalance_id,
            guarded.targets,
            with_resting(seen.positions, resting or {}),
            prices,
            markets,
            self.config.hedge.deadband,
        )
        steps = {s: m.amount_step for s, m in markets.items()}
        plans, clipped = cap_order_size(plans, risk.max_order_notional, steps)
        plans, churn = cap_turnover(plans, turnover_used, risk.max_daily_turnover, steps)
        plans, unfunded = fit_to_margin(plans, seen.collateral, risk.leverage, markets)
        plans = [hold_blocked(p, (blocked or {}).get(p.symbol)) for p in plans]
        notes = [*mapping.unhedged, *guarded.notes, *clipped, *churn, *unfunded]
        notes += self._effectiveness(seen, mapping.picks)
        return Decided(decision, guarded.targets, plans, notes)

    def _effectiveness(self, seen: Observation, picks: Mapping[str, str]) -> list[str]:
        """Return one line per proxied holding: the share of its worst falls its basket took back.

        From the closes this cycle read and the baskets it chose (no extra request).
        """
        universe = Universe(
            {m.base for m in self.observer.markets.values()},
            self.observer.proxies,
            self.observer.baskets,
            seen.history,
            seen.volumes,
            picks,
        )
        assets = [h.asset for h in seen.holdings]
        estimates = proxy_effectiveness(assets, universe, seen.history_interval_seconds)
        return [describe(estimate) for estimate in estimates]

    def commit(self, decision: HedgeDecision) -> None:
        """Keep ``decision``'s strategy state for the next decision (a cycle acted on it)."""
        self._strategy_state = decision.state
