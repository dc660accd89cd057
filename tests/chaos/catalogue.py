"""The faults a trial draws from: the emulator's whole set, with random parameters and counts.

Two families. *Request faults* are armed on the fault injector for the next calls of an endpoint
(drop, hang, 5xx, rejection, rate limit, partial fill, delay, corrupt body, resting orders, wrong
price, empty or flipped positions). *Account events* happen to the account at one moment, as a
human or the exchange would do them (a reset to the exchange's defaults, someone else's trade,
leverage or margin type changed on the website, resting orders filling, a wick through a
position's liquidation price, the exchange auto-deleveraging part of a position). Someone else
trades only
on a leg in isolated margin: a position opened in cross margin could not be switched back to
isolated by any bot (Binance refuses a margin type change with a position), so it would make the
settled invariants unreachable rather than test the bot.

Every parameter is drawn from the trial's `random.Random` when the fault is drawn, so a seed gives
the same faults whatever the emulator supports; a kind the emulator does not offer yet (checked
with ``hasattr`` when it is applied) is skipped and reported as unavailable.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

from bot.emulator.account import binance_id
from bot.emulator.errors import BinanceError
from bot.sim.exchange import SimRejected
from tests.chaos.emulators import Face, Tracked
from tests.chaos.ledger import Ledger

REQUEST_KINDS = (
    "drop",
    "hang",
    "server_error",
    "reject",
    "rate_limit",
    "partial_fill",
    "delay",
    "corrupt",
    "rest_orders",
    "wrong_price",
    "empty_positions",
    "flip_positions",
)
ACCOUNT_KINDS = (
    "reset",
    "external_trade",
    "leverage_oob",
    "margin_oob",
    "fill_resting",
    "liquidation",
    "adl",
)
ALL_KINDS = REQUEST_KINDS + ACCOUNT_KINDS
ADL_FRACTIONS = (Decimal("0.25"), Decimal("0.5"), Decimal(1))
"""How much of a position an ``adl`` event closes."""

SKEW = "Timestamp for this request is outside of the recvWindow."


@dataclass(frozen=True, slots=True)
class Timing:
    """Durations that suit a mode: seconds of real time, or of the fault clock for ``rest``."""

    hang: tuple[float, float]
    delay: tuple[float, float]
    long_delay: float | None
    """A delay past the client's timeout (the order still executes), or None."""
    rest_fill_after: tuple[float | None, ...]
    retry_after: float
    ban: float


TASK_TIMING = Timing((0.02, 0.2), (0.01, 0.08), None, (None, 60.0, 300.0, 900.0), 30.0, 120.0)
"""In-process trials: real waits kept short; the fault clock follows the replay clock."""
PROCESS_TIMING = Timing((2.0, 12.0), (0.2, 2.0), 11.0, (None, 2.0, 8.0, 20.0), 1.0, 3.0)
"""Subprocess trials: ccxt's own timeout (10 s) is within reach of hangs and long delays."""


@dataclass(slots=True)
class Scene:
    """What a fault acts on."""

    emulator: Tracked
    face: Face
    ledger: Ledger
    symbols: Sequence[str]
    first_request: int = 0
    """The first request that can see what is done now (set by the harness before acting)."""


@dataclass(frozen=True, slots=True)
class Drawn:
    """One fault drawn for a trial: its kind, a label, and how to apply it."""

    kind: str
    label: str
    apply: Callable[[Scene], bool]
    """Arm or do it; False when the emulator lacks it or the account refused it."""

    @property
    def is_event(self) -> bool:
        """Return whether it happens at one moment (an account event) rather than being armed."""
        return self.kind in ACCOUNT_KINDS


def _has(target: Any, name: str) -> bool:
    return callable(getattr(target, name, None))


def _endpoint(rng: random.Random, face: Face, order_weight: float = 0.6) -> tuple[str, str]:
    return face.order if rng.random() < order_weight else rng.choice(face.reads)


def _show(endpoint: tuple[str | None, str | None]) -> str:
    method, path = endpoint
    return f"{method or '*'} {path or '*'}"


