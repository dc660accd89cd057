"""`hedgebot stress`: what named, historical and custom shocks would do to today's hedge.

The portfolio is read the way `hedgebot rebalance --dry-run` reads it (`Observer`: holdings,
marks, positions, free collateral; a paper config opens its paper account at the replay start).
When no leg is open the hedge stressed is the one the strategy would open now (`Decider`): entry at
today's mark, margin at `risk.leverage`, fees left out. The arithmetic is `bot.reporting.stress`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.backtest.windows import WINDOWS
from bot.cli.session import Session, check_access, open_session
from bot.core.clock import to_ms
from bot.core.domain import ZERO, Position, Side
from bot.core.errors import ConfigError
from bot.journal.records import to_jsonable
from bot.margin.plan import GuardKind
from bot.market.history import available_assets, find_data_dir, load_history
from bot.reporting.display import money, percent, signed, table
from bot.reporting.stress import (
    NAMED,
    Book,
    Guard,
    Leg,
    LegOutcome,
    Outcome,
    Scenario,
    apply,
    custom_scenario,
    planned_position,
    worst_day,
)
from bot.runtime.decide import Decider
from bot.runtime.observe import Observer
from bot.settings.config import Config

NO_HISTORY = (
    "historical crash days need market history: pass --data-dir DIR (e.g. ../shared/data) or "
    "set $HEDGEBOT_DATA_DIR; left out"
)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The book to stress, where it was read, when, and what to say about it."""

    book: Book
    label: str
    time: datetime
    notes: tuple[str, ...]


async def read_book(config: Config, data_dir: str | None) -> Snapshot:
    """Read holdings, legs, marks and free collateral from the configured venue."""
    session = open_session(config, data_dir)
    try:
        await check_access(session)
        return await observe_book(config, session)
    finally:
        await session.venue.close()


async def observe_book(config: Config, session: Session) -> Snapshot:
    """Return the book ``session``'s venue shows: open legs, else the ones the strategy plans."""
    venue = session.venue
    observer = Observer(config, venue, session.clock, session.strategy.needs, set)
    seen = await observer.observe()
    notes = list(session.notes)
    if seen.stale:
        notes.append("stale or missing prices: " + "; ".join(seen.stale))
    marks = {s: q.mark_or_last for s, q in seen.quotes.items() if ":" in s}
    positions: dict[str, Position] = {
        s: p for s, p in seen.positions.items() if p.contracts > 0 and s in marks
    }
    free = seen.collateral
    planned = not positions
    if planned:
        decided = Decider(config, session.strategy, observer).decide("stress", seen, ZERO)
        for plan in decided.plans:
            intent = plan.intent
            if intent is None or intent.side is not Side.SELL or plan.symbol not in marks:
                continue
            size = observer.markets[plan.symbol].contract_size
            mark = marks[plan.symbol]
            position = planned_position(
                plan.symbol, intent.amount, mark, config.risk.leverage, size
            )
            positions[plan.symbol] = position
            free -= position.isolated_margin
        notes += decided.notes
    brackets = await venue.fetch_brackets(sorted(positions))
    legs = tuple(
        Leg(observer.markets[s].base, p, marks[s], observer.markets[s], tuple(brackets[s]))
        for s, p in sorted(positions.items())
    )
    risk = config.risk
    guard = Guard(
        risk.margin_guard,
        risk.liquidation_warning,
        risk.liquidation_target,
        risk.liquidation_critical,
    )
    book = Book(
        tuple(seen.holdings), legs, max(free, ZERO), venue.liquidation_method, guard, planned
    )
    return Snapshot(book, session.label, seen.time, tuple(notes))


