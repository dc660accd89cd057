"""The soak's invariants, checked after a trial from the exchange's audit log and the journal.

Each check returns violations: short strings naming the invariant, the symbol and the numbers.

1. ``dup-client-id``: no client order id accepted twice by the exchange (every acceptance over the
   whole trial, across account resets, counted per client id; orders someone else placed on the
   account are not the bot's and are left out).
2. ``over-hedge``: at every audit event where one of the bot's fills grew a short, the short is at
   most bound = H × (1 + deadband) + 1 lot + drift × H, where H is the largest target the leg had
   at any moment of [order accepted − W, fill], W being one cycle's longest duration: the window
   in which the bot could have observed the inputs it sized the order from (for an order that
   fills at once the window is [fill − W, fill]; a resting order's late fill is judged against
   what was in force since it was placed). A target is ratio × spot amount × spot price / perp
   price, evaluated at every input change and every candle close in the window, with the perp's
   last and mark price both; ``drift`` (0.5%) absorbs rounding between those figures and the
   bot's. Someone else's trades are not checked (they are what the bot must correct, not what it
   did); one that grew the short and that no position read between it and the bot's order could
   have shown is added to the bound (the bot sized its order without it; seen, it is the bot's).
3. ``journal-fills`` / ``journal-funding`` / ``journal-orders``: every trade on the account (the
   bot's, someone else's, a liquidation, an ADL) is journaled exactly once with its amount and its
   price to the cent, forced as the exchange forced it: a liquidation as ``liquidation``, an ADL as
   ``adl``, any other trade not at all (except on Binance a liquidation or ADL whose forced order
   a reset erased before the bot read the trade list: nothing the exchange still answers marks
   it); every journaled fill is a
   trade the exchange made; every funding payment is journaled exactly once (symbol and amount to
   the cent); every order the exchange accepted from the bot is journaled, with the exchange's
   filled amount and a status that says the same (filled; partially filled; canceled with
   nothing filled; open while it rests) and no journaled order claims a fill or stays in flight
   (pending, open, unknown) when the exchange never accepted it.
4. ``unsettled``: after settling, every leg within target ± (deadband × target + 1 lot + drift ×
   target), for a target the leg had in the last W (a leg whose holding is gone must be flat).
5. ``settings``: every leg holding a position has the configured leverage and isolated margin
   (emulator state at the end); and no fill of the bot grew a position while the leg's leverage
   had been different from the configured one for longer than W before it (audit log).
6. ``rebalance``: no rebalance row ``failed`` or ``skipped`` without a reason: a note, or a reason
   other than the strategy's own ("static hedge: …", which says what was wanted, not what went
   wrong).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from bot.core.domain import ZERO, Fill, ForcedClose, FundingPayment
from bot.emulator.account import ADL_PREFIX, binance_id
from bot.journal.records import JournaledOrder, RebalanceRecord
from bot.sim.exchange import SimExchange
from tests.chaos.ledger import Event, Ledger, OrderFact, TargetLog

CENT = Decimal("0.01")
DRIFT = Decimal("0.005")
STRATEGY_REASON = re.compile(r"^static hedge: [^;]*$")
"""The strategy's own words alone: a failed or skipped cycle must say more."""
IN_FLIGHT = frozenset({"pending", "open", "unknown"})
MAX_PER_KIND = 4
"""Violations of one invariant on one symbol listed per trial; the rest are counted."""


@dataclass(frozen=True, slots=True)
class Rules:
    """What the trial's config promised."""

    deadband: Decimal
    leverage: int
    window: timedelta
    """One cycle's longest duration, in the emulator clock's time."""


@dataclass(frozen=True, slots=True)
class JournalView:
    """What the bot journaled under its venue name."""

    orders: Sequence[JournaledOrder]
    fills: Sequence[Fill]
    funding: Sequence[FundingPayment]
    rebalances: Sequence[RebalanceRecord]


def _num(value: Decimal) -> str:
    return f"{value.normalize():f}" if value == value.to_integral_value() else f"{value:f}"


def _round(value: Decimal, places: int = 6) -> str:
    return _num(value.quantize(Decimal(1).scaleb(-places)).normalize())


def duplicate_client_ids(events: Iterable[Event]) -> list[str]:
    """Invariant 1: no client order id accepted twice."""
    accepted: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        if event.kind == "order_accepted" and not event.external and event.client_order_id:
            accepted[event.client_order_id].append(event)
    return [
        f"dup-client-id: {cid} accepted {len(found)}× by the exchange "
        f"({found[0].symbol}, orders {', '.join(str(e.order_id) for e in found)})"
        for cid, found in accepted.items()
        if len(found) > 1
    ]


