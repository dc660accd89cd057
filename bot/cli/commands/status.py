"""`hedgebot status` and `hedgebot journal`: what the journal says about the hedge."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from bot.cli.session import open_session
from bot.core.errors import ConfigError, HedgebotError, NothingToShow
from bot.journal.lease import LeaseInfo
from bot.journal.records import EventRecord
from bot.journal.store import Journal
from bot.observability.cells import leg_cells, yearly_cost
from bot.observability.model import leg_statuses
from bot.observability.state import journal_state
from bot.reporting.display import Tone, money, paint, signed, status_tone, table
from bot.reporting.insurance import insurance_report
from bot.runtime.kill_switch import kill_switch_for
from bot.settings.config import Config
from bot.venue.base import Venue

RANK_TIMEOUT = 20.0
"""Seconds `hedgebot status` waits for the exchange's ADL ranks before calling them unknown."""


@dataclass(frozen=True, slots=True)
class AdlRanks:
    """The legs' auto-deleveraging ranks as the exchange tells them now.

    ``ranks``: symbol → rank (None: the exchange ranks it not); ``unknown``: why there are no
    ranks at all (the call refused, another account configured), else None.
    """

    warn_rank: int
    ranks: Mapping[str, int | None] = field(default_factory=dict)
    unknown: str | None = None

    def cell(self, symbol: str) -> str:
        """Return the rank of ``symbol`` for the table, marked ``!`` at the warning rank."""
        if self.unknown is not None:
            return "unknown"
        rank = self.ranks.get(symbol)
        if rank is None:
            return "—"
        return f"{rank} !" if rank >= self.warn_rank else str(rank)

    def warned(self) -> list[str]:
        """Return the legs at or above the warning rank."""
        return sorted(s for s, r in self.ranks.items() if r is not None and r >= self.warn_rank)


async def ranks_of(venue: Venue, symbols: Sequence[str], warn_rank: int) -> AdlRanks:
    """Ask ``venue`` for the ADL ranks of ``symbols``; a refusal or no answer is "unknown"."""
    if not symbols:
        return AdlRanks(warn_rank)
    try:
        ranks = await asyncio.wait_for(venue.fetch_adl_ranks(symbols), RANK_TIMEOUT)
    except (HedgebotError, TimeoutError) as error:
        return AdlRanks(warn_rank, unknown=f"{venue.name} did not tell them ({error or 'timeout'})")
    return AdlRanks(warn_rank, ranks)


async def read_adl_ranks(config: Config, venue: str, symbols: Sequence[str]) -> AdlRanks:
    """Return the ADL ranks of the journal's ``venue`` from the configured exchange account.

    A paper venue never deleverages (no ranks); a journal venue that is not the configured
    account, or an exchange that cannot be reached or refuses, leaves the ranks unknown.
    """
    warn = config.risk.adl_warn_rank
    if config.is_paper:
        return AdlRanks(warn, dict.fromkeys(symbols))
    try:
        session = open_session(config, None)
    except HedgebotError as error:
        return AdlRanks(warn, unknown=f"cannot reach the exchange ({error})")
    try:
        if session.venue.name != venue:
            configured = session.venue.name
            return AdlRanks(warn, unknown=f"the configured account is {configured}, not {venue}")
        return await ranks_of(session.venue, symbols, warn)
    finally:
        await session.venue.close()


def latest_venue(journal: Journal) -> str | None:
    """Return the venue (session) written last, or None for an empty journal."""
    return journal.latest_venue()


SHOWN_VENUES = 8
"""An unknown ``--venue`` lists at most this many of the journal's venues."""


def known_venues(journal: Journal) -> list[str]:
    """Return the venues (sessions) the journal has rebalances of, the latest first."""
    seen: dict[str, None] = {}
    for record in reversed(journal.rebalances()):
        seen.setdefault(record.venue)
    return list(seen)


def resolve_venue(journal: Journal, venue: str | None, where: str) -> str:
    """Return ``venue`` (default: the latest) if the journal ``where`` has it.

    An empty journal raises `NothingToShow`; a venue it does not have raises `ConfigError`
    listing the ones it has.
    """
    latest = latest_venue(journal)
    if latest is None:
        raise NothingToShow(
            f"the journal {where} is empty: run `hedgebot run` or `hedgebot rebalance` first "
            "(or point --journal at the journal they wrote)"
        )
    if venue is None or journal.rebalances(1, venue=venue):
        return venue or latest
    venues = known_venues(journal)
    shown = ", ".join(venues[:SHOWN_VENUES])
    more = f" and {len(venues) - SHOWN_VENUES} more" if len(venues) > SHOWN_VENUES else ""
    raise ConfigError(
        f"--venue {venue}: no such venue in the journal {where}; it has {shown}{more} "
        f"(leave --venue out for the latest, {latest})"
    )


