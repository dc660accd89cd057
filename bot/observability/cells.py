"""The text of a status figure, one function per kind of row, shared by the terminal and the page.

`hedgebot status` prints these cells in its tables and the status page shows the very same
strings (`bot.observability.views`), so the two agree to the cent by construction.
"""

from __future__ import annotations

from bot.journal.records import JournalTotals
from bot.observability.model import Holding, LegStatus
from bot.reporting.display import money, percent, signed
from bot.reporting.insurance import MIN_YEARLY_DAYS, InsuranceReport, LegCost

TOO_SHORT = f"n/a (<{MIN_YEARLY_DAYS} day)"
"""The yearly cost of a period too short to annualise."""


def leg_cells(leg: LegStatus) -> dict[str, str]:
    """Return a leg's cells by field, in the order of `hedgebot status`'s columns."""
    return {
        "symbol": leg.symbol,
        "contracts": f"{leg.contracts.normalize():f}",
        "mark": money(leg.mark, 4),
        "short_notional": money(leg.short_notional),
        "target_notional": money(leg.target_notional),
        "hedge_ratio": percent(leg.hedge_ratio),
        "liquidation_price": money(leg.liquidation_price, 4),
        "distance": percent(leg.distance),
        "required": percent(leg.required),
        "margin": money(leg.margin),
        "leverage": f"{leg.leverage}x",
    }


def holding_cells(holding: Holding) -> dict[str, str]:
    """Return a holding's cells: asset, amount as journaled, price, value."""
    return {
        "asset": holding.asset,
        "amount": str(holding.amount),
        "price": money(holding.price, 4),
        "value": money(holding.value),
    }


def totals_cells(totals: JournalTotals) -> dict[str, str]:
    """Return the running costs `hedgebot status` prints under the legs."""
    return {
        "fees": money(totals.fees),
        "funding_received": money(totals.funding_received),
        "funding_paid": money(totals.funding_paid),
        "funding_net": signed(totals.funding_net),
        "realized_pnl": signed(totals.realized_pnl),
    }


def yearly_cost(report: InsuranceReport, leg: LegCost, places: int = 2) -> str:
    """Return the leg's carry cost per year as a percentage, or why there is none."""
    if report.too_short_to_annualise:
        return TOO_SHORT
    return percent(report.cost_per_year(leg), places)


def cost_cells(report: InsuranceReport, leg: LegCost) -> dict[str, str]:
    """Return a row of the cost-of-insurance table, as `hedgebot report` prints it."""
    return {
        "symbol": leg.symbol,
        "protected": money(leg.protected_value),
        "fees": money(leg.fees),
        "funding_received": money(leg.funding_received),
        "funding_paid": money(leg.funding_paid),
        "carry_cost": money(leg.carry_cost),
        "cost_per_year": yearly_cost(report, leg),
        "realized": signed(leg.realized_pnl),
        "unrealized": signed(leg.unrealized_pnl),
        "net": signed(leg.net),
    }


def carry_cells(report: InsuranceReport) -> dict[str, str]:
    """Return the carry line of `hedgebot status`: cost, per year, protected value, hedge net."""
    total = report.total
    return {
        "carry_cost": signed(total.carry_cost),
        "per_year": yearly_cost(report, total),
        "protected": money(total.protected_value),
        "net": signed(total.net),
    }