def over_hedges(
    events: Sequence[Event],
    ledger: Ledger,
    targets: TargetLog,
    rules: Rules,
    lots: Mapping[str, Decimal],
    reads: Sequence[int] = (),
) -> list[str]:
    """Invariant 2: no short grown by the bot beyond its bound, at any state change.

    Someone else's trade that grew the short and that no position read between it and the bot's
    order could have shown (``reads``: request numbers of the position reads) is added to the
    bound: the bot sized its order without it. Seen, it is the bot's to correct.
    """
    accepted = ledger.accepted_times()
    accepted_at = {
        event.order_id: index
        for index, event in enumerate(events)
        if event.kind == "order_accepted" and event.order_id is not None
    }
    ordered_reads = sorted(reads)
    unseen: dict[str, list[tuple[int, int, Decimal]]] = defaultdict(list)
    held: dict[str, Decimal] = {}
    found: dict[str, list[str]] = defaultdict(list)
    for index, event in enumerate(events):
        if event.symbol is None or event.position is None:
            continue
        before = held.get(event.symbol, ZERO)
        held[event.symbol] = event.position
        short, was = -event.position, -before
        if event.external and event.kind == "fill" and short > max(was, ZERO):
            first = ledger.first_seen.get(index, ledger.request_of(index) + 1)
            unseen[event.symbol].append((index, first, short - max(was, ZERO)))
        if event.kind != "fill" or event.external or event.symbol not in targets.legs:
            continue
        if short <= 0 or short <= was:
            continue
        placed = accepted.get(event.order_id or "", event.time)
        start = min(placed, event.time) - rules.window
        highest = targets.highest(event.symbol, start, event.time)
        lot = lots[event.symbol]
        order_request = ledger.request_of(accepted_at.get(event.order_id or "", index))
        excuse = sum(
            (
                grown
                for at, first, grown in unseen[event.symbol]
                if at < index and not _read_between(ordered_reads, first, order_request)
            ),
            ZERO,
        )
        bound = highest * (1 + rules.deadband) + lot + DRIFT * highest + excuse
        if short > bound:
            unseen_note = f" + {_num(excuse)} someone else sold unseen" if excuse else ""
            found[event.symbol].append(
                f"over-hedge: {event.symbol} short {_num(short)} > bound {_round(bound)} "
                f"(target ≤ {_round(highest)} + {rules.deadband * 100:g}% deadband + 1 lot "
                f"{_num(lot)}{unseen_note}) at fill #{event.seq} of {event.client_order_id} "
                f"(+{_num(short - was)}, {event.time:%H:%M:%S})"
            )
    return _capped(found)


def _read_between(reads: Sequence[int], first: int, before: int) -> bool:
    """Return whether some position read has a number in [first, before)."""
    i = bisect_left(reads, first)
    return i < len(reads) and reads[i] < before


def _capped(found: Mapping[str, list[str]]) -> list[str]:
    lines: list[str] = []
    for items in found.values():
        lines += items[:MAX_PER_KIND]
        if len(items) > MAX_PER_KIND:
            lines.append(f"  … and {len(items) - MAX_PER_KIND} more like it")
    return lines


def forgotten_liquidations(
    events: Sequence[Event], ledger: Ledger, trade_reads: Sequence[tuple[int, str | None]]
) -> set[str]:
    """Return the order ids of liquidations and ADLs a reset made unknowable before the bot looked.

    Binance's trade list does not mark a liquidation or an ADL; its forced-orders list does, and
    an account reset erases that with every other order record. A forced close followed by a
    reset with no read of the trade list in between can be journaled to the cent, but nothing
    the exchange still answers says what it was (``trade_reads``: the trade-list reads, each with
    its request number and the exchange symbol it asked for, None for every symbol).
    """
    resets = sorted(ledger.seen_by(e.seq - 1) for e in events if e.kind == "reset")
    forgotten = set()
    for event in events:
        forced = event.kind == "liquidation" or event.client_order_id == ADL_PREFIX
        if not forced or event.order_id is None or event.symbol is None:
            continue
        asked = (binance_id(event.symbol), None)
        reads = sorted(number for number, symbol in trade_reads if symbol in asked)
        at = ledger.seen_by(event.seq - 1)
        later = [r for r in resets if r >= at]
        if later and not _read_between(reads, at, later[0]):
            forgotten.add(event.order_id)
    return forgotten


