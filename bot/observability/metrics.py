"""The bot's Prometheus metrics, updated after each cycle, and its health.

Per leg (from the journal's latest position snapshots, as `hedgebot status` shows them): hedge
ratio and its target, distance to liquidation. Account (from the cycle's observation): equity and
free collateral. Totals (from the journal): fees and funding. This process: orders by outcome,
cycle duration, last successful cycle. Each metric lives in a registry of its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from bot.core.errors import HedgebotError
from bot.journal.records import RebalanceStatus
from bot.journal.store import Journal
from bot.margin.binance import equity_at
from bot.observability.model import leg_statuses
from bot.runtime.engine import CycleReport
from bot.settings.secrets import mask

log = logging.getLogger(__name__)

UNSUCCESSFUL = frozenset({RebalanceStatus.FAILED, RebalanceStatus.HALTED})
"""Statuses of a cycle that ran but did not keep the hedge (a skipped one waits, it succeeds)."""
STALE_INTERVALS = 2
"""Unhealthy once the last successful cycle is older than this many intervals."""
CYCLE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
"""Seconds: a paper cycle takes milliseconds, a live one a few seconds, a retried one minutes."""


@dataclass(frozen=True, slots=True)
class Health:
    """Whether the bot is keeping the hedge, and why not in one line."""

    ok: bool
    reason: str


class BotMetrics:
    """The metrics of one running bot on one venue, and the health they imply."""

    def __init__(
        self,
        journal: Journal,
        venue: str,
        interval_seconds: int,
        wall: Callable[[], float] = time.time,
        halt_said: Callable[[], str] | None = None,
    ) -> None:
        """Read ``venue``'s rows from ``journal``; ``wall`` is the clock health is judged by.

        ``halt_said`` says a halt in the health: the switch and the command that lifts it with
        the bot's config (`halted_message`); without it, the halted cycle's reason.
        """
        self.journal = journal
        self.venue = venue
        self.interval_seconds = interval_seconds
        self.wall = wall
        self.halt_said = halt_said
        self.registry = CollectorRegistry(auto_describe=True)
        self.last_success: float | None = None
        self.halted: str | None = None
        self.problem: str | None = None
        leg = ["symbol"]
        r = self.registry
        self.hedge_ratio = Gauge(
            "hedgebot_hedge_ratio", "Short notional / hedged spot value per leg", leg, registry=r
        )
        self.target_ratio = Gauge(
            "hedgebot_hedge_target_ratio", "Target notional / hedged spot value", leg, registry=r
        )
        self.liquidation = Gauge(
            "hedgebot_liquidation_distance_ratio",
            "Fraction of the mark the price must move against the leg to liquidate it",
            leg,
            registry=r,
        )
        self.equity = Gauge(
            "hedgebot_equity_usdt", "Free collateral + legs' margin and open P&L", registry=r
        )
        self.free = Gauge("hedgebot_free_collateral_usdt", "Free futures collateral", registry=r)
        self.fees = Gauge("hedgebot_fees_usdt", "Fees paid in USDT (journal total)", registry=r)
        self.funding = Gauge(
            "hedgebot_funding_net_usdt", "Funding received minus paid (journal total)", registry=r
        )
        self.orders = Counter(
            "hedgebot_orders", "Orders sent by this process, by outcome", ["outcome"], registry=r
        )
        self.cycles = Counter(
            "hedgebot_cycles", "Cycles completed by this process, by status", ["status"], registry=r
        )
        self.duration = Histogram(
            "hedgebot_cycle_duration_seconds",
            "Wall time of a cycle",
            buckets=CYCLE_BUCKETS,
            registry=r,
        )
        self.last_success_gauge = Gauge(
            "hedgebot_last_successful_cycle_timestamp_seconds",
            "Unix time of the last cycle that was neither failed nor halted",
            registry=r,
        )

    def observe(self, report: CycleReport, seconds: float | None = None) -> None:
        """Take one cycle's report (and its wall time) into the metrics and the health."""
        if seconds is not None:
            self.duration.observe(seconds)
        self.cycles.labels(report.status.value).inc()
        for execution in report.executions:
            self.orders.labels(execution.status.value).inc()
        self.halted = None
        if report.status is RebalanceStatus.HALTED:
            self.halted = self.halt_said() if self.halt_said else report.reason
        if report.status in UNSUCCESSFUL:
            self.problem = f"last cycle {report.status.value}: {report.reason}"
        else:
            self.problem = None
            self.last_success = self.wall()
            self.last_success_gauge.set(self.last_success)
        self._account(report)
        try:  # the journal's rows: a journal that cannot be read now leaves the last values
            self._legs()
            totals = self.journal.totals(venue=self.venue)
        except HedgebotError as error:
            log.warning("metrics not updated from the journal: %s", error)
            return
        self.fees.set(float(totals.fees))
        self.funding.set(float(totals.funding_net))

    def _account(self, report: CycleReport) -> None:
        seen = report.observation
        equity = seen.collateral
        for symbol, position in seen.positions.items():
            quote = seen.quotes.get(symbol)
            mark = position.mark_price or (quote.mark_or_last if quote is not None else None)
            if mark is None:
                equity += position.isolated_margin
                continue
            equity += equity_at(
                position.side,
                position.contracts,
                position.entry_price,
                position.isolated_margin,
                mark,
                position.contract_size,
            )
        self.equity.set(float(equity))
        self.free.set(float(seen.collateral))

    def _legs(self) -> None:
        """Set the per-leg gauges from the latest snapshots, as `hedgebot status` computes them."""
        for gauge in (self.hedge_ratio, self.target_ratio, self.liquidation):
            gauge.clear()
        for leg in leg_statuses(self.journal, self.venue):
            if leg.hedge_ratio is not None and leg.target_ratio is not None:
                self.hedge_ratio.labels(leg.symbol).set(float(leg.hedge_ratio))
                self.target_ratio.labels(leg.symbol).set(float(leg.target_ratio))
            if leg.distance is not None:
                self.liquidation.labels(leg.symbol).set(float(leg.distance))

    def health(self) -> Health:
        """Return unhealthy when halted, or when no cycle succeeded for `STALE_INTERVALS`."""
        health = self._health()
        return Health(health.ok, " ".join(mask(health.reason).split()))

    def _health(self) -> Health:
        if self.halted is not None:
            return Health(False, f"halted: {self.halted}")
        if self.last_success is None:
            return Health(False, self.problem or "no successful cycle yet")
        age = self.wall() - self.last_success
        limit = STALE_INTERVALS * self.interval_seconds
        if age > limit:
            why = f"; {self.problem}" if self.problem else ""
            return Health(False, f"last successful cycle {age:.0f} s ago (limit {limit} s){why}")
        return Health(True, f"ok: last successful cycle {age:.0f} s ago")