def session_span(journal: Journal, venue: str) -> str:
    """Return `` (venue V covers A → B)`` from its rebalances, or "" when it has none."""
    records = journal.rebalances(venue=venue)
    if not records:
        return ""
    first, last = records[0].time, records[-1].time
    return f" (venue {venue} covers {first:%Y-%m-%d %H:%M} → {last:%Y-%m-%d %H:%M} UTC)"


@dataclass(frozen=True, slots=True)
class LegBands:
    """When a leg is on target (gap within ``deadband`` × target) or near liquidation."""

    deadband: Decimal
    warning: Decimal

    @classmethod
    def of(cls, config: Config) -> LegBands:
        """Return the bands ``config`` trades by: hedge.deadband, risk.liquidation_warning."""
        return cls(config.hedge.deadband, config.risk.liquidation_warning)

    def tone(self, short: Decimal, target: Decimal | None, distance: Decimal | None) -> Tone | None:
        """Return a leg's tone: near liquidation (at or below the warning), on or off target."""
        if distance is not None and distance <= self.warning:
            return Tone.BAD
        if target is None:
            return None
        return Tone.GOOD if abs(short - target) <= self.deadband * target else Tone.WARN


@dataclass(frozen=True, slots=True)
class LeaseState:
    """The account's lease row (None: there is none) as read at ``now``."""

    info: LeaseInfo | None
    now: datetime

    def line(self) -> str:
        """Say who holds the lease, since when and how fresh its heartbeat is; or that none does."""
        info = self.info
        if info is None:
            return "lease: no bot holds the lease"
        heartbeat = _age((self.now - info.heartbeat_at).total_seconds())
        if info.expires_at <= self.now:
            return (
                f"lease: no bot holds the lease ({info.holder}'s expired "
                f"{info.expires_at:%Y-%m-%d %H:%M:%S} UTC, last heartbeat {heartbeat} ago)"
            )
        if not info.live_at(self.now):
            return (
                f"lease: no bot holds the lease ({info.holder}'s process is gone, last heartbeat "
                f"{heartbeat} ago; the next `hedgebot run` takes over at once)"
            )
        return (
            f"lease: held by {info.holder} since {info.acquired_at:%Y-%m-%d %H:%M:%S} UTC, "
            f"last heartbeat {heartbeat} ago"
        )


def read_lease(journal: Journal, venue: str) -> LeaseState:
    """Read the lease on ``venue`` (the account's key) without taking it."""
    return LeaseState(journal.lease(venue).current(), datetime.now(UTC))


def read_kill_switch(journal: Journal, venue: str, config: Config, config_file: str) -> str:
    """Return the kill switch's line for ``venue``, read as the status page reads it."""
    state = journal_state(journal, kill_switch_for(config))(venue)
    return paint(state.switch_line(config_file), Tone.BAD if state.halted else None)


def _age(seconds: float) -> str:
    whole = max(0, int(seconds))
    if whole < 120:
        return f"{whole} s"
    if whole < 7200:
        return f"{whole // 60} min"
    if whole < 2 * 86400:
        return f"{whole // 3600} h"
    return f"{whole // 86400} days"


