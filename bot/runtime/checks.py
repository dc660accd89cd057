"""Checks: act on nothing implausible (prices against spot, positions against the fills).

`PositionWatch` keeps the last validated positions (the baseline) across cycles and processes;
`check_prices` re-reads a perp price that disagrees with its spot and blocks its leg if it holds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from bot.core.clock import Clock
from bot.core.domain import base_of, spot_symbol
from bot.core.plausibility import (
    Baseline,
    expected_positions,
    implausible_prices,
    signed_contracts,
    unexplained_changes,
)
from bot.journal.records import to_jsonable
from bot.journal.store import Journal
from bot.runtime.observe import Observation
from bot.runtime.protection import record_vanished, vanished_positions
from bot.venue.base import Venue

BASELINE_SEARCH = 20
"""Rebalances looked back through for the last journaled baseline when a process starts."""


@dataclass(frozen=True, slots=True)
class PositionCheck:
    """The outcome of `PositionWatch.check`: what to use, whether to act, and what was seen."""

    seen: Observation
    doubt: str | None
    """Why to act on nothing this cycle, or None."""
    notes: list[str]


class PositionWatch:
    """Positions may change only by fills the exchange reports; anything else is held in doubt.

    A change no fill explains is re-read after pulling fills again (``sync``); a read that returns
    to the baseline was a blip; one that holds is acted on only once it has held for
    ``confirm_seconds``, and is journaled as a ``position_mismatch``.
    """

    def __init__(
        self, venue: Venue, journal: Journal, clock: Clock, confirm_seconds: float
    ) -> None:
        """Start with no baseline: the first check restores the last one journaled."""
        self.venue = venue
        self.journal = journal
        self.clock = clock
        self.confirm_seconds = confirm_seconds
        self.baseline: Baseline | None = None
        self._restored = False
        self._unconfirmed: dict[str, tuple[Decimal, datetime]] = {}
        self._last_cycle: tuple[dict[str, Decimal], datetime] | None = None

    def held_legs(self) -> set[str]:
        """Return the legs the journal says we hold: the baseline moved by the fills since."""
        self._restore()
        if self.baseline is None:
            return set(self.journal.held_symbols(self.venue.name))
        fills = self.journal.fills_after(self.venue.name, self.baseline.fill_watermark)
        return set(expected_positions(self.baseline, fills))

    def accept(self, seen: Observation) -> None:
        """Take ``seen``'s positions as the baseline (with the fills journaled so far)."""
        self._unconfirmed = {}
        self.baseline = Baseline(
            signed_contracts(seen.positions), self.journal.fill_watermark(self.venue.name)
        )

    def after_cycle(self, contracts: dict[str, Decimal], since: datetime) -> None:
        """Remember the positions a cycle left, and from when fills are news to them."""
        self._last_cycle = (contracts, since)

    def vanished(self, seen: Observation) -> list[str]:
        """Journal positions that shrank or vanished since the last cycle without our orders."""
        if self._last_cycle is None:
            return []
        before, since = self._last_cycle
        venue = self.venue.name
        gone = vanished_positions(before, seen.positions, self.journal, venue, since)
        return record_vanished(self.journal, venue, gone, seen.time)

    async def check(
        self, seen: Observation, sync: Callable[[], Awaitable[object]]
    ) -> PositionCheck:
        """Check ``seen``'s positions against the baseline moved by the fills journaled since."""
        self._restore()
        if self.baseline is None:
            self.accept(seen)
            return PositionCheck(seen, None, [])
        changes = self._unexplained(signed_contracts(seen.positions))
        if not changes:
            self.accept(seen)
            return PositionCheck(seen, None, [])
        await sync()  # the exchange may show fills it had not reported yet
        reread = await self.venue.fetch_positions(sorted(set(seen.positions) | set(changes)))
        seen = replace(seen, positions=reread)
        again = self._unexplained(signed_contracts(reread))
        if not again:
            self.accept(seen)
            note = "a position read no fill explained was re-read and is consistent"
            return PositionCheck(seen, None, [note])
        held = self._still_unconfirmed(changes, again)
        if held:
            reason = "positions look implausible; acting on nothing: " + "; ".join(held)
            return PositionCheck(seen, reason, [])
        notes = []
        for symbol, (expected, reported) in again.items():
            message = (
                f"{symbol}: the exchange has shown {reported} contracts (expected {expected}) "
                f"unchanged for {self.confirm_seconds} s with no fill to explain it; "
                "taken as the truth"
            )
            notes.append(message)
            self.journal.record_event(
                "position_mismatch",
                seen.time,
                message,
                to_jsonable({"symbol": symbol, "expected": expected, "actual": reported}),
                venue=self.venue.name,
            )
        self.accept(seen)
        return PositionCheck(seen, None, notes)

    def _still_unconfirmed(
        self,
        first: Mapping[str, tuple[Decimal, Decimal]],
        again: Mapping[str, tuple[Decimal, Decimal]],
    ) -> list[str]:
        """Return why each unexplained leg is still waiting; empty once all held long enough."""
        now, wait = self.clock.now(), self.confirm_seconds
        held: list[str] = []
        for symbol, (expected, reported) in again.items():
            first_read = first.get(symbol, (expected, reported))[1]
            since = self._unconfirmed.get(symbol)
            if since is None or since[0] != reported or first_read != reported:
                self._unconfirmed[symbol] = (reported, now)
                held.append(
                    f"{symbol}: the exchange shows {reported} contracts, {expected} expected "
                    f"from the last look and the fills since; no fill explains it"
                )
            elif (now - since[1]).total_seconds() < wait:
                held.append(
                    f"{symbol}: {reported} contracts (expected {expected}) unexplained for "
                    f"{(now - since[1]).total_seconds():.0f} s; acting after {wait} s unchanged"
                )
        return held

    def _unexplained(self, actual: Mapping[str, Decimal]) -> dict[str, tuple[Decimal, Decimal]]:
        assert self.baseline is not None
        fills = self.journal.fills_after(self.venue.name, self.baseline.fill_watermark)
        return unexplained_changes(expected_positions(self.baseline, fills), actual)

    def _restore(self) -> None:
        """On a process's first look, take the baseline the last cycle journaled."""
        if self._restored:
            return
        self._restored = True
        rows = self.journal.rebalances(limit=BASELINE_SEARCH, venue=self.venue.name)
        for row in reversed(rows):
            found = Baseline.from_json((row.inputs or {}).get("baseline"))
            if found is not None:
                self.baseline = found
                return


async def check_prices(
    venue: Venue, journal: Journal, seen: Observation, quote: str, max_basis: Decimal
) -> tuple[Observation, dict[str, str]]:
    """Return the quotes to use and the legs whose perp price is implausible against spot.

    An implausible price is read once more; if it still is, its leg gets no order and no margin
    action this cycle, and the journal gets an ``implausible_price`` event.
    """
    legs = [s for s in seen.quotes if ":" in s]
    bad = implausible_prices(seen.quotes, legs, quote, max_basis)
    if not bad:
        return seen, {}
    again = sorted({*bad, *(spot_symbol(base_of(s), quote) for s in bad)})
    quotes = {**seen.quotes, **await venue.fetch_quotes(again)}
    seen = replace(seen, quotes=quotes)
    bad = implausible_prices(quotes, list(bad), quote, max_basis)
    for symbol, why in bad.items():
        journal.record_event(
            "implausible_price", seen.time, f"{symbol}: {why}", {"symbol": symbol}, venue=venue.name
        )
    return seen, bad