def journal_fills(
    ledger: Ledger,
    journal: JournalView,
    trade_key: Mapping[str, tuple[str, str]],
    unflaggable: Iterable[str] = (),
) -> list[str]:
    """Invariant 3a: every trade journaled exactly once, to the cent; no phantom fills.

    ``trade_key`` gives each simulated trade's (symbol, trade id) as the face reports it: the
    journal's key (Binance numbers trades per symbol). Each fill must say how the exchange forced
    it (`ForcedClose`), exactly; the forced closes of the orders in ``unflaggable``
    (`forgotten_liquidations`) need not.
    """
    exempt = set(unflaggable)
    problems: list[str] = []
    by_id: dict[tuple[str, str], list[Fill]] = defaultdict(list)
    for fill in journal.fills:
        by_id[(fill.symbol, fill.trade_id)].append(fill)
    known = set()
    for sim_id, trade in sorted(ledger.trades.items(), key=lambda t: int(t[0])):
        key = trade_key[sim_id]
        venue_id = key[1]
        known.add(key)
        rows = by_id.get(key, [])
        what = (
            f"trade {venue_id} ({trade.client_order_id or 'liquidation'}, {trade.symbol} "
            f"{trade.side.value} {_num(trade.amount)} @ {_round(trade.price, 2)})"
        )
        if len(rows) > 1:
            problems.append(f"journal-fills: {what} journaled {len(rows)}×")
        if not rows:
            problems.append(f"journal-fills: {what} not journaled")
            continue
        row = rows[0]
        if row.amount != trade.amount or abs(row.price - trade.price) >= CENT:
            problems.append(
                f"journal-fills: {what} journaled as {_num(row.amount)} @ {_round(row.price, 2)}"
            )
        if row.forced != trade.forced and trade.order_id not in exempt:
            problems.append(
                f"journal-fills: {what} journaled as {_forced_name(row.forced)}, "
                f"the exchange's was {_forced_name(trade.forced)}"
            )
    for key, rows in by_id.items():
        if key not in known:
            row = rows[0]
            problems.append(
                f"journal-fills: journaled fill {key[1]} ({row.symbol} {_num(row.amount)} @ "
                f"{_round(row.price, 2)}) is no trade of the exchange"
            )
    return problems


def _forced_name(forced: ForcedClose | None) -> str:
    """Return how a trade was forced, in words."""
    return "an ordinary trade" if forced is None else f"a forced close ({forced.value})"


def journal_funding(ledger: Ledger, journal: JournalView) -> list[str]:
    """Invariant 3b: every funding payment journaled exactly once, to the cent."""
    exchange: dict[str, list[Decimal]] = defaultdict(list)
    journaled: dict[str, list[Decimal]] = defaultdict(list)
    for payment in ledger.funding.values():
        if payment.amount != 0:
            exchange[payment.symbol].append(payment.amount)
    for row in journal.funding:
        if row.amount != 0:
            journaled[row.symbol].append(row.amount)
    problems = []
    for symbol in sorted(set(exchange) | set(journaled)):
        missing, extra = _unmatched(sorted(exchange[symbol]), sorted(journaled[symbol]))
        problems += [
            f"journal-funding: {symbol} payment {_round(a, 8)} on the exchange, not journaled"
            for a in missing
        ]
        problems += [
            f"journal-funding: {symbol} journaled payment {_round(a, 8)} is no payment of the "
            "exchange (or journaled twice)"
            for a in extra
        ]
    return problems


def _unmatched(
    left: Sequence[Decimal], right: Sequence[Decimal]
) -> tuple[list[Decimal], list[Decimal]]:
    """Pair sorted amounts that agree to within a cent; return what is left on each side."""
    i = j = 0
    only_left: list[Decimal] = []
    only_right: list[Decimal] = []
    while i < len(left) and j < len(right):
        if abs(left[i] - right[j]) < CENT:
            i, j = i + 1, j + 1
        elif left[i] < right[j]:
            only_left.append(left[i])
            i += 1
        else:
            only_right.append(right[j])
            j += 1
    return only_left + list(left[i:]), only_right + list(right[j:])


def expected_status(fact: OrderFact) -> str:
    """Return the journal status that says what the exchange says of an order."""
    if fact.open:
        return "open"
    if fact.filled == fact.amount:
        return "filled"
    if fact.filled > 0:
        return "partially_filled"
    return "canceled"


def journal_orders(ledger: Ledger, journal: JournalView) -> list[str]:
    """Invariant 3c: the bot's accepted orders journaled with the exchange's outcome."""
    problems = []
    latest: dict[str, OrderFact] = {}
    for fact in ledger.bot_orders():
        latest[fact.client_order_id] = fact  # a repeated id is invariant 1's; judge the last
    rows = {o.client_order_id: o for o in journal.orders}
    for cid, fact in latest.items():
        row = rows.get(cid)
        exchange = f"exchange {fact.status} {_num(fact.filled)}/{_num(fact.amount)}"
        if row is None:
            problems.append(f"journal-orders: {cid} ({fact.symbol}) {exchange}, not journaled")
            continue
        want = expected_status(fact)
        if row.status != want or row.filled != fact.filled:
            problems.append(
                f"journal-orders: {cid} ({fact.symbol}) {exchange}, journal {row.status} "
                f"{_num(row.filled)}"
            )
    for cid, row in rows.items():
        if cid in latest:
            continue
        if (
            row.filled > 0
            or row.status in ("filled", "partially_filled")
            or (row.status in IN_FLIGHT)
        ):
            problems.append(
                f"journal-orders: {cid} ({row.symbol}) journal {row.status} "
                f"{_num(row.filled)}, never accepted by the exchange"
            )
    return problems