def show_status(
    journal: Journal,
    venue: str | None,
    ranks: AdlRanks | None = None,
    bands: LegBands | None = None,
    lease: LeaseState | None = None,
    switch: str | None = None,
) -> str:
    """Render the lease, kill switch, holdings, legs (hedge, liquidation, ADL rank) and costs.

    Without ``ranks`` (not asked) the ADL column says "unknown"; with ``bands`` each leg is
    coloured on a terminal (on target, off target, near liquidation); without ``lease`` the
    lease is not said, without ``switch`` (`read_kill_switch`'s line) the kill switch.
    """
    venue = venue or latest_venue(journal)
    if venue is None:
        return "the journal is empty: run `hedgebot run` or `hedgebot rebalance` first"
    rebalances = journal.rebalances(1, venue=venue)
    lines = [f"venue {venue}"]
    if lease is not None:
        lines.append(lease.line())
    if switch is not None:
        lines.append(switch)
    if rebalances:
        last = rebalances[-1]
        lines.append(
            f"last rebalance {last.id} at {last.time:%Y-%m-%d %H:%M} UTC: "
            f"{paint(last.status, status_tone(last.status))} — {last.reason}"
        )
        # its notes: unhedged holdings, limits, each proxy's effectiveness (journaled "; "-joined)
        lines += [f"note: {note}" for note in (last.note or "").split("; ") if note]
        holdings = last.inputs.get("holdings", {})
        rows = [
            [asset, h["amount"], money(Decimal(h["price"]), 4), money(Decimal(h["value"]))]
            for asset, h in holdings.items()
        ]
        lines += ["", table(["asset", "amount", "price", "value"], rows)]
    policy = journal.events(1, kind="margin_policy", venue=venue)
    rows = []
    tones: list[Tone | None] = []
    for leg in leg_statuses(journal, venue):  # the figures the status page shows too
        tones.append(
            bands.tone(leg.short_notional, leg.target_notional, leg.distance) if bands else None
        )
        rank = ranks.cell(leg.symbol) if ranks is not None else "unknown"
        rows.append([*leg_cells(leg).values(), rank])
    headers = [
        "leg",
        "contracts",
        "mark",
        "short notional",
        "target",
        "hedge ratio",
        "liq. price",
        "liq. distance",
        "required",
        "margin",
        "lev",
        "ADL rank",
    ]
    lines += ["", table(headers, rows, tones), *_rank_notes(ranks), *policy_lines(policy)]
    totals = journal.totals(venue=venue)
    lines += [
        "",
        f"fees paid         {money(totals.fees)}",
        f"funding received  {money(totals.funding_received)} / paid {money(totals.funding_paid)}"
        f" (net {signed(totals.funding_net)}, {totals.funding_payments} payments)",
        f"realized P&L      {signed(totals.realized_pnl)} over {totals.fills} fills, "
        f"{totals.liquidation_count} liquidations, {totals.adl_count} ADL",
    ]
    if totals.fills or totals.funding_payments:
        cost = insurance_report(journal, venue)
        lines.append(
            f"carry cost        {signed(cost.total.carry_cost)} "
            f"({yearly_cost(cost, cost.total)}/yr of {money(cost.total.protected_value)} "
            "protected); "
            f"hedge net {signed(cost.total.net)} — `hedgebot report` for the breakdown"
        )
    return "\n".join(lines)


def policy_lines(events: Sequence[EventRecord]) -> list[str]:
    """Return the lines on the margin guard's jump policy from its latest journaled event.

    Each short's required distance (the ``required`` column), where it comes from, and whether
    the free collateral reaches it; a leg it cannot reach is marked ``!``.
    """
    if not events:
        return []
    event = events[-1]
    free = money(Decimal(event.data["collateral"]))
    lines = [
        "",
        f"margin policy: jump history, as of {event.time:%Y-%m-%d %H:%M} UTC "
        f"({free} collateral free)",
    ]
    for leg in event.data["legs"]:
        lines.append(f"{'  ' if leg['reachable'] else '! '}{leg['note']}")
    return lines


def _rank_notes(ranks: AdlRanks | None) -> list[str]:
    """Return the lines under the legs' table that explain the ADL column."""
    if ranks is None:
        return []
    if ranks.unknown is not None:
        return [f"ADL ranks unknown: {ranks.unknown}"]
    warned = ranks.warned()
    if not warned:
        return []
    return [
        f"! ADL rank at or above risk.adl_warn_rank ({ranks.warn_rank}): {', '.join(warned)} "
        "would be among the first shorts the exchange closes in a crash"
    ]


_COLUMNS = {
    "fills": [
        "timestamp",
        "symbol",
        "side",
        "amount",
        "price",
        "fee",
        "realized_pnl",
        "forced",
        "client_order_id",
    ],
    "funding": ["timestamp", "symbol", "rate", "position_contracts", "amount"],
    "rebalances": ["time", "id", "status", "strategy", "reason"],
    "orders": [
        "created_at",
        "client_order_id",
        "symbol",
        "side",
        "amount",
        "reduce_only",
        "status",
        "filled",
        "average_price",
        "reason",
    ],
}


def journal_table(what: str, rows: Sequence[dict[str, Any]]) -> str:
    """Render journal rows of one kind as a table."""
    columns = _COLUMNS[what]
    body = [[_cell(row.get(c)) for c in columns] for row in rows]
    tones = [status_tone(str(row.get("status"))) if what == "rebalances" else None for row in rows]
    return table(columns, body, tones) + f"\n{len(rows)} row(s)"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    return text if len(text) <= 70 else text[:67] + "..."
