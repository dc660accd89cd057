"""Tables and lines for the terminal, through rich: coloured on a terminal, plain text elsewhere.

Colour carries meaning only (`Tone`): a leg on target, off target, near liquidation; a halted or
failed cycle. Plain mode (`bot.reporting.terminal`: stdout not a terminal, ``NO_COLOR``,
``--no-color``) has no escape codes and no box drawing: columns two spaces apart under a rule of
dashes, numbers right-aligned, so ``grep`` and copy-paste work.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from decimal import Decimal
from enum import StrEnum

from rich import box
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from bot.core.planner import LegAction
from bot.journal.records import RebalanceStatus
from bot.reporting.terminal import color_enabled, console
from bot.runtime.engine import CycleReport


class Tone(StrEnum):
    """What a row or a word means, and so its colour on a terminal."""

    GOOD = "green"  # on target
    WARN = "yellow"  # off target, skipped, partly done
    BAD = "bold red"  # near liquidation, halted, failed
    STRONG = "bold"  # a total


PLAIN_RULE = box.Box("    \n    \n -  \n    \n    \n    \n    \n    \n")
"""No edges, no column lines: only a rule of dashes under the headers."""
PLACEHOLDERS = frozenset({"", "-", "—"})
"""Cells that say "nothing here": aligned like the numbers of their column."""


def _render(renderable: RenderableType) -> str:
    """Return ``renderable`` as text in the terminal's mode, trailing spaces removed."""
    buffer = io.StringIO()
    console(buffer).print(renderable)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines())


def paint(text: str, tone: Tone | None) -> str:
    """Return ``text`` in ``tone``'s colour on a terminal; as it is in plain mode."""
    if tone is None or not color_enabled():
        return text
    return _render(Text(text, style=tone.value, end=""))


def _numeric(cell: str) -> bool:
    return cell[:1].isdigit() or (cell[:1] in "+-" and cell[1:2].isdigit())


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    tones: Sequence[Tone | None] | None = None,
) -> str:
    """Return an aligned table; numbers are right-aligned; ``tones``: one per row, or None.

    A column of numbers (and placeholders) is right-aligned, header included; in a column of
    words a number still sits right.
    """
    for number, row in enumerate(rows):
        if len(row) != len(headers):
            raise ValueError(f"row {number} has {len(row)} cells for {len(headers)} headers")
    color = color_enabled()
    grid = Table(
        box=box.SIMPLE_HEAD if color else PLAIN_RULE,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1, 0, 0),
        header_style=Tone.STRONG.value if color else "",
    )
    for index, header in enumerate(headers):
        cells = [row[index] for row in rows if row[index] not in PLACEHOLDERS]
        numbers = bool(cells) and all(_numeric(cell) for cell in cells)
        grid.add_column(Text(header), justify="right" if numbers else "left", no_wrap=True)
    for number, row in enumerate(rows):
        tone = tones[number] if tones is not None else None
        grid.add_row(
            *(Text(cell, justify="right") if _numeric(cell) else Text(cell) for cell in row),
            style=tone.value if tone is not None else None,
        )
    return _render(grid)


def money(value: Decimal | None, places: int = 2) -> str:
    """Format money with thousands separators; a dash for None."""
    return "-" if value is None else f"{value:,.{places}f}"


def signed(value: Decimal, places: int = 2) -> str:
    """Format money with an explicit sign."""
    return f"{value:+,.{places}f}"


def percent(value: Decimal | None, places: int = 1) -> str:
    """Format a fraction as a percentage."""
    return "-" if value is None else f"{value * 100:.{places}f}%"


def status_tone(status: str) -> Tone | None:
    """Return the tone of a cycle's status: halted and failed are bad, skipped and partial warn."""
    if status in (RebalanceStatus.HALTED, RebalanceStatus.FAILED):
        return Tone.BAD
    if status in (RebalanceStatus.SKIPPED, RebalanceStatus.PARTIAL):
        return Tone.WARN
    return None


def plan_table(report: CycleReport) -> str:
    """Render the legs of a cycle: target, current, action, amount and why.

    A leg held (inside its deadband) is on target; one to trade or that cannot be is off it.
    """
    rows = []
    tones: list[Tone | None] = []
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
        tones.append(Tone.GOOD if plan.action is LegAction.HOLD else Tone.WARN)
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
    return table(headers, rows, tones)


def holdings_table(report: CycleReport) -> str:
    """Render the insured holdings at the cycle's prices."""
    rows = [
        [h.asset, f"{h.amount.normalize():f}", money(h.price, 4), money(h.value)]
        for h in report.observation.holdings
    ]
    rows.append(["total", "", "", money(report.spot_value)])
    tones: list[Tone | None] = [None] * (len(rows) - 1) + [Tone.STRONG]
    return table(["asset", "amount", "price", "value"], rows, tones)


def cycle_line(report: CycleReport, total_pnl: Decimal | None = None) -> str:
    """Return a one-line progress summary of a cycle; a halted or failed one in its colour."""
    hedged = sum((p.target_notional for p in report.plans), Decimal(0))
    orders = sum(1 for e in report.executions if e.result is not None)
    extra = f" hedge P&L {signed(total_pnl)}" if total_pnl is not None else ""
    status = paint(f"{report.status:<8}", status_tone(report.status))
    return (
        f"{report.time:%Y-%m-%d %H:%M} {status} spot {money(report.spot_value)} "
        f"target short {money(hedged)} orders {orders} funding +{report.new_funding}{extra}"
    )
