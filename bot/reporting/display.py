"""Plain-text tables and summaries for the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from bot.core.planner import LegAction
from bot.runtime.engine import CycleReport


def money(value: Decimal | None, places: int = 2) -> str:
    """Format money with thousands separators; a dash for None."""
    return "-" if value is None else f"{value:,.{places}f}"


def signed(value: Decimal, places: int = 2) -> str:
    """Format money with an explicit sign."""
    return f"{value:+,.{places}f}"


def percent(value: Decimal | None, places: int = 1) -> str:
    """Format a fraction as a percentage."""
    return "-" if value is None else f"{value * 100:.{places}f}%"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Return an aligned text table; numbers are right-aligned."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        out = []
        for cell, width in zip(cells, widths, strict=True):
            numeric = cell[:1].isdigit() or (cell[:1] in "+-" and cell[1:2].isdigit())
            out.append(cell.rjust(width) if numeric else cell.ljust(width))
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def plan_table(report: CycleReport) -> str:
    """Render the legs of a cycle: target, current, action, amount and why."""
    rows = []
    for plan in report.plans:
        amount = "" if plan.action in (LegAction.HOLD, LegAction.SKIP) else f"{plan.amount}"
        rows.append(
            [
                plan.symbol,
                money(plan.price, 4) if plan.price is not None else "-",
                money(plan.target_notional),
                money(plan.current_notional),
                plan.action.value,
                amount,
                "yes" if plan.intent is not None and plan.intent.reduce_only else "",
                plan.reason,
            ]
        )
    headers = [
        "leg",
        "mark",
        "target short",
        "current short",
        "action",
        "contracts",
        "reduce-only",
        "why",
    ]
    return table(headers, rows)


def holdings_table(report: CycleReport) -> str:
    """Render the insured holdings at the cycle's prices."""
    rows = [
        [h.asset, f"{h.amount.normalize():f}", money(h.price, 4), money(h.value)]
        for h in report.observation.holdings
    ]
    rows.append(["total", "", "", money(report.spot_value)])
    return table(["asset", "amount", "price", "value"], rows)


def cycle_line(report: CycleReport, total_pnl: Decimal | None = None) -> str:
    """Return a one-line progress summary of a cycle."""
    hedged = sum((p.target_notional for p in report.plans), Decimal(0))
    orders = sum(1 for e in report.executions if e.result is not None)
    extra = f" hedge P&L {signed(total_pnl)}" if total_pnl is not None else ""
    return (
        f"{report.time:%Y-%m-%d %H:%M} {report.status:<8} spot {money(report.spot_value)} "
        f"target short {money(hedged)} orders {orders} funding +{report.new_funding}{extra}"
    )
