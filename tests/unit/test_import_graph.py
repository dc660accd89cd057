"""The import graph of `bot` and `strategies`: one way, no cycles, no imports hidden in functions.

Read from the source with `ast`, so a new module is covered without being listed. A function-level
import of a project module is allowed only where it defers a heavy third-party load for commands
that do not need it (the list below says which and why); never to dodge a cycle.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "strategies")

DEFERRED = {
    ("bot.journal.store", "bot.journal.migrate"): "Alembic (~0.2 s) only for a journal to migrate",
    ("bot.cli.session", "bot.venue.factory"): "ccxt (~0.6 s) only for a live session",
    ("bot.cli.session", "bot.settings.secrets"): "read with the live venue it is for",
    (
        "bot.cli.main",
        "bot.cli.session",
    ): "ccxt and the market data only for the commands that use them",
    ("bot.cli.main", "bot.cli.commands.backtest"): "matplotlib and numpy only for `backtest`",
    ("bot.cli.main", "bot.cli.commands.rebalance"): "ccxt only for `rebalance`",
    ("bot.cli.main", "bot.cli.commands.report"): "loaded by `report` alone",
    ("bot.cli.main", "bot.cli.commands.run"): "ccxt only for `run`",
    ("bot.cli.main", "bot.cli.commands.status"): "loaded by `status` alone",
    ("bot.cli.main", "bot.cli.commands.notify"): "apprise (~0.2 s) only for `notify`",
    ("bot.cli.main", "bot.cli.commands.serve"): "aiohttp (~0.2 s) only for `serve`",
    ("bot.notify.notifier", "bot.notify.sender"): "apprise (~0.2 s) only once an alert is sent",
    ("bot.cli.main", "bot.cli.commands.stress"): "ccxt and the market data only for `stress`",
    ("bot.cli.commands.stress", "bot.reporting.stress_plot"): "matplotlib only with --plot",
    ("bot.cli.main", "bot.emulator.standalone"): "aiohttp only for `emulator`",
    ("bot.cli.main", "bot.emulator.bybit.standalone"): "aiohttp only for `emulator`",
    ("bot.cli.main", "bot.settings.secrets"): "read by the commands that need keys",
    ("bot.cli.commands.backtest", "bot.backtest.plots"): "matplotlib only with --plot",
}
"""(importer, imported) -> why the import waits until a function runs."""

EMULATOR_USERS = ("bot.emulator", "bot.cli.main")
"""The emulator is a user feature (`hedgebot emulator`) behind its own boundary."""


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue  # Alembic loads revisions by path
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = modules()


def _project_module(name: str) -> str | None:
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def imports(path: Path) -> Iterator[tuple[str, bool]]:
    """Yield (project module imported, at module level?) for each import in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    top = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            target = _project_module(name)
            if target is not None:
                yield target, id(node) in top


@cache
def graph() -> tuple[dict[str, set[str]], set[tuple[str, str]]]:
    """Return the module-level edges and the function-level (importer, imported) pairs."""
    edges: dict[str, set[str]] = defaultdict(set)
    deferred = set()
    for name, path in MODULES.items():
        for target, at_top in imports(path):
            if target == name or name.startswith(target + "."):
                continue  # a package's own parent
            if at_top:
                edges[name].add(target)
            else:
                deferred.add((name, target))
    return edges, deferred


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(MODULES):
        if node not in index:
            visit(node)
    return found


def test_the_walk_sees_the_whole_house() -> None:
    assert {
        "bot.runtime.engine",
        "bot.cli.main",
        "strategies.registry",
        "bot.venue.ccxt_venue",
    } <= set(MODULES)
    edges, _ = graph()
    assert "bot.core.domain" in edges["bot.runtime.engine"]


def test_no_module_level_import_cycle() -> None:
    assert cycles(graph()[0]) == []


def test_the_cycle_finder_finds_one() -> None:
    assert cycles(
        {"bot.core.domain": {"bot.core.clock"}, "bot.core.clock": {"bot.core.domain"}}
    ) == [["bot.core.clock", "bot.core.domain"]]


def test_function_level_imports_only_defer_heavy_loads() -> None:
    _, deferred = graph()
    unexplained = sorted(deferred - set(DEFERRED))
    assert unexplained == [], (
        "function-level imports of project modules (import at the top; a cycle means a module "
        f"is in the wrong room): {unexplained}"
    )
    assert sorted(set(DEFERRED) - deferred) == []  # no stale entry


ROOMS = (
    "bot.core",
    "bot.margin",
    "bot.settings",
    "bot.market",
    "bot.journal",
    "bot.venue",
    "bot.sim",
    "bot.runtime",
    "bot.reporting",
    "bot.notify",
    "bot.backtest",
    "bot.observability",
    "bot.cli",
)
"""The rooms of `bot`, lowest first: a room imports only rooms before it (`strategies` sits
between `bot.margin` and `bot.settings`; the emulator stands aside, see below)."""
ORDER = {room: rank for rank, room in enumerate(ROOMS)}
ORDER["strategies"] = ORDER["bot.margin"]


def room_of(name: str) -> str | None:
    return next((r for r in (*ROOMS, "strategies") if _within(name, r)), None)


@pytest.mark.parametrize("room", [*ROOMS, "strategies"])
def test_a_room_imports_only_lower_rooms(room: str) -> None:
    edges, deferred = graph()
    pairs = {(n, t) for n, targets in edges.items() for t in targets} | deferred
    upward = sorted(
        (name, target)
        for name, target in pairs
        if room_of(name) == room
        and (found := room_of(target)) is not None
        and found != room
        and ORDER[found] > ORDER[room]
    )
    assert upward == []


def test_every_module_lives_in_a_room() -> None:
    loose = sorted(n for n in MODULES if room_of(n) is None and not _within(n, "bot.emulator"))
    assert loose == ["bot", "bot.__main__"]


def test_nothing_outside_the_emulator_and_its_command_imports_it() -> None:
    edges, deferred = graph()
    pairs = {(n, t) for n, targets in edges.items() for t in targets} | deferred
    users = sorted(
        (n, t)
        for n, t in pairs
        if _within(t, "bot.emulator") and not any(_within(n, u) for u in EMULATOR_USERS)
    )
    assert users == []


def _within(name: str, room: str) -> bool:
    return name == room or name.startswith(room + ".")
