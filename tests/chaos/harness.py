"""Chaos trials: the bot killed at random moments while faults fire and targets move.

A trial is a fresh emulated exchange (a seeded simulated market of BTC, ETH and ADA, spot
holdings, USDT collateral), a fresh journal and a static-ratio config at 2× leverage. The bot runs
as a series of *lives*: each of the first k lives gets faults drawn from `tests.chaos.catalogue`
and is killed at a random moment; between lives the targets move (the strategy ratio, a spot
balance); the last life runs without faults until the hedge has settled (or a bound is hit).
Then the invariants (`tests.chaos.invariants`) are checked against the emulator's audit log, its
state and the journal.

Two kill modes:

- ``process``: each life is a real ``python -m bot run`` subprocess against the emulator running
  in this process on a wall-time `ScaledClock` (speed 1) with a few-second interval; it is
  SIGKILLed after a random delay, right after the exchange accepted one of its orders, or while a
  hang fault holds the answer to its order. The settling life is stopped with SIGTERM once the
  legs have been in their bands for two intervals (bounded by a timeout).
- ``task``: each life is a new Engine + CcxtVenue + Journal in this process (a `ReplayClock`, the
  request gate and the fault injector on a fake monotonic clock that follows it, as in
  ``tests/live/conftest.py``); the kill cancels the engine's task when the emulator receives the
  k-th request of that life, or its k-th order (in its fifth cycle if that never comes), so the
  request in flight is handled by the exchange but its answer is never read. The settling life
  stops after two settled cycles in a row (at most ten). Deterministic per seed.

Account events (a reset, someone else's trade, a setting changed on the website) happen between
lives or while a life runs (at a request number, or after some seconds). Each trial's journal is
its own: a SQLite file in the trial's directory, or a fresh PostgreSQL database.

Everything random comes from ``random.Random(seed)``; traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import decimal
import os
import random
import signal
import sys
import time
import tomllib
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from bot.core.clock import Clock, ReplayClock, to_ms
from bot.core.domain import perp_symbol
from bot.emulator.faults import FaultInjector
from bot.emulator.standalone import ScaledClock
from bot.emulator.streams.binance import BinanceStreams
from bot.journal.records import RunMode
from bot.journal.store import Journal
from bot.market.series import MarketData
from bot.market.simulated import simulate_market
from bot.runtime.engine import CycleReport, Engine
from bot.runtime.reconcile import IN_FLIGHT
from bot.settings.config import Config, parse_config, parse_duration
from bot.sim.paper import PaperVenue
from bot.venue.capabilities import BINANCE, BYBIT
from bot.venue.ccxt_venue import CcxtVenue
from bot.venue.gate import RequestGate
from strategies.registry import create_strategy
from tests.chaos import invariants
from tests.chaos.catalogue import (
    ALL_KINDS,
    PROCESS_TIMING,
    TASK_TIMING,
    Drawn,
    Scene,
    Timing,
    draw,
)
from tests.chaos.emulators import FACES, Face, Tracked, TrackedBinance, TrackedBybit
from tests.chaos.ledger import ClockMap, Ledger, TargetLog
from tests.emulator_clients import make_binance_clients, make_bybit_client

REPO = Path(__file__).absolute().parents[2]
KEY, SECRET = "soak-key", "soak-secret"
ACCOUNT = "soak"
ASSETS = ("BTC", "ETH", "ADA")
HOLDINGS = {"BTC": Decimal(1), "ETH": Decimal(10), "ADA": Decimal(20000)}
COLLATERAL = Decimal(400_000)
RATIOS = ("0.2", "0.3", "0.4", "0.5", "0.6", "0.8")
BALANCE_FACTORS = ("0", "0.5", "1.5", "2")
TASK_DATA_START = datetime(2024, 1, 1, tzinfo=UTC)
TASK_START = datetime(2024, 1, 5, tzinfo=UTC)
NEW_RISK_KNOBS = True
"""Write ``order_settle_timeout``, ``confirm_unexplained`` and ``max_basis`` into the config.
Flip to False only for a bot whose config refuses them (they arrived with the order-path rework)."""


@dataclass(frozen=True, slots=True)
class ModeSettings:
    """What differs between the kill modes."""

    name: str
    interval: str
    settle_timeout: str
    confirm_unexplained: str
    window_seconds: float
    """One cycle's longest duration (emulator-clock seconds): invariant 2's and 4's window."""
    timing: Timing
    settle_cycles: int = 20
    """Task mode: cycles the settling life may take: room for an order's settle timeout and an
    unexplained position's confirmation one after the other (60 s each, a look every 10 s)."""
    settle_seconds: float = 120.0
    """Process mode: wall seconds the settling life may take."""
    life_seconds: float = 25.0
    """Process mode: a life not killed by then is killed anyway."""
    kinds: tuple[str, ...] = ALL_KINDS
    """The fault kinds a trial draws from (`tests.chaos.catalogue`)."""
    streams: bool = False
    """Process mode: the bot follows the emulator's websocket streams (``exchange.streams``),
    and each killed life also draws stream faults (`STREAM_FAULTS`)."""