def history_scenarios(
    config: Config, data_dir: str | None, book: Book
) -> tuple[list[Scenario], list[str]]:
    """Return each crash window's worst day for today's holdings, and notes; none without data."""
    if data_dir:
        directory = find_data_dir(data_dir)
    else:
        directory = find_data_dir(config.paper.data_dir, "paper.data_dir")
    if directory is None:
        return [], [NO_HISTORY]
    quote = config.hedge.quote
    available = set(available_assets(directory, quote))
    wanted = {h.asset for h in book.holdings} | {leg.asset for leg in book.legs}
    assets = sorted(wanted & available)
    notes = []
    if wanted - available:
        missing = ", ".join(sorted(wanted - available))
        notes.append(f"no history of {missing} in {directory}: unshocked on the crash days")
    weights = {h.asset: h.value for h in book.holdings if h.asset in available}
    scenarios = []
    for window in WINDOWS.values():
        data = load_history(
            directory,
            assets,
            "1d",
            start_ms=to_ms(window.start),
            end_ms=to_ms(window.end),
            quote=quote,
        )
        scenario = worst_day(window, data.spot, weights)
        if scenario is None:
            notes.append(
                f"{window.name}: no daily candles of the holdings from {window.start:%Y-%m-%d} "
                f"to {window.end:%Y-%m-%d} in {directory}; left out"
            )
            continue
        scenarios.append(scenario)
    return scenarios, notes


def custom(shocks: Sequence[tuple[str, Decimal]] | None) -> list[Scenario]:
    """Return the ``--shock`` scenario (none without shocks); an asset given twice is refused."""
    if not shocks:
        return []
    seen: dict[str, Decimal] = {}
    for asset, shock in shocks:
        if asset in seen:
            raise ConfigError(
                f"--shock {asset} given twice ({seen[asset]:+.1%} and {shock:+.1%}); "
                "give each asset once"
            )
        seen[asset] = shock
    return [custom_scenario(seen)]


# -- output -------------------------------------------------------------------------------------
def _guard_cell(leg: LegOutcome, enabled: bool) -> str:
    if leg.liquidated:
        return "liquidated"
    if not enabled:
        return "off"
    action = leg.guard
    if action is None:
        return "none"
    if action.kind is GuardKind.ADD_MARGIN:
        return f"add {money(action.margin)}"
    kept = f" (+{money(action.margin)} margin)" if action.margin > 0 else ""
    return f"cut {action.contracts.normalize():f} of {leg.contracts.normalize():f}{kept}"


def _guard_summary(outcome: Outcome, enabled: bool) -> str:
    cells = [_guard_cell(leg, enabled) for leg in outcome.legs]
    cuts = sum(1 for c in cells if c.startswith("cut"))
    adds = sum(1 for c in cells if c.startswith("add"))
    if not enabled:
        return "off"
    parts = [f"{adds} top-up(s)" if adds else "", f"{cuts} cut(s)" if cuts else ""]
    return ", ".join(p for p in parts if p) or "none"


def _ride_line(outcome: Outcome) -> str:
    have = outcome.margin_held + outcome.free_collateral
    verdict = "enough" if outcome.shortfall == 0 else f"short by {money(outcome.shortfall)}"
    return (
        f"to come through without a cut or a liquidation: {money(outcome.collateral_needed)} "
        f"collateral = legs' margin {money(outcome.margin_held)} + {money(outcome.add_before)} "
        f"moved into the legs before the move + {money(outcome.guard_budget)} free for the "
        f"guard's top-ups after it; the account has {money(have)}: {verdict}"
    )


