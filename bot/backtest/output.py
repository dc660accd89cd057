"""Backtest results as a side-by-side table, as JSON and as CSV (files 0600)."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from bot.backtest.metrics import Metrics
from bot.backtest.runner import RunResult
from bot.reporting.display import table
from bot.runtime.private_files import open_private, write_private

METRICS_JSON = "metrics.json"
"""The file of an ``--out`` directory with each run's metrics and what was run (`write_json`)."""
METRICS_CSV = "metrics.csv"
"""The same metrics as a spreadsheet (`write_csv`)."""
CURVES_CSV = "curves.csv"
"""Each run's portfolio value per cycle (`write_curves`)."""


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def _loss(value: float | None) -> str:
    return "-" if value is None else f"{-value * 100:.2f}%"


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+,.2f}"


_ROWS: tuple[tuple[str, Callable[[Metrics], str]], ...] = (
    ("start value", lambda m: _money(m.start_value)),
    ("end value", lambda m: _money(m.end_value)),
    ("total return", lambda m: _pct(m.total_return)),
    ("max drawdown", lambda m: _loss(m.max_drawdown)),
    ("worst day", lambda m: _pct(m.worst_day)),
    ("volatility (ann.)", lambda m: _pct(m.volatility)),
    ("CVaR 95% (day)", lambda m: _pct(m.cvar_95)),
    ("CVaR 99% (day)", lambda m: _pct(m.cvar_99)),
    ("variance reduction", lambda m: _pct(m.variance_reduction)),
    ("hedge P&L", lambda m: _signed(m.hedge_pnl)),
    ("fees", lambda m: _money(m.fees)),
    ("funding (+ received)", lambda m: _signed(m.funding)),
    ("net cost / year", lambda m: _signed(m.net_cost_per_year)),
    ("net cost / year % spot", lambda m: _pct(m.net_cost_per_year_pct)),
    ("orders", lambda m: str(m.orders)),
    ("turnover", lambda m: _money(m.turnover)),
    ("average hedge ratio", lambda m: _pct(m.average_hedge_ratio)),
    ("margin guard actions", lambda m: str(m.guard_actions)),
    ("liquidations", lambda m: str(m.liquidations)),
)


def render_table(metrics: Sequence[Metrics]) -> str:
    """Return one column per portfolio (the unhedged baseline first), one row per metric."""
    headers = ["", *(m.label for m in metrics)]
    rows = [[name, *(show(m) for m in metrics)] for name, show in _ROWS]
    return table(headers, rows)


def write_json(path: Path, metrics: Sequence[Metrics], about: dict[str, Any]) -> None:
    """Write the period and settings (``about``) and every portfolio's metrics."""
    document = {**about, "portfolios": [asdict(m) for m in metrics]}
    write_private(path, json.dumps(document, indent=2) + "\n")


def write_csv(path: Path, metrics: Sequence[Metrics]) -> None:
    """Write one row per portfolio, one column per metric."""
    names = [f.name for f in fields(Metrics)]
    with open_private(path) as out:
        writer = csv.DictWriter(out, fieldnames=names)
        writer.writeheader()
        for item in metrics:
            writer.writerow(asdict(item))


CURVE_COLUMNS = (
    "time",
    "run",
    "spot",
    "futures_equity",
    "value",
    "unhedged",
    "short_notional",
    "fees",
    "funding",
    "turnover",
)


def write_curves(path: Path, results: Sequence[RunResult]) -> None:
    """Write every run's per-cycle values (exact decimals) in one long CSV."""
    with open_private(path) as out:
        writer = csv.writer(out)
        writer.writerow(CURVE_COLUMNS)
        for result in results:
            for p in result.points:
                writer.writerow(
                    [
                        p.time.isoformat(),
                        result.spec.label,
                        p.spot,
                        p.futures_equity,
                        p.value,
                        result.unhedged(p),
                        p.short_notional,
                        p.fees,
                        p.funding,
                        p.turnover,
                    ]
                )
