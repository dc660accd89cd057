"""`hedgebot report`, `halt` and `resume`."""

from __future__ import annotations

from datetime import datetime

from bot.core.domain import ForcedClose
from bot.journal.records import RunMode
from bot.journal.store import Journal
from bot.observability.cells import cost_cells
from bot.reporting.display import Tone, money, table
from bot.reporting.forced import ForcedLoss, total_lost
from bot.reporting.insurance import MIN_YEARLY_DAYS, InsuranceReport, insurance_report
from bot.runtime.kill_switch import KillSwitch


def _forced_row(loss: ForcedLoss) -> list[str]:
    restored = f"{loss.restored:%Y-%m-%d %H:%M}" if loss.restored else "not yet"
    return [
        f"{loss.time:%Y-%m-%d %H:%M:%S}",
        loss.symbol,
        loss.kind.value,
        f"{loss.amount.normalize():f}",
        money(loss.notional),
        restored,
        f"{loss.hours_uncovered:,.2f}",
        money(loss.protection_lost),
    ]


def render_forced(losses: tuple[ForcedLoss, ...]) -> list[str]:
    """Render what the forced closes took (ADL, liquidation), with totals; none: nothing."""
    if not losses:
        return []
    headers = [
        "time (UTC)",
        "leg",
        "forced",
        "closed",
        "notional",
        "restored",
        "hours uncovered",
        "lost (USDT·h)",
    ]
    lines = [
        "",
        "what the exchange's forced closes took",
        table(headers, [_forced_row(loss) for loss in losses]),
    ]
    for kind in ForcedClose:
        count, notional, lost = total_lost(losses, kind)
        if count:
            lines.append(
                f"{kind.value:<12} {count} event(s), {money(notional)} USDT closed, "
                f"protection lost {money(lost)} USDT·h"
            )
    lines.append(
        "protection lost = notional closed × hours until the journaled fills restored the short "
        "to its size before (or until the end of the period)"
    )
    return lines


def render_report(report: InsuranceReport) -> str:
    """Render the cost-of-insurance table and what forced closes took."""
    headers = [
        "leg",
        "protected",
        "fees",
        "funding in",
        "funding out",
        "carry cost",
        "cost/yr",
        "realized",
        "unrealized",
        "net",
    ]
    rows = [list(cost_cells(report, leg).values()) for leg in report.legs]
    rows.append(list(cost_cells(report, report.total).values()))
    tones: list[Tone | None] = [None] * len(report.legs) + [Tone.STRONG]
    days = (report.until - report.since).total_seconds() / 86400
    return "\n".join(
        [
            f"cost of insurance, venue {report.venue}",
            f"period {report.since:%Y-%m-%d %H:%M} → {report.until:%Y-%m-%d %H:%M} UTC "
            f"({days:.1f} days)",
            "",
            table(headers, rows, tones),
            "",
            "carry cost = fees + funding paid − funding received; cost/yr = carry cost ÷ average "
            f"protected spot value ÷ years (n/a under {MIN_YEARLY_DAYS} day)",
            "unrealized = change of the open P&L over the period (marked to market at its start "
            "and at its end); net = realized + unrealized − carry cost",
            *render_forced(report.forced),
        ]
    )


def show_report(
    journal: Journal,
    venue: str | None,
    since: datetime | None,
    until: datetime | None,
    now: datetime | None = None,
) -> str:
    """Build and render the report for ``venue`` (default: the session written last).

    ``now`` ends the uncovered time of a forced close not yet restored on a live venue; a paper
    replay's time is not the wall clock's, so there it ends at the last journaled time.
    """
    venue = venue or journal.latest_venue()
    if venue is None:
        return "the journal is empty: run `hedgebot run` or `hedgebot rebalance` first"
    latest = journal.rebalances(1, venue=venue)
    live = bool(latest) and latest[-1].mode is RunMode.LIVE
    return render_report(insurance_report(journal, venue, since, until, now if live else None))


def halt(switch: KillSwitch, journal: Journal, reason: str, now: datetime) -> str:
    """Turn the kill switch on and journal it."""
    switch.halt(reason, now)
    journal.record_event("kill_switch", now, f"halted: {reason}", {"path": str(switch.path)})
    return (
        f"halted: no new orders from the next cycle on ({switch.path}). "
        "`hedgebot resume` undoes it."
    )


def resume(switch: KillSwitch, journal: Journal, now: datetime) -> str:
    """Turn the kill switch off and journal it."""
    if not switch.resume():
        return f"not halted ({switch.path} does not exist)"
    journal.record_event("kill_switch", now, "resumed", {"path": str(switch.path)})
    return "resumed: orders allowed from the next cycle on."