def render(snapshot: Snapshot, outcomes: Sequence[Outcome], notes: Sequence[str]) -> str:
    """Return the terminal report: a summary row per scenario, then each one per asset and leg."""
    book = snapshot.book
    guard = book.guard
    spot = sum((h.value for h in book.holdings), ZERO)
    lines = [
        f"hedgebot stress — {snapshot.label}",
        f"as of {snapshot.time:%Y-%m-%d %H:%M} UTC: spot {money(spot)}, free collateral "
        f"{money(book.free_collateral)}, {book.method.value} liquidation method, margin guard "
        + (
            f"warning {percent(guard.warning, 0)} / target {percent(guard.target, 0)} / "
            f"critical {percent(guard.critical, 0)}"
            if guard.enabled
            else "off"
        ),
        _hedge_line(book),
        "every move is a jump: the guard acts after it, on the shocked marks",
    ]
    lines += [f"note: {note}" for note in (*snapshot.notes, *notes)]
    rows = [
        [
            o.scenario.name,
            signed(o.spot_pnl),
            signed(o.hedge_pnl),
            signed(o.net),
            percent(o.share_removed),
            str(sum(1 for leg in o.legs if leg.liquidated)),
            _guard_summary(o, guard.enabled),
            money(o.collateral_needed),
            money(o.shortfall) if o.shortfall else "-",
            o.scenario.what,
        ]
        for o in outcomes
    ]
    headers = [
        "scenario",
        "spot P&L",
        "hedge P&L",
        "net",
        "loss removed",
        "liquidated",
        "guard",
        "collateral needed",
        "short by",
        "what",
    ]
    lines += ["", table(headers, rows)]
    for outcome in outcomes:
        lines += ["", *_detail(outcome, guard.enabled)]
    return "\n".join(lines)


def _hedge_line(book: Book) -> str:
    if not book.legs:
        return "hedge: no leg open or planned; the spot stands alone"
    if book.planned:
        return (
            f"hedge: no leg open; stressing the {len(book.legs)} leg(s) the strategy would open "
            "now (`hedgebot rebalance --dry-run`): entry at today's mark, margin at "
            f"{book.legs[0].position.leverage}x, fees left out"
        )
    return f"hedge: the {len(book.legs)} open leg(s), as the venue reports them"


def _detail(outcome: Outcome, enabled: bool) -> list[str]:
    scenario = outcome.scenario
    assets = [
        [
            a.asset,
            f"{a.shock:+.1%}",
            money(a.spot_value),
            signed(a.spot_pnl),
            signed(a.hedge_pnl),
            percent(a.share_removed),
        ]
        for a in outcome.assets
    ]
    assets.append(
        [
            "total",
            "",
            money(sum((a.spot_value for a in outcome.assets), ZERO)),
            signed(outcome.spot_pnl),
            signed(outcome.hedge_pnl),
            percent(outcome.share_removed),
        ]
    )
    lines = [
        f"== {scenario.name}: {scenario.what}",
        table(["asset", "shock", "spot value", "spot P&L", "hedge P&L", "loss removed"], assets),
    ]
    if outcome.legs:
        legs = [
            [
                leg.symbol,
                f"{leg.contracts.normalize():f}",
                f"{money(leg.mark, 4)} → {money(leg.shocked_mark, 4)}",
                money(leg.margin),
                money(leg.liquidation_price, 4),
                percent(leg.distance_after),
                _guard_cell(leg, enabled),
                money(leg.ride_margin),
                money(leg.add_before),
            ]
            for leg in outcome.legs
        ]
        headers = [
            "leg",
            "contracts",
            "mark → shocked",
            "margin",
            "liq. price",
            "distance after",
            "guard",
            "margin to survive",
            "add before",
        ]
        lines += ["", table(headers, legs), _ride_line(outcome)]
    lines += [f"note: {note}" for note in outcome.notes]
    return lines


def as_json(snapshot: Snapshot, outcomes: Sequence[Outcome], notes: Sequence[str]) -> str:
    """Return the whole stress as JSON (money as strings, exact)."""
    book = snapshot.book
    document: dict[str, Any] = {
        "venue": snapshot.label,
        "as_of": snapshot.time,
        "hedge": "none" if not book.legs else "planned" if book.planned else "open",
        "free_collateral": book.free_collateral,
        "liquidation_method": book.method.value,
        "guard": book.guard,
        "notes": [*snapshot.notes, *notes],
        "scenarios": [_scenario_json(o) for o in outcomes],
    }
    return json.dumps(to_jsonable(document), indent=2)