STREAM_FAULTS = ("drop", "stale", "expired-key")
"""Stream faults of a streams trial: every socket closed by the server; sockets silent for a few
seconds (events lost meanwhile); the Binance listen key expired (Bybit draws the other two)."""

TASK = ModeSettings("task", "10m", "60s", "60s", 600.0, TASK_TIMING)
PROCESS = ModeSettings("process", "5s", "15s", "10s", 60.0, PROCESS_TIMING)
MODES = {m.name: m for m in (TASK, PROCESS)}
KILLS = ("random", "accept", "held")


class JournalSource(Protocol):
    """Gives each trial a fresh, empty journal."""

    def new(self, directory: Path) -> str:
        """Return the URL of a new journal (``directory`` is the trial's own)."""
        ...


class SqliteJournals:
    """A SQLite file in each trial's directory."""

    def new(self, directory: Path) -> str:
        """Return ``sqlite:///<directory>/journal.sqlite``."""
        return f"sqlite:///{directory / 'journal.sqlite'}"


@dataclass
class TrialResult:
    """What one trial drew, did and found."""

    seed: int
    mode: str
    exchange: str
    faults: Counter[str] = field(default_factory=Counter)
    labels: list[str] = field(default_factory=list)
    kills: int = 0
    crashes: int = 0
    violations: list[str] = field(default_factory=list)
    wall: float = 0.0
    unavailable: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def failed(self) -> bool:
        """Return whether the trial found a violation or could not run."""
        return bool(self.violations) or self.error is not None


# -- plans ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TargetMove:
    """Targets moved between two lives: a new ratio and/or one spot balance."""

    ratio: Decimal | None
    asset: str | None
    factor: Decimal

    def describe(self) -> str:
        """Return a short label."""
        parts = []
        if self.ratio is not None:
            parts.append(f"ratio {self.ratio}")
        if self.asset is not None:
            parts.append(f"{self.asset} ×{self.factor} of the start balance")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Life:
    """One life of the bot: what happens before and during it, and how it ends."""

    move: TargetMove | None
    advance: float
    """Task mode: emulator-clock seconds that pass before it starts (0: same interval slot)."""
    faults: tuple[Drawn, ...]
    events: tuple[tuple[float | None, Drawn], ...]
    """Account events: before it starts (None), or at a request number (task) / second."""
    kill_how: str
    """Task mode: ``request`` (on the arrival of request ``kill_at`` of this life) or ``order``
    (on the arrival of its ``kill_at``-th order: the exchange handles it, the bot never reads the
    answer). Process mode: ``random`` (after ``kill_after`` seconds), ``accept`` (right after the
    exchange accepted an order) or ``held`` (while a hang fault holds the answer to an order)."""
    kill_at: int
    kill_after: float


def plan_lives(
    rng: random.Random, mode: ModeSettings, face: Face, symbols: Sequence[str]
) -> list[Life]:
    """Draw the trial: 1-3 killed lives with faults, then the settling life."""
    lives = []
    kills = rng.randint(1, 3)
    for number in range(kills + 1):
        settling = number == kills
        move = None
        if number and rng.random() < 0.7:
            what = rng.choice(("ratio", "balance", "both"))
            ratio = Decimal(rng.choice(RATIOS)) if what != "balance" else None
            asset = rng.choice(ASSETS) if what != "ratio" else None
            factor = Decimal(rng.choice(BALANCE_FACTORS))
            move = TargetMove(ratio, asset, factor)
        advance = float(rng.choice((0, 0, 45, 300, 600)))
        faults: list[Drawn] = []
        events: list[tuple[float | None, Drawn]] = []
        for _ in range(0 if settling else rng.choice((0, 1, 1, 2, 2, 3))):
            drawn = draw(rng, face, symbols, mode.timing, mode.kinds)
            if not drawn.is_event:
                faults.append(drawn)
            elif rng.random() < 0.5:
                events.append((None, drawn))
            elif mode.name == "task":
                events.append((float(rng.randint(1, 60)), drawn))
            else:
                events.append((round(rng.uniform(0.5, 8.0), 2), drawn))
        how = rng.choice(("request", "order", "order") if mode.name == "task" else KILLS)
        lives.append(
            Life(
                move,
                advance,
                tuple(faults),
                tuple(events),
                kill_how=how,
                kill_at=rng.randint(1, 40) if how == "request" else rng.randint(1, 3),
                kill_after=round(rng.uniform(0.5, 10.0), 2),
            )
        )
    return lives


