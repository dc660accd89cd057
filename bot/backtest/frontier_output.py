"""The frontier as tables and verdict lines for a terminal, and as JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bot.backtest.frontier import Frontier, Measure, PeriodShare, Point, Verdict
from bot.reporting.display import table
from bot.runtime.private_files import write_private

HEADERS = (
    "run",
    "crash loss removed",
    "calm upside given up",
    "removed per unit given up",
    "static line at that cost",
    "margin",
)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _per_period(frontier: Frontier) -> str:
    """Return one row per period: its kind and split, the spot's move, each run's share."""
    runs = {**{k: s for k, (_, s) in frontier.static.items()}, **frontier.compared}
    by_run = {label: {s.period: s for s in shares} for label, shares in runs.items()}
    rows = []
    for window, kind in frontier.periods:
        cells = [by_run[label].get(window.name) for label in runs]
        move = next((c.move for c in cells if c is not None), None)
        shares = [_pct(c.share) if c else "-" for c in cells]
        rows.append([window.name, f"{kind} ({window.split})", _pct(move), *shares])
    return table(["period", "kind", "spot move", *runs], rows)


def _summary(statics: Sequence[Point], judged: Sequence[tuple[Point, Verdict | None]]) -> str:
    rows = [
        [p.label, _pct(p.benefit), _pct(p.cost), _ratio(p.efficiency), "-", "(the line)"]
        for p in statics
    ]
    rows += [
        [
            p.label,
            _pct(p.benefit),
            _pct(p.cost),
            _ratio(p.efficiency),
            _pct(v.line_benefit) if v else "-",
            f"{v.margin * 100:+.1f} pts" if v else "-",
        ]
        for p, v in judged
    ]
    return table(list(HEADERS), rows)


def _judged(frontier: Frontier, measure: Measure) -> list[tuple[Point, Verdict | None]]:
    return list(zip(frontier.points(measure), frontier.verdicts(measure), strict=True))


def _said(item: Point, found: Verdict | None) -> str:
    if found is None:
        return f"{item.label}: not measured (no crash window lost, or no calm period rose)"
    return found.text


def _where(found: Verdict | None) -> str:
    if found is None:
        return "not measured"
    if found.idle:
        return "no insurance"
    side = "above" if found.above else "on or below"
    return f"{side} the line weighted alike ({found.margin * 100:+.1f} pts)"


def render_frontier(frontier: Frontier) -> str:
    """Return the share per period, the frontier table, one verdict per strategy, the check."""
    weighted = [
        f"  {p.label}: removed {_pct(p.benefit)}, gave up {_pct(p.cost)}: {_where(v)}"
        for p, v in _judged(frontier, "weighted")
    ]
    return "\n".join(
        [
            "share per period (crash: loss removed; calm: upside given up)",
            _per_period(frontier),
            "",
            "frontier (means over the periods above)",
            _summary(frontier.statics(), _judged(frontier, "mean")),
            "",
            *(f"verdict: {_said(p, v)}" for p, v in _judged(frontier, "mean")),
            "check, each period weighted by its spot move (a shallow window counts for less):",
            *weighted,
        ]
    )


def _shares(shares: Sequence[PeriodShare]) -> list[dict[str, Any]]:
    return [{**asdict(s), "share": s.share, "move": s.move} for s in shares]


def _measured(frontier: Frontier, measure: Measure) -> dict[str, Any]:
    return {
        "line": [asdict(p) for p in frontier.line(measure).points],
        "strategies": [
            {
                **asdict(p),
                "efficiency": p.efficiency,
                "verdict": None
                if v is None
                else {
                    "margin": v.margin,
                    "line_benefit": v.line_benefit,
                    "above": v.above,
                    "extended": v.extended,
                    "static_ratio": v.static_ratio,
                    "static_cost": v.static_cost,
                    "text": v.text,
                },
            }
            for p, v in _judged(frontier, measure)
        ],
    }


def document(frontier: Frontier, about: Mapping[str, Any]) -> dict[str, Any]:
    """Return the frontier as a JSON-ready document: periods, runs' shares, points, verdicts."""
    return {
        **about,
        "periods": [
            {
                "name": w.name,
                "kind": kind,
                "split": w.split,
                "start": w.start.isoformat(),
                "end": w.end.isoformat(),
            }
            for w, kind in frontier.periods
        ],
        "static": [
            {"label": label, "ratio": ratio, "shares": _shares(shares)}
            for label, (ratio, shares) in frontier.static.items()
        ],
        "compared": [
            {"label": label, "shares": _shares(shares)}
            for label, shares in frontier.compared.items()
        ],
        "mean": _measured(frontier, "mean"),
        "weighted": _measured(frontier, "weighted"),
    }


def write_frontier(path: Path, frontier: Frontier, about: Mapping[str, Any]) -> Path:
    """Write the frontier document as JSON to ``path``; return the path."""
    write_private(path, json.dumps(document(frontier, about), indent=2) + "\n")
    return path