def resting_shorts(ledger: Ledger) -> dict[str, Decimal]:
    """Return, per symbol, how much the resting orders would add to the short if they filled."""
    pending: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for fact in ledger.orders.values():
        if fact.open:
            rest = fact.amount - fact.filled
            pending[fact.symbol] += rest if fact.side.value == "sell" else -rest
    return dict(pending)


def unsettled(
    sim: SimExchange,
    targets: TargetLog,
    rules: Rules,
    lots: Mapping[str, Decimal],
    now: datetime,
    resting: Mapping[str, Decimal] | None = None,
    since: datetime | None = None,
) -> list[str]:
    """Invariant 4: every leg within target ± deadband + 1 lot after settling.

    Orders still resting count toward the position (they may fill at any time): the leg must be
    in its band both as it is and as it would be if they filled. The targets are those in force
    over the last window, or since ``since`` when that is later.
    """
    problems = []
    for symbol in sorted(targets.legs):
        position = sim.positions.get(symbol)
        short = -position.contracts if position is not None else ZERO
        pending = (resting or {}).get(symbol, ZERO)
        start = now - rules.window if since is None else max(now - rules.window, since)
        aims = targets.candidates(symbol, start, now)
        lot = lots[symbol]

        def within(amount: Decimal, aim: Decimal, lot: Decimal = lot) -> bool:
            return abs(amount - aim) <= rules.deadband * aim + lot + DRIFT * aim

        if any(within(short, aim) and within(short + pending, aim) for aim in aims):
            continue
        aim = min(aims, key=lambda a: abs(short - a) + abs(short + pending - a))
        band = rules.deadband * aim + lot + DRIFT * aim
        resting_note = f" + {_num(pending)} resting" if pending else ""
        problems.append(
            f"unsettled: {symbol} short {_num(short)}{resting_note} vs target {_round(aim)} "
            f"± {_round(band)}"
        )
    return problems


def settled(
    sim: SimExchange,
    targets: TargetLog,
    rules: Rules,
    lots: Mapping[str, Decimal],
    now: datetime,
    since: datetime | None = None,
) -> bool:
    """Return whether invariant 4 holds now for the positions (the settling phase's test)."""
    return not unsettled(sim, targets, rules, lots, now, since=since)


def settings(
    sim: SimExchange,
    events: Sequence[Event],
    rules: Rules,
    default_leverage: int,
    start: datetime,
) -> list[str]:
    """Invariant 5: configured leverage and isolated margin on every leg with a position."""
    problems = []
    for symbol, position in sorted(sim.positions.items()):
        if position.contracts == 0:
            continue
        leverage = sim.leverage_of(symbol)
        if leverage != rules.leverage:
            problems.append(
                f"settings: {symbol} holds {_num(position.contracts)} at leverage {leverage} "
                f"(configured {rules.leverage})"
            )
        if symbol not in sim.isolated:
            problems.append(
                f"settings: {symbol} holds {_num(position.contracts)} in cross margin "
                "(configured isolated)"
            )
    since: dict[str, tuple[int, datetime]] = {}
    held: dict[str, Decimal] = {}
    found: dict[str, list[str]] = defaultdict(list)
    for event in events:
        if event.symbol is None:
            continue
        if event.kind == "leverage" and event.amount is not None:
            since[event.symbol] = (int(event.amount), event.time)
        elif event.kind == "reset":
            since[event.symbol] = (default_leverage, event.time)
        if event.position is None:
            continue
        before = held.get(event.symbol, ZERO)
        held[event.symbol] = event.position
        grew = abs(event.position) > abs(before)
        if event.kind != "fill" or event.external or not grew:
            continue
        leverage, when = since.get(event.symbol, (default_leverage, start))
        if leverage != rules.leverage and when <= event.time - rules.window:
            found[event.symbol].append(
                f"settings: fill #{event.seq} of {event.client_order_id} grew {event.symbol} "
                f"to {_num(event.position)} at leverage {leverage} (configured {rules.leverage},"
                f" since {when:%H:%M:%S})"
            )
    return problems + _capped(found)


def unexplained_rebalances(journal: JournalView) -> list[str]:
    """Invariant 6: no failed or skipped rebalance without a reason."""
    problems = []
    for row in journal.rebalances:
        if row.status not in ("failed", "skipped"):
            continue
        explained = bool((row.note or "").strip()) or (
            bool(row.reason.strip()) and not STRATEGY_REASON.match(row.reason)
        )
        if not explained:
            problems.append(f"rebalance: {row.id} {row.status} without a reason")
    return problems