# -- configs -------------------------------------------------------------------------------------
def config_document(
    mode: ModeSettings,
    exchange: str,
    ratio: Decimal,
    journal_url: str,
    directory: Path,
    api_url: str | None = None,
    knobs: bool = NEW_RISK_KNOBS,
    streams: bool = False,
) -> dict[str, Any]:
    """Return the trial's bot config as a TOML-shaped mapping (``knobs``: `NEW_RISK_KNOBS`)."""
    risk: dict[str, Any] = {
        "leverage": 2,
        "max_leverage": 2,
        "max_price_age": "5h",
        "max_order_notional": 40000,
        "kill_switch_file": str(directory / "halt"),
    }
    if knobs:
        risk |= {
            "order_settle_timeout": mode.settle_timeout,
            "confirm_unexplained": mode.confirm_unexplained,
            "max_basis": 0.05,
        }
    exchange_table: dict[str, Any] = {
        "name": exchange,
        "account": ACCOUNT,
        "requests_per_second": 50,
        "streams": streams,
    }
    if api_url is not None:
        exchange_table["api_url"] = api_url
    return {
        "interval": mode.interval,
        "exchange": exchange_table,
        "strategy": {"name": "static", "ratio": ratio},
        "hedge": {"deadband": 0.05},
        "risk": risk,
        "journal": {"url": journal_url},
    }


def to_toml(document: Mapping[str, Any]) -> str:
    """Write a two-level mapping of scalars as TOML."""

    def scalar(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float | Decimal):
            return str(value)
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'

    top = [f"{k} = {scalar(v)}" for k, v in document.items() if not isinstance(v, Mapping)]
    tables = []
    for name, table in document.items():
        if isinstance(table, Mapping):
            rows = "\n".join(f"{k} = {scalar(v)}" for k, v in table.items())
            tables.append(f"[{name}]\n{rows}")
    return "\n".join(top) + "\n\n" + "\n\n".join(tables) + "\n"


def load_config(document: Mapping[str, Any]) -> Config:
    """Parse the document as the bot would read its TOML file."""
    return parse_config(tomllib.loads(to_toml(document)), "<soak config>")


# -- the clocks of task mode --------------------------------------------------------------------
class ReplayMonotonic:
    """Fake monotonic seconds for the gate and the fault injector: the replay clock's elapsed
    time plus whatever the gate's back-off slept."""

    def __init__(self, clock: ReplayClock) -> None:
        """Start at 1000 s."""
        self.clock = clock
        self.start = clock.now()
        self.slept = 1000.0

    def __call__(self) -> float:
        """Return the seconds."""
        return self.slept + (self.clock.now() - self.start).total_seconds()

    async def sleep(self, seconds: float) -> None:
        """The gate's back-off: move the fake clock, yield once."""
        self.slept += seconds
        await asyncio.sleep(0)


