"""What is worth telling an operator, as `Alert`s built from journal rows and run events (pure).

Journal events map by kind: ``margin_guard`` (top-up: warning, cut: error), ``liquidation``
(critical; a change no fill explains is someone else's: warning), ``adl`` (critical),
``position_mismatch`` (warning), ``implausible_price`` (warning), ``kill_switch`` (halt: warning,
resume: info). Rebalance rows: ``failed`` is an error, ``partial`` a warning; a run of cycles
refusing stale prices is one warning. The run command adds started / stopped (info), crashed and
keys refused (critical), and the daily digest (info).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import IntEnum
from typing import Any

from bot.journal.records import EventRecord, RebalanceRecord, RebalanceStatus
from bot.reporting.display import money, percent, signed
from bot.settings.secrets import mask

STALE_REASON = "refused to act on stale or missing prices"
"""How a cycle's reason begins when it would not act on its prices (`bot.runtime.engine`)."""


class Severity(IntEnum):
    """How urgent an alert is; a target takes those at or above its minimum."""

    INFO = 10
    WARNING = 20
    ERROR = 30
    CRITICAL = 40

    @classmethod
    def named(cls, name: str) -> Severity:
        """Return the severity called ``name`` (any case); raise ValueError naming the choices."""
        try:
            return cls[name.strip().upper()]
        except KeyError:
            choices = ", ".join(s.name.lower() for s in cls)
            raise ValueError(f"unknown severity {name!r}; use one of {choices}") from None


@dataclass(frozen=True, slots=True)
class Alert:
    """One message: ``key`` identifies it for deduplication (same key, same news)."""

    kind: str
    severity: Severity
    title: str
    body: str
    key: str

    def masked(self) -> Alert:
        """Return the alert with every known secret masked in its title and body."""
        return Alert(self.kind, self.severity, mask(self.title), mask(self.body), self.key)


def _figure(data: Mapping[str, Any], name: str) -> Decimal | None:
    value = data.get(name)
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _when(time: datetime) -> str:
    return f"{time:%Y-%m-%d %H:%M} UTC"


def _guard(event: EventRecord) -> Alert:
    data = event.data
    symbol = str(data.get("symbol", "?"))
    cut = data.get("action") == "cut"
    figures = [
        f"action {'cut' if cut else 'margin top-up'}: {data.get('outcome', '?')}",
        f"liquidation distance {percent(_figure(data, 'distance'))}, "
        f"mark {money(_figure(data, 'mark'), 4)}, "
        f"liquidation price {money(_figure(data, 'liquidation_price'), 4)}",
    ]
    if cut:
        figures.append(f"contracts closed {data.get('contracts', '?')}")
    else:
        figures.append(f"margin added {money(_figure(data, 'margin'))}")
    what = "cut the hedge" if cut else "added margin"
    return Alert(
        "guard_cut" if cut else "guard_top_up",
        Severity.ERROR if cut else Severity.WARNING,
        f"margin guard {what} on {symbol}",
        "\n".join([event.message, *figures, _when(event.time)]),
        f"{'guard_cut' if cut else 'guard_top_up'}:{symbol}:{data.get('rebalance_id', '')}",
    )


def _forced(event: EventRecord) -> Alert:
    data = event.data
    symbol = str(data.get("symbol", "?"))
    before, after = data.get("before", "?"), data.get("after", "?")
    if event.kind == "adl":
        kind, severity, title = "adl", Severity.CRITICAL, f"ADL on {symbol}"
    elif data.get("forced") == "liquidation" or data.get("liquidation_fill"):
        kind, severity, title = "liquidation", Severity.CRITICAL, f"LIQUIDATION on {symbol}"
    else:
        kind, severity = "position_changed", Severity.WARNING
        title = f"{symbol} changed by someone else"
    body = f"{event.message}\n{_when(event.time)}"
    return Alert(kind, severity, title, body, f"{kind}:{symbol}:{before}:{after}")


def _symbol_event(event: EventRecord, kind: str, title: str) -> Alert:
    symbol = str(event.data.get("symbol", "?"))
    body = f"{event.message}\n{_when(event.time)}"
    return Alert(kind, Severity.WARNING, f"{title} on {symbol}", body, f"{kind}:{symbol}")


