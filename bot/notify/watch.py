"""Following the journal: the alerts its new events and rebalance rows call for, and the digest.

After each cycle `JournalWatch.new_alerts` reads the latest events of the venue (and the kill
switch's, which `hedgebot halt` journals without one) and the latest rebalances, and returns an
alert for each row not seen before; `prime` marks what was there at start as seen, so a restart
does not repeat history. The digest is due once per UTC day from ``digest_hour`` on; a
``notify_digest`` event in the journal says it went out, so a restart does not send it twice.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from bot.core.domain import PositionSide
from bot.journal.records import EventRecord, RebalanceRecord
from bot.journal.store import Journal
from bot.margin.binance import liquidation_distance
from bot.notify.alerts import (
    Alert,
    Digest,
    LegLine,
    alert_for_event,
    alert_for_rebalance,
    digest_alert,
    is_stale,
    stale_alert,
)

WINDOW = 200
"""Latest rows read per look: more than any cycle journals."""
DIGEST_EVENT = "notify_digest"


def _event_id(event: EventRecord) -> tuple[str, str, str, str | None]:
    return event.kind, event.time.isoformat(), event.message, event.venue


class JournalWatch:
    """The alerts of one venue's journal rows since the last look (each row once)."""

    def __init__(
        self,
        journal: Journal,
        venue: str,
        stale_cycles: int,
        digest_hour: int | None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """Follow ``venue`` in ``journal``; ``now`` (wall clock) times the digest."""
        self.journal = journal
        self.venue = venue
        self.stale_cycles = stale_cycles
        self.digest_hour = digest_hour
        self.now = now
        self._events: set[tuple[str, str, str, str | None]] = set()
        self._rebalances: set[tuple[str, str]] = set()
        self._stale_seen: set[str] = set()
        self._stale_run = 0

    def _read(self) -> tuple[list[EventRecord], list[RebalanceRecord]]:
        events = self.journal.events(WINDOW, venue=self.venue)
        events += self.journal.events(WINDOW, kind="kill_switch")
        return events, self.journal.rebalances(WINDOW, venue=self.venue)

    def prime(self) -> None:
        """Take every row in the journal now as already told."""
        events, rebalances = self._read()
        self._events = {_event_id(e) for e in events}
        self._rebalances = {(r.id, r.status.value) for r in rebalances}
        self._stale_seen = {r.id for r in rebalances}

    def new_alerts(self) -> list[Alert]:
        """Return the alerts of the rows journaled since the last look, oldest first."""
        events, rebalances = self._read()
        alerts = []
        for event in events:
            if _event_id(event) not in self._events:
                alert = alert_for_event(event)
                if alert is not None and event.venue in (None, self.venue):
                    alerts.append(alert)
        for row in rebalances:
            if (row.id, row.status.value) not in self._rebalances:
                alert = alert_for_rebalance(row)
                if alert is not None:
                    alerts.append(alert)
            if row.id not in self._stale_seen:
                self._stale_run = self._stale_run + 1 if is_stale(row) else 0
                if self._stale_run == self.stale_cycles:
                    alerts.append(stale_alert(row, self._stale_run))
        self._events = {_event_id(e) for e in events}
        self._rebalances = {(r.id, r.status.value) for r in rebalances}
        self._stale_seen = {r.id for r in rebalances}
        return alerts

    def digest_due(self) -> Alert | None:
        """Return today's digest when it is due and not yet sent; journal that it is sent."""
        now = self.now()
        if self.digest_hour is None or now.hour < self.digest_hour:
            return None
        last = self.journal.events(1, kind=DIGEST_EVENT, venue=self.venue)
        if last and last[-1].time.date() == now.date():
            return None
        alert = digest_alert(build_digest(self.journal, self.venue, now))
        self.journal.record_event(
            DIGEST_EVENT, now, alert.title, {"day": f"{now:%Y-%m-%d}"}, venue=self.venue
        )
        return alert


def build_digest(journal: Journal, venue: str, now: datetime) -> Digest:
    """Return the digest's figures from the journal: legs as last seen, costs so far."""
    legs = []
    for snap in journal.latest_snapshots(venue):
        if snap.contracts == 0 or snap.mark_price <= 0:
            continue
        side = PositionSide.SHORT if snap.contracts < 0 else PositionSide.LONG
        hedged = snap.hedged_value or None
        legs.append(
            LegLine(
                snap.symbol,
                -snap.contracts * snap.mark_price / hedged if hedged else None,
                snap.target_notional / hedged if hedged and snap.target_notional else None,
                liquidation_distance(side, snap.mark_price, snap.liquidation_price),
            )
        )
    totals = journal.totals(venue=venue)
    carry = totals.fees + totals.funding_paid - totals.funding_received
    return Digest(
        venue,
        now,
        tuple(legs),
        carry,
        totals.fees,
        totals.funding_received,
        totals.funding_paid,
    )