# -- one trial ----------------------------------------------------------------------------------
class Trial:
    """One seeded trial in one mode against one exchange face."""

    def __init__(
        self,
        seed: int,
        mode: ModeSettings,
        exchange: str,
        journal_url: str,
        directory: Path,
        knobs: bool = NEW_RISK_KNOBS,
    ) -> None:
        """Draw the world and the plan; nothing runs yet."""
        self.seed = seed
        self.knobs = knobs
        self.mode = mode
        self.face = FACES[exchange]
        self.journal_url = journal_url
        self.directory = directory
        self.rng = random.Random(seed)
        self.stream_rng = random.Random(f"streams-{seed}")  # the plan's draws stay as they were
        self._stream_tasks: set[asyncio.Future[object]] = set()
        self.result = TrialResult(seed, mode.name, exchange)
        rng = self.rng
        if mode.name == "task":
            now = TASK_START + timedelta(hours=rng.randrange(48), minutes=10 * rng.randrange(6))
            data_start, bars = TASK_DATA_START, 240
            self.clock: Clock = ReplayClock(now)
            rate = 0.0
        else:
            now = datetime.now(UTC)
            data_start = now - timedelta(days=7, seconds=now.timestamp() % (4 * 3600))
            bars = 120
            self.clock = ScaledClock(now, 1.0)
            rate = 1.0
        self.data: MarketData = simulate_market(
            list(ASSETS), to_ms(data_start), bars, seed=rng.randrange(1, 10_000)
        )
        self.paper = PaperVenue(
            self.data, self.clock, HOLDINGS, COLLATERAL, Decimal("0.0005"), Decimal(2)
        )
        self.monotonic: Callable[[], float] = time.monotonic
        self.fake: ReplayMonotonic | None = None
        if isinstance(self.clock, ReplayClock):
            self.fake = ReplayMonotonic(self.clock)
            self.monotonic = self.fake
        self.life = 0
        faults = FaultInjector(now=self.monotonic)
        kind = TrackedBybit if exchange == "bybit" else TrackedBinance
        self.emulator: Tracked = kind(self.paper, KEY, SECRET, dict(HOLDINGS), faults=faults)
        self.clocks = ClockMap(self.clock, rate)
        self.ledger = Ledger(self.emulator.account, self.clocks)
        self.symbols = [perp_symbol(a) for a in ASSETS]
        self.targets = TargetLog(self.data, {perp_symbol(a): a for a in ASSETS})
        self.ratio = Decimal(rng.choice(RATIOS))
        self.lives = plan_lives(rng, mode, self.face, self.symbols)
        self.rules = invariants.Rules(Decimal("0.05"), 2, timedelta(seconds=mode.window_seconds))
        self.lots = {s: m.amount_step for s, m in self.paper.exchange.markets.items()}
        self.scene = Scene(self.emulator, self.face, self.ledger, self.symbols)
        self.venue_name = f"{exchange}:{ACCOUNT}"
        self.position_reads: list[int] = []
        self.trade_reads: list[tuple[int, str | None]] = []
        self.emulator.on_arrival = self._note

    # -- shared steps ---------------------------------------------------------------------------
    def _note(self, method: str, path: str, number: int) -> None:
        """Every request: sample the clocks, mark the audit log, note position and trade reads."""
        self.clocks.sample()
        self.ledger.mark(number)
        if method == "GET" and path in self.face.positions:
            self.position_reads.append(number)
        if method == "GET" and path in self.face.trades:
            self.trade_reads.append((number, self.emulator.symbol_asked.get(number)))

    def _log_targets(self) -> None:
        self.targets.record(self.clock.now(), self.ratio, self.emulator.account.spot_balances)

    def _move_targets(self, move: TargetMove) -> None:
        if move.ratio is not None:
            self.ratio = move.ratio
        if move.asset is not None:
            balances = self.emulator.account.spot_balances
            balances[move.asset] = HOLDINGS[move.asset] * move.factor
        self.result.labels.append(f"targets: {move.describe()}")
        self._log_targets()

    def _apply(self, drawn: Drawn, first_request: int | None = None) -> None:
        """Arm or do ``drawn``; ``first_request``: the first request that can see it."""
        self.clocks.sample()
        self.scene.first_request = (
            first_request if first_request is not None else self.emulator.arrived + 1
        )
        if drawn.apply(self.scene):
            self.result.faults[drawn.kind] += 1
            self.result.labels.append(drawn.label)
        else:
            available = _available(self.emulator, drawn.kind)
            if not available:
                self.result.unavailable.add(drawn.kind)
            else:
                self.result.labels.append(f"{drawn.label} (refused)")
        self._log_targets()

    def _arm(self, life: Life) -> None:
        for drawn in life.faults:
            self._apply(drawn)
        for moment, drawn in life.events:
            if moment is None:
                self._apply(drawn)

    def _config(self, api_url: str | None = None) -> dict[str, Any]:
        return config_document(
            self.mode,
            self.face.exchange,
            self.ratio,
            self.journal_url,
            self.directory,
            api_url,
            self.knobs,
            self.mode.streams,
        )

    def _open_orders(self) -> int:
        lister = getattr(self.emulator.account, "open_orders", None)
        return len(lister()) if callable(lister) else 0

    def _settled(self) -> bool:
        with decimal.localcontext(decimal.DefaultContext):
            # Against the targets in force since the inputs last moved: a target from before
            # the move is no reason to stop settling.
            calm = invariants.settled(
                self.paper.exchange,
                self.targets,
                self.rules,
                self.lots,
                self.clock.now(),
                since=self.targets.changes[-1].time,
            )
        return calm and self._open_orders() == 0

    def _journal_in_flight(self) -> bool:
        """Return whether the journal still holds an order in flight (settling not done)."""
        with Journal.open(self.journal_url) as journal:
            return bool(journal.orders_in_status(IN_FLIGHT))

    def _crash(self, what: str) -> None:
        self.result.crashes += 1
        if len(self.result.notes) < 6:
            self.result.notes.append(what)

    # -- running --------------------------------------------------------------------------------
    async def run(self) -> TrialResult:
        """Run the lives, check the invariants, return the result."""
        started = time.perf_counter()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._log_targets()
        await self.emulator.start()
        try:
            for number, life in enumerate(self.lives):
                settling = number == len(self.lives) - 1
                if self.mode.name == "task":
                    await self._task_life(life, settling)
                else:
                    await self._process_life(life, settling)
                self.emulator.faults.clear()
                self.ledger.snapshot()
            self.result.violations = self.check()
        finally:
            self.emulator.on_arrival = None
            self.emulator.on_answered = None
            await self.emulator.stop()
            self.result.wall = time.perf_counter() - started
        return self.result

    # -- task mode ------------------------------------------------------------------------------
    async def _task_life(self, life: Life, settling: bool) -> None:
        assert isinstance(self.clock, ReplayClock)
        if life.advance:  # the bot is down for a while; then the targets move
            await self.clock.sleep(life.advance)
            self._log_targets()
        if life.move is not None:
            self._move_targets(life.move)
        if not settling:
            self._arm(life)
        config = load_config(self._config())
        venue, journal, engine = await self._incarnate(config)
        stop = asyncio.Event()
        streak = 0
        cycles = 0

        def on_cycle(report: CycleReport) -> None:
            nonlocal streak, cycles
            cycles += 1
            if not settling:
                return  # a life whose trigger never came is killed in its 5th cycle
            calm = self._settled() and not journal.orders_in_status(IN_FLIGHT)
            streak = streak + 1 if calm else 0
            if streak >= 2:
                stop.set()

        limit = self.mode.settle_cycles if settling else None
        task = asyncio.create_task(engine.run(stop, on_cycle=on_cycle, max_cycles=limit))
        born = self.clock.now()
        interval = timedelta(seconds=parse_duration(self.mode.interval))
        base = self.emulator.arrived
        orders = 0
        pending: dict[int, list[Drawn]] = {}
        for moment, drawn in life.events:
            if moment is not None:
                pending.setdefault(int(moment), []).append(drawn)

        def arrival(method: str, path: str, number: int) -> None:
            nonlocal orders
            self._note(method, path, number)
            request = number - base
            for drawn in pending.pop(request, []):
                self._apply(drawn, number)  # before this request is handled
            orders += (method, path) == self.face.order
            count = request if life.kill_how == "request" else orders
            # Failed cycles are not reported but still advance the replay clock (the loop's
            # back-off): a life is bounded by replay time as well as by cycles.
            aged = self.clock.now() - born
            if settling:
                if aged > 2 * self.mode.settle_cycles * interval:
                    stop.set()
            elif (count >= life.kill_at or cycles >= 4 or aged > 5 * interval) and not task.done():
                task.cancel()
                self.result.kills += 1
                what = f"{method} {path}" if count >= life.kill_at else "a late request"
                self.result.labels.append(f"killed at {what} (request {request} of the life)")

        self.emulator.on_arrival = arrival
        try:
            done, _ = await asyncio.wait({task}, timeout=120)
            if not done:
                task.cancel()
                await asyncio.wait({task})
                self._crash("a life hung for 120 s and was cancelled")
            elif not task.cancelled() and (error := task.exception()) is not None:
                frames = traceback.extract_tb(error.__traceback__)
                where = next(
                    (
                        f" at {f.filename.split('/')[-1]}:{f.lineno} ({f.name})"
                        for f in reversed(frames)
                        if "/bot/" in f.filename
                    ),
                    "",
                )
                self._crash(f"bot crashed: {type(error).__name__}: {error}{where}")
        finally:
            self.emulator.on_arrival = self._note
            await self.emulator.wait_idle(10.0)
            journal.close()
            with contextlib.suppress(Exception):
                await venue.close()

    async def _incarnate(self, config: Config) -> tuple[CcxtVenue, Journal, Engine]:
        """A fresh "process": ccxt clients, venue, journal and engine over the same state."""
        url = self.emulator.base_url
        spot: Any = None
        if self.face.exchange == "bybit":
            futures = make_bybit_client(url, KEY, SECRET, enable_rate_limit=False, timeout_ms=5000)
            capabilities = BYBIT
        else:
            futures, spot = make_binance_clients(
                url, KEY, SECRET, enable_rate_limit=False, timeout_ms=5000
            )
            capabilities = BINANCE
        for client in (futures, spot):
            if client is not None:
                client.timeout_on_exit = 0
        assert self.fake is not None
        gate = RequestGate(rate_per_second=1000, clock=self.fake, sleep=self.fake.sleep)
        venue = CcxtVenue(futures, spot, capabilities, name=self.venue_name, gate=gate)
        journal = Journal.open(config.journal.url)
        strategy = create_strategy(config.strategy.name, config.strategy.params())
        engine = Engine(config, venue, journal, strategy, self.clock, RunMode.LIVE)
        return venue, journal, engine

    # -- process mode ---------------------------------------------------------------------------
    def _write_config(self) -> Path:
        path = self.directory / "hedgebot.toml"
        path.write_text(to_toml(self._config(self.emulator.base_url)))
        return path

    async def _spawn(self, config: Path, number: int) -> asyncio.subprocess.Process:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEDGEBOT_")}
        env |= {
            "HEDGEBOT_API_KEY": KEY,
            "HEDGEBOT_API_SECRET": SECRET,
            "HEDGEBOT_LOCK_DIR": str(self.directory / "locks"),
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p
            ),
        }
        log = (self.directory / f"life-{number}.log").open("ab")
        try:
            return await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                "--config",
                str(config),
                cwd=self.directory,
                env=env,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        finally:
            log.close()

    async def _process_life(self, life: Life, settling: bool) -> None:
        if life.move is not None:
            self._move_targets(life.move)
        if not settling:
            self._arm(life)
        config = self._write_config()
        if settling:
            await self._settle_process(config)
            return
        loop = asyncio.get_running_loop()
        killed = asyncio.Event()
        self.life += 1
        process = await self._spawn(config, self.life)

        def kill(how: str = life.kill_how) -> None:
            if process.returncode is None and not killed.is_set():
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGKILL)
                killed.set()
                self.result.kills += 1
                self.result.labels.append(f"SIGKILL ({how})")

        handles = [loop.call_later(self.mode.life_seconds, kill, "life timeout")]
        if self.mode.streams:
            handles += self._stream_faults(loop)
        for moment, drawn in life.events:
            if moment is not None:
                handles.append(loop.call_later(moment, self._apply, drawn))
        accepted = self.ledger.accepted_count()
        if life.kill_how == "random":
            handles.append(loop.call_later(life.kill_after, kill))
        elif life.kill_how == "accept":

            def answered(method: str, path: str, number: int) -> None:
                if (method, path) == self.face.order and self.ledger.accepted_count() > accepted:
                    kill()

            self.emulator.on_answered = answered
        else:
            self.emulator.faults.hang(*self.face.order, seconds=40.0)

            def arrival(method: str, path: str, number: int) -> None:
                self._note(method, path, number)
                if (method, path) == self.face.order:
                    handles.append(loop.call_later(0.3, kill))

            self.emulator.on_arrival = arrival
        try:
            ended = asyncio.create_task(process.wait())
            stopped = asyncio.create_task(killed.wait())
            await asyncio.wait({ended, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            await ended
            if not killed.is_set():
                self._crash(f"hedgebot run exited with {process.returncode} before its kill")
        finally:
            for handle in handles:
                handle.cancel()
            self.emulator.on_arrival = self._note
            self.emulator.on_answered = None
            self.emulator.hub.stale = False
            if process.returncode is None:
                process.kill()
                await process.wait()
            await self.emulator.wait_idle(1.0)

    def _stream_faults(self, loop: asyncio.AbstractEventLoop) -> list[asyncio.TimerHandle]:
        """Draw 0-2 stream faults at random moments of this life; return their timers."""
        rng = self.stream_rng
        binance = isinstance(self.emulator.streams, BinanceStreams)
        kinds = [k for k in STREAM_FAULTS if k != "expired-key" or binance]
        handles: list[asyncio.TimerHandle] = []
        for _ in range(rng.choice((0, 1, 1, 2))):
            kind, moment = rng.choice(kinds), round(rng.uniform(0.5, 8.0), 2)
            quiet = round(rng.uniform(1.0, 6.0), 2)
            self.result.faults[f"stream-{kind}"] += 1
            self.result.labels.append(f"stream {kind} at {moment} s")
            handles.append(loop.call_later(moment, self._stream_fault, kind, quiet, handles))
        return handles

    def _stream_fault(self, kind: str, quiet: float, handles: list[asyncio.TimerHandle]) -> None:
        """Fire one stream fault now (a stale stream recovers after ``quiet`` seconds)."""
        hub, faces = self.emulator.hub, self.emulator.streams
        if kind == "drop":
            self._background(hub.drop_sockets())
        elif kind == "stale":
            hub.stale = True
            loop = asyncio.get_running_loop()
            handles.append(loop.call_later(quiet, setattr, hub, "stale", False))
        else:
            assert isinstance(faces, BinanceStreams)
            self._background(faces.expire_listen_key())

    def _background(self, work: Awaitable[object]) -> None:
        task = asyncio.ensure_future(work)
        self._stream_tasks.add(task)
        task.add_done_callback(self._stream_tasks.discard)

    async def _settle_process(self, config: Path) -> None:
        deadline = time.monotonic() + self.mode.settle_seconds
        interval = parse_duration(self.mode.interval)
        number = len(self.lives)
        while time.monotonic() < deadline:
            process = await self._spawn(config, number)
            number += 1
            calm_since: float | None = None
            last: tuple[Any, ...] | None = None
            while time.monotonic() < deadline and process.returncode is None:
                await asyncio.sleep(0.25)
                state = tuple(
                    (s, p.contracts) for s, p in sorted(self.paper.exchange.positions.items())
                )
                if self._settled() and state == last and not self._journal_in_flight():
                    calm_since = calm_since or time.monotonic()
                    if time.monotonic() - calm_since >= 2 * interval + 1:
                        break
                else:
                    calm_since = None
                last = state
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(process.wait(), 30)
                except TimeoutError:
                    process.kill()
                    await process.wait()
                    self._crash("the settling run ignored SIGTERM for 30 s")
                return
            self._crash(f"hedgebot run exited with {process.returncode} while settling")
            await asyncio.sleep(1.0)

    # -- checking -------------------------------------------------------------------------------
    def check(self) -> list[str]:
        """Check every invariant; return the violations."""
        self.ledger.snapshot()
        with Journal.open(self.journal_url) as journal:
            view = invariants.JournalView(
                journal.orders(venue=self.venue_name),
                journal.fills(venue=self.venue_name),
                journal.funding(venue=self.venue_name),
                journal.rebalances(venue=self.venue_name),
            )
        sim = self.paper.exchange
        with decimal.localcontext(decimal.DefaultContext):
            events = self.ledger.events()
            trades = self.ledger.trades.items()
            trade_keys = {sim_id: self.emulator.trade_key(trade) for sim_id, trade in trades}
            start = self.targets.changes[0].time
            unflaggable = (
                set()
                if self.face.marks_liquidations
                else invariants.forgotten_liquidations(events, self.ledger, self.trade_reads)
            )
            return [
                *invariants.duplicate_client_ids(events),
                *invariants.over_hedges(
                    events, self.ledger, self.targets, self.rules, self.lots, self.position_reads
                ),
                *invariants.journal_fills(self.ledger, view, trade_keys, unflaggable),
                *invariants.journal_funding(self.ledger, view),
                *invariants.journal_orders(self.ledger, view),
                *invariants.unsettled(
                    sim,
                    self.targets,
                    self.rules,
                    self.lots,
                    self.clock.now(),
                    invariants.resting_shorts(self.ledger),
                ),
                *invariants.settings(sim, events, self.rules, sim.default_leverage, start),
                *invariants.unexplained_rebalances(view),
            ]


def _available(emulator: Tracked, kind: str) -> bool:
    names = {
        "rest_orders": (emulator.faults, "rest_orders"),
        "wrong_price": (emulator.faults, "wrong_price"),
        "empty_positions": (emulator.faults, "empty_positions"),
        "flip_positions": (emulator.faults, "flip_positions"),
        "reset": (emulator.account, "reset_to_defaults"),
        "external_trade": (emulator.account, "external_trade"),
        "leverage_oob": (emulator.account, "set_leverage_out_of_band"),
        "margin_oob": (emulator.account, "set_margin_type_out_of_band"),
        "fill_resting": (emulator.account, "fill_resting"),
        "liquidation": (emulator.account, "liquidate"),
    }
    target = names.get(kind)
    return target is None or callable(getattr(target[0], target[1], None))


async def run_trial(
    seed: int,
    mode: str,
    exchange: str,
    journals: JournalSource,
    workdir: Path,
    limit_seconds: float = 600.0,
    knobs: bool = NEW_RISK_KNOBS,
    settle_seconds: float | None = None,
    kinds: Sequence[str] = ALL_KINDS,
    streams: bool = False,
) -> TrialResult:
    """Run one trial (faults drawn from ``kinds``); a harness failure is reported in ``error``.

    ``streams`` (process mode only: streams need wall time) turns the bot's streams on and
    draws stream faults too.
    """
    directory = workdir / f"{mode}-{exchange}-seed-{seed}"
    started = time.perf_counter()
    try:
        settings = MODES[mode]
        if settle_seconds is not None:
            settings = replace(settings, settle_seconds=settle_seconds)
        settings = replace(settings, kinds=tuple(kinds))
        if streams:
            if mode != "process":
                raise ValueError("streams need wall time: run them in process mode")
            settings = replace(settings, streams=True)
        trial = Trial(seed, settings, exchange, journals.new(directory), directory, knobs)
    except Exception as error:
        result = TrialResult(seed, mode, exchange)
        result.error = f"setup failed: {type(error).__name__}: {error}"
        return result
    try:
        with decimal.localcontext(decimal.DefaultContext):
            return await asyncio.wait_for(trial.run(), limit_seconds)
    except Exception as error:
        result = trial.result
        result.wall = time.perf_counter() - started
        detail = traceback.format_exception_only(type(error), error)[-1].strip()
        result.error = f"harness: {detail or type(error).__name__}"
        return result


async def run_trials(
    seeds: Iterable[int],
    mode: str,
    exchange: str,
    journals: JournalSource,
    workdir: Path,
    progress: Callable[[TrialResult], None] | None = None,
    knobs: bool = NEW_RISK_KNOBS,
    kinds: Sequence[str] = ALL_KINDS,
    streams: bool = False,
) -> list[TrialResult]:
    """Run trials one after another."""
    results = []
    for seed in seeds:
        result = await run_trial(
            seed, mode, exchange, journals, workdir, knobs=knobs, kinds=kinds, streams=streams
        )
        results.append(result)
        if progress is not None:
            progress(result)
    return results


# -- the table ------------------------------------------------------------------------------------
def invariant_of(violation: str) -> str:
    """Return the invariant a violation names (its first word)."""
    return violation.split(":", 1)[0].strip()


def format_report(results: Sequence[TrialResult], title: str = "chaos soak") -> str:
    """Return the summary table, the faults drawn, and every failing seed with its violations."""
    failing = [r for r in results if r.failed]
    faults: Counter[str] = Counter()
    in_failing: Counter[str] = Counter()
    for r in results:
        faults.update(r.faults)
        if r.failed:
            in_failing.update(r.faults)
    violations = sum(len(r.violations) for r in results)
    wall = sum(r.wall for r in results)
    lines = [
        title,
        f"{'trials':>6} {'kills':>6} {'faults':>6} {'crashes':>7} {'violations':>10} "
        f"{'failing':>7} {'wall':>9}",
        f"{len(results):>6} {sum(r.kills for r in results):>6} {sum(faults.values()):>6} "
        f"{sum(r.crashes for r in results):>7} {violations:>10} {len(failing):>7} "
        f"{wall:>8.1f}s",
        "",
        f"{'fault drawn':<16} {'count':>5} {'in failing trials':>17}",
    ]
    for kind, count in sorted(faults.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"{kind:<16} {count:>5} {in_failing[kind]:>17}")
    unavailable = sorted(set().union(*(r.unavailable for r in results))) if results else []
    if unavailable:
        lines.append(f"not offered by this emulator (skipped): {', '.join(unavailable)}")
    by_invariant = Counter(invariant_of(v) for r in results for v in r.violations)
    if by_invariant:
        lines += ["", f"{'violations by invariant':<24} {'count':>5} {'trials':>6}"]
        for name, count in sorted(by_invariant.items()):
            trials = sum(1 for r in results if any(invariant_of(v) == name for v in r.violations))
            lines.append(f"{name:<24} {count:>5} {trials:>6}")
    if failing:
        lines += ["", "failing seeds:"]
        for r in failing:
            lines.append(
                f"  seed {r.seed} ({r.mode}, {r.exchange}; {r.kills} kill(s), {r.crashes} "
                f"crash(es); {r.wall:.1f}s)"
            )
            lines.append(f"    drawn: {'; '.join(r.labels) or 'nothing'}")
            if r.error:
                lines.append(f"    ERROR {r.error}")
            lines += [f"    {v}" for v in r.violations]
            lines += [f"    note: {n}" for n in r.notes]
    noted = [r for r in results if r.notes and not r.failed]
    if noted:
        lines += ["", "passing seeds with notes (crashes, hung lives):"]
        for r in noted:
            lines += [f"  seed {r.seed}: {n}" for n in r.notes]
    return "\n".join(lines)