def draw(
    rng: random.Random,
    face: Face,
    symbols: Sequence[str],
    timing: Timing,
    kinds: Sequence[str] = ALL_KINDS,
) -> Drawn:
    """Draw one fault of one of ``kinds``, with its parameters."""
    kind = rng.choice(kinds)
    times = rng.randint(1, 3)
    symbol = rng.choice(list(symbols))
    if kind == "drop":
        where = _endpoint(rng, face)
        return Drawn(
            kind,
            f"drop {_show(where)} ×{times}",
            lambda s: _call(s.emulator.faults, "drop", *where, times=times),
        )
    if kind == "hang":
        where = _endpoint(rng, face, 0.8)
        seconds = round(rng.uniform(*timing.hang), 3)
        once = rng.randint(1, 2)
        return Drawn(
            kind,
            f"hang {_show(where)} {seconds}s ×{once}",
            lambda s: _call(s.emulator.faults, "hang", *where, seconds=seconds, times=once),
        )
    if kind == "server_error":
        where = _endpoint(rng, face)
        status = rng.choice((500, 502, 503, 504))
        after = rng.random() < 0.5
        label = f"{status} {_show(where)}{' after handling' if after else ''} ×{times}"
        return Drawn(
            kind,
            label,
            lambda s: _call(
                s.emulator.faults,
                "server_error",
                *where,
                status,
                after_handling=after,
                times=times,
            ),
        )
    if kind == "reject":
        order_method, order_path = face.order
        if face.exchange == "bybit":
            choices: list[tuple[str | None, str | None, int, str]] = [
                (order_method, order_path, 110007, "ab not enough for new order"),
                (order_method, order_path, 10002, "invalid request, please check your timestamp"),
                ("GET", None, 10002, "invalid request, please check your timestamp"),
            ]
        else:
            choices = [
                (order_method, order_path, -2019, "Margin is insufficient."),
                (order_method, order_path, -1021, SKEW),
                ("GET", None, -1021, SKEW),
            ]
        method, path, code, message = rng.choice(choices)
        return Drawn(
            kind,
            f"reject {_show((method, path))} {code} ×{times}",
            lambda s: _call(
                s.emulator.faults, "reject", method, path, code=code, message=message, times=times
            ),
        )
    if kind == "rate_limit":
        retry, ban = timing.retry_after, timing.ban
        return Drawn(
            kind,
            f"429 (retry after {retry:g}s, ban {ban:g}s)",
            lambda s: _call(
                s.emulator.faults, "rate_limit", None, None, retry_after=retry, ban_seconds=ban
            ),
        )
    if kind == "partial_fill":
        ratio = Decimal(rng.choice(("0.25", "0.5", "0.75")))
        final = rng.choice(("EXPIRED", "CANCELED"))  # final statuses of a market/IOC order
        return Drawn(
            kind,
            f"partial fill {ratio} {final} ×{times}",
            lambda s: _call(s.emulator.faults, "partial_fill", ratio, final, times=times),
        )
    if kind == "delay":
        where = _endpoint(rng, face)
        long = timing.long_delay is not None and rng.random() < 0.25
        seconds = timing.long_delay if long and timing.long_delay else rng.uniform(*timing.delay)
        seconds = round(seconds, 3)
        return Drawn(
            kind,
            f"delay {_show(where)} {seconds}s ×{times}",
            lambda s: _call(s.emulator.faults, "delay", *where, seconds, times=times),
        )
    if kind == "corrupt":
        where = _endpoint(rng, face, 0.5)
        return Drawn(
            kind,
            f"malformed body {_show(where)} ×{times}",
            lambda s: _call(s.emulator.faults, "corrupt", *where, _malformed, times=times),
        )
    if kind == "rest_orders":
        fill_after = rng.choice(timing.rest_fill_after)
        shown = "never by itself" if fill_after is None else f"{fill_after:g}s"
        return Drawn(
            kind,
            f"orders rest ×{times}, fill after {shown}",
            lambda s: _call(
                s.emulator.faults, "rest_orders", times=times, fill_after_seconds=fill_after
            ),
        )
    if kind == "wrong_price":
        factor = Decimal(rng.choice(("0.1", "10", "0.5", "1.5")))
        also_mark = rng.random() < 0.5
        sid = binance_id(symbol)
        return Drawn(
            kind,
            f"price of {sid} ×{factor}{' (and mark)' if also_mark else ''} ×{times}",
            lambda s: _wrong_price(s, sid, factor, times, also_mark),
        )
    if kind == "empty_positions":
        return Drawn(
            kind,
            f"positions answered empty ×{times}",
            lambda s: _call(s.emulator.faults, "empty_positions", times=times),
        )
    if kind == "flip_positions":
        return Drawn(
            kind,
            f"positions answered flipped ×{times}",
            lambda s: _call(s.emulator.faults, "flip_positions", times=times),
        )
    if kind == "reset":
        return Drawn(kind, "account reset to the exchange's defaults", _reset)
    if kind == "external_trade":
        side = rng.choice(("buy", "sell"))
        notional = Decimal(rng.randint(150, 6000))
        reduce_only = side == "buy" and rng.random() < 0.5  # buys only reduce (see below)
        label = f"someone else {side}s ~{notional} USDT of {symbol}"
        return Drawn(
            kind,
            label + (" (reduce-only)" if reduce_only else ""),
            lambda s: _external_trade(s, symbol, side, notional, reduce_only),
        )
    if kind == "leverage_oob":
        leverage = rng.choice((1, 3, 5, 10, 20))
        return Drawn(
            kind,
            f"leverage of {symbol} set to {leverage} on the website",
            lambda s: _account(s, "set_leverage_out_of_band", symbol, leverage),
        )
    if kind == "margin_oob":
        if face.exchange == "bybit":  # Bybit's margin mode is the unified account's
            return Drawn(kind, "account switched to cross margin on the website", _bybit_cross)
        return Drawn(
            kind,
            f"{symbol} switched to cross margin on the website",
            lambda s: _account(s, "set_margin_type_out_of_band", symbol, False),
        )
    if kind == "liquidation":
        order = rng.sample(list(symbols), len(symbols))  # the first of them holding a position
        return Drawn(kind, f"a wick liquidates one of {', '.join(order)}", _liquidate(order))
    if kind == "adl":
        order = rng.sample(list(symbols), len(symbols))
        fraction = rng.choice(ADL_FRACTIONS)
        label = f"the exchange auto-deleverages {fraction:.0%} of one of {', '.join(order)}"
        return Drawn(kind, label, _deleverage(order, fraction))
    return Drawn("fill_resting", "resting orders fill", lambda s: _account(s, "fill_resting"))