def _scenario_json(outcome: Outcome) -> dict[str, Any]:
    scenario = outcome.scenario
    return {
        "name": scenario.name,
        "what": scenario.what,
        "shocks": dict(scenario.shocks),
        "others": scenario.others,
        "spot_pnl": outcome.spot_pnl,
        "hedge_pnl": outcome.hedge_pnl,
        "net": outcome.net,
        "share_removed": outcome.share_removed,
        "margin_held": outcome.margin_held,
        "add_before": outcome.add_before,
        "collateral_needed": outcome.collateral_needed,
        "shortfall": outcome.shortfall,
        "assets": [
            {
                "asset": a.asset,
                "shock": a.shock,
                "spot_value": a.spot_value,
                "spot_pnl": a.spot_pnl,
                "hedge_pnl": a.hedge_pnl,
                "share_removed": a.share_removed,
            }
            for a in outcome.assets
        ],
        "legs": [
            {
                "symbol": leg.symbol,
                "asset": leg.asset,
                "shock": leg.shock,
                "contracts": leg.contracts,
                "mark": leg.mark,
                "shocked_mark": leg.shocked_mark,
                "margin": leg.margin,
                "liquidation_price": leg.liquidation_price,
                "distance_after": leg.distance_after,
                "liquidated": leg.liquidated,
                "hedge_pnl": leg.hedge_pnl,
                "guard": None
                if leg.guard is None
                else {
                    "action": leg.guard.kind.value,
                    "margin": leg.guard.margin,
                    "contracts": leg.guard.contracts,
                    "reason": leg.guard.reason,
                },
                "ride_margin": leg.ride_margin,
                "add_before": leg.add_before,
            }
            for leg in outcome.legs
        ],
        "notes": list(outcome.notes),
    }


def _require_matplotlib() -> None:
    if importlib.util.find_spec("matplotlib") is None:
        raise ConfigError(
            "--plot needs matplotlib, which is not installed: "
            "pip install 'hedgebot[backtest]' (or leave out --plot)"
        )


def _plot_path(text: str) -> Path:
    """Return the ``--plot`` file; raise ConfigError when its directory does not exist."""
    path = Path(text).expanduser()
    if not path.parent.is_dir():
        raise ConfigError(
            f"--plot {text}: the directory {path.parent} does not exist; create it, "
            "or pass --plot elsewhere"
        )
    return path


def _check_shocked(book: Book, shocks: Sequence[tuple[str, Decimal]] | None) -> None:
    """Refuse a ``--shock`` of an asset neither held nor hedged: it would change nothing."""
    known = sorted({h.asset for h in book.holdings} | {leg.asset for leg in book.legs})
    idle = sorted({asset for asset, _ in shocks or ()} - set(known))
    if idle:
        could = f"shock one of {', '.join(known)}" if known else "nothing is held or hedged"
        raise ConfigError(
            f"--shock {', '.join(idle)}: neither held nor hedged, the shock would change "
            f"nothing; {could} (held assets and hedge legs)"
        )


async def run_stress(config: Config, args: argparse.Namespace) -> int:
    """Read the book, apply every scenario, print the table (or JSON), draw the plot."""
    extra = custom(args.shock)  # a bad --shock fails before the venue is asked anything
    path = _plot_path(args.plot) if args.plot else None
    if path is not None:
        _require_matplotlib()
    snapshot = await read_book(config, args.data_dir)
    _check_shocked(snapshot.book, args.shock)
    history, notes = history_scenarios(config, args.data_dir, snapshot.book)
    outcomes = [apply(snapshot.book, s) for s in (*NAMED, *history, *extra)]
    if args.json:
        print(as_json(snapshot, outcomes, notes))
    else:
        print(render(snapshot, outcomes, notes))
    if path is not None:
        from bot.reporting.stress_plot import plot_stress

        plot_stress(
            outcomes, f"stress — {snapshot.label}, {snapshot.time:%Y-%m-%d %H:%M} UTC", path
        )
        if not args.json:
            print(f"\nwrote {path}")
    return 0