def _kill_switch(event: EventRecord) -> Alert:
    on = not event.message.startswith("resumed")
    account = event.data.get("account", "")
    title = "kill switch ON: no new orders" if on else "kill switch off: orders allowed"
    return Alert(
        "kill_switch",
        Severity.WARNING if on else Severity.INFO,
        title,
        f"{event.message}\n{_when(event.time)}",
        f"kill_switch:{account}:{'on' if on else 'off'}:{event.time.isoformat()}",
    )


def alert_for_event(event: EventRecord) -> Alert | None:
    """Return the alert a journal event calls for; None for kinds that are no news."""
    if event.kind == "margin_guard":
        return _guard(event)
    if event.kind in ("liquidation", "adl"):
        return _forced(event)
    if event.kind == "position_mismatch":
        return _symbol_event(event, "position_changed", "position changed by someone else")
    if event.kind == "implausible_price":
        return _symbol_event(event, "implausible_price", "implausible price")
    if event.kind == "kill_switch":
        return _kill_switch(event)
    return None


def alert_for_rebalance(row: RebalanceRecord) -> Alert | None:
    """Return the alert a failed or partial rebalance calls for; None otherwise."""
    if row.status not in (RebalanceStatus.FAILED, RebalanceStatus.PARTIAL):
        return None
    failed = row.status is RebalanceStatus.FAILED
    return Alert(
        "order_failed",
        Severity.ERROR if failed else Severity.WARNING,
        f"rebalance {row.status}: orders {'failed' if failed else 'partly done'} on {row.venue}",
        f"{row.reason or 'no reason recorded'}\nrebalance {row.id}, {_when(row.time)}",
        f"order_failed:{row.id}:{row.status}",
    )


def is_stale(row: RebalanceRecord) -> bool:
    """Return whether the cycle refused to act on stale or missing prices."""
    return row.status is RebalanceStatus.SKIPPED and row.reason.startswith(STALE_REASON)


def stale_alert(row: RebalanceRecord, cycles: int) -> Alert:
    """Return the alert for ``cycles`` cycles in a row on stale prices, the last being ``row``."""
    return Alert(
        "stale_prices",
        Severity.WARNING,
        f"stale prices for {cycles} cycles on {row.venue}: no orders",
        f"{row.reason}\nlatest rebalance {row.id}, {_when(row.time)}",
        f"stale_prices:{row.venue}",
    )


def lifecycle_alert(kind: str, account: str, detail: str = "") -> Alert:
    """Return a run's own alert: ``started``, ``stopped``, ``crashed`` or ``auth_failed``."""
    severity, title = {
        "started": (Severity.INFO, f"hedgebot started on {account}"),
        "stopped": (Severity.INFO, f"hedgebot stopped on {account}"),
        "crashed": (Severity.CRITICAL, f"hedgebot CRASHED on {account}: the hedge is unattended"),
        "auth_failed": (
            Severity.CRITICAL,
            f"hedgebot stopped on {account}: the exchange refused the API keys",
        ),
    }[kind]
    return Alert(kind, severity, title, detail or title, f"{kind}:{account}:{detail}")


@dataclass(frozen=True, slots=True)
class LegLine:
    """One leg in the digest: its hedge ratio against its target, its liquidation distance."""

    symbol: str
    ratio: Decimal | None
    target: Decimal | None
    distance: Decimal | None


@dataclass(frozen=True, slots=True)
class Digest:
    """The daily digest's figures (see `bot.notify.digest`)."""

    venue: str
    day: datetime
    legs: Sequence[LegLine]
    carry_cost: Decimal
    fees: Decimal
    funding_received: Decimal
    funding_paid: Decimal


def digest_alert(digest: Digest) -> Alert:
    """Return the daily digest as an info alert."""
    lines = [
        f"{leg.symbol}: hedge {percent(leg.ratio)} vs target {percent(leg.target)}, "
        f"liquidation {percent(leg.distance)} away"
        for leg in digest.legs
    ] or ["no open leg"]
    lines += [
        f"carry cost so far {signed(digest.carry_cost)} (fees {money(digest.fees)})",
        f"funding received {money(digest.funding_received)}, paid {money(digest.funding_paid)}",
    ]
    return Alert(
        "digest",
        Severity.INFO,
        f"hedgebot daily digest {digest.day:%Y-%m-%d} — {digest.venue}",
        "\n".join(lines),
        f"digest:{digest.venue}:{digest.day:%Y-%m-%d}",
    )