def _malformed(body: Any) -> str:
    return '{"code": 200, "ms'


def _call(target: Any, name: str, *args: Any, **kwargs: Any) -> bool:
    if not _has(target, name):
        return False
    getattr(target, name)(*args, **kwargs)
    return True


def _wrong_price(scene: Scene, sid: str, factor: Decimal, times: int, also_mark: bool) -> bool:
    faults = scene.emulator.faults
    if not _has(faults, "wrong_price"):
        return False
    try:
        faults.wrong_price(sid, factor, times, also_mark=also_mark)
    except TypeError:  # an emulator without ``also_mark``
        faults.wrong_price(sid, factor, times)
    return True


def _account(scene: Scene, name: str, *args: Any) -> bool:
    account = scene.emulator.account
    if not _has(account, name):
        return False
    try:
        scene.ledger.external(lambda: getattr(account, name)(*args), scene.first_request)
    except ValueError:  # refused, as the website would (e.g. margin type with a position)
        return False
    return True


def _liquidate(order: Sequence[str]) -> Callable[[Scene], bool]:
    def apply(scene: Scene) -> bool:
        account = scene.emulator.account
        held = [
            s for s in order if s in account.sim.positions and account.sim.position(s).contracts
        ]
        return bool(held) and _account(scene, "liquidate", held[0])

    return apply


def _deleverage(order: Sequence[str], fraction: Decimal) -> Callable[[Scene], bool]:
    """ADL ``fraction`` of the first of ``order`` holding a position, at the mark."""

    def apply(scene: Scene) -> bool:
        account = scene.emulator.account
        if not _has(account, "auto_deleverage"):
            return False
        held = [
            s for s in order if s in account.sim.positions and account.sim.position(s).contracts
        ]
        if not held:
            return False
        try:
            scene.ledger.external(
                lambda: account.auto_deleverage(held[0], fraction=fraction), scene.first_request
            )
        except ValueError:  # less than a lot to close
            return False
        return True

    return apply


def _bybit_cross(scene: Scene) -> bool:
    state = getattr(scene.emulator, "state", None)
    if not _has(state, "set_margin_mode_out_of_band"):
        return False
    try:
        scene.ledger.external(lambda: state.set_margin_mode_out_of_band(False), scene.first_request)
    except ValueError:  # refused with positions open, as the website does
        return False
    return True


def _reset(scene: Scene) -> bool:
    return _account(scene, "reset_to_defaults")


def _external_trade(
    scene: Scene, symbol: str, side: str, notional: Decimal, reduce_only: bool
) -> bool:
    account = scene.emulator.account
    if not _has(account, "external_trade"):
        return False
    if symbol not in account.sim.isolated:
        return False  # trades on a leg the bot has set up only: a cross position is not its own
    market = account.sim.markets[symbol]
    price = account.mark_price(symbol)
    step = market.amount_step
    amount = (notional / price / step).to_integral_value(rounding=ROUND_DOWN) * step
    held = account.sim.position(symbol).contracts
    if side == "buy":
        # Someone else only buys back part of the short, never opens a long: the simulation does
        # not book a trade through zero (a bot's sell against an unseen long would flip it, its
        # isolated margin go negative and every position answer fail).
        if held >= 0:
            return False
        amount = min(amount, abs(held))
    if amount < market.min_amount:
        return False
    try:
        scene.ledger.external(
            lambda: account.external_trade(symbol, side, amount, reduce_only),
            scene.first_request,
        )
    except (SimRejected, BinanceError, ValueError):  # refused: quantity, reduce-only, margin
        return False
    return True
