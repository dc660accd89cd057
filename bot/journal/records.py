"""Plain frozen records that cross the journal's boundary; ORM rows never leave bot/journal/."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import Enum, StrEnum
from typing import Any

from bot.core.domain import ZERO, HedgeTarget, OrderStatus, Position, Quote, Side
from bot.core.plausibility import Baseline
from strategies.base import HoldingView


class RunMode(StrEnum):
    """How a rebalance was executed."""

    PAPER = "paper"
    LIVE = "live"
    DRY_RUN = "dry-run"


class RebalanceStatus(StrEnum):
    """Outcome of one rebalance."""

    PLANNED = "planned"  # journaled before any order is sent
    DONE = "done"  # orders placed and confirmed
    HELD = "held"  # every leg within its deadband: nothing to do
    DRY_RUN = "dry-run"  # planned and shown only (never journaled by the engine)
    HALTED = "halted"  # the kill switch is on: planned and recorded, nothing placed
    SKIPPED = "skipped"
    FAILED = "failed"
    PARTIAL = "partial"


@dataclass(frozen=True, slots=True)
class EventRecord:
    """An operational event: a guard trip, a liquidation seen, the kill switch flipped."""

    kind: str
    time: datetime
    message: str
    data: dict[str, Any]
    venue: str | None = None


@dataclass(frozen=True, slots=True)
class RebalanceRecord:
    """One rebalance: what the strategy saw, what it wanted, and why.

    ``mode`` and ``status`` also accept their plain string values (``"dry-run"``, ``"done"``);
    unknown values raise ``ValueError``. ``inputs`` and ``targets`` may hold Decimals and
    datetimes: the journal stores them through :func:`to_jsonable`, so they come back as strings.
    """

    id: str
    time: datetime
    mode: RunMode
    venue: str
    strategy: str
    inputs: dict[str, Any]
    targets: dict[str, Any]
    reason: str
    status: RebalanceStatus
    note: str | None = None

    def __post_init__(self) -> None:
        """Coerce ``mode`` and ``status`` to their enums, refusing unknown values."""
        object.__setattr__(self, "mode", RunMode(self.mode))
        object.__setattr__(self, "status", RebalanceStatus(self.status))


@dataclass(frozen=True, slots=True)
class JournaledOrder:
    """An order as the journal knows it: the intent plus the venue's latest word on it."""

    client_order_id: str
    venue: str
    symbol: str
    side: Side
    amount: Decimal
    reduce_only: bool
    reference_price: Decimal
    status: OrderStatus
    filled: Decimal
    reason: str
    created_at: datetime
    updated_at: datetime
    venue_order_id: str | None = None
    average_price: Decimal | None = None
    rebalance_id: str | None = None


@dataclass(frozen=True, slots=True)
class PositionSnapshot:
    """A perp position at one moment; ``contracts`` is signed (negative = short)."""

    time: datetime
    venue: str
    symbol: str
    contracts: Decimal
    entry_price: Decimal
    mark_price: Decimal
    isolated_margin: Decimal
    leverage: int
    liquidation_price: Decimal | None = None
    target_notional: Decimal | None = None
    hedged_value: Decimal | None = None
    rebalance_id: str | None = None


@dataclass(frozen=True, slots=True)
class JournalTotals:
    """What the insurance cost over a window, exact to the last digit.

    ``fees`` sums fees charged in USDT; fees charged in any other currency (e.g. BNB) are summed
    per currency in ``other_fees``. ``funding_paid`` is a positive number;
    ``funding_net = funding_received - funding_paid``. ``liquidation_count`` and ``adl_count``
    count the fills the exchange forced, by kind.
    """

    fees: Decimal
    funding_received: Decimal
    funding_paid: Decimal
    funding_net: Decimal
    realized_pnl: Decimal
    liquidation_count: int
    adl_count: int
    fills: int
    funding_payments: int
    orders: int
    rebalances: int
    other_fees: dict[str, Decimal] = field(default_factory=dict)


def to_jsonable(obj: Any) -> Any:
    """Return ``obj`` as JSON-safe data: Decimals become strings, datetimes ISO strings.

    Walks dicts (keys become strings), lists, tuples, sets and dataclass instances; enums
    become their values. Raises ``TypeError`` for anything else that JSON cannot hold.
    """
    if obj is None or isinstance(obj, bool | int | float):
        return obj
    if isinstance(obj, Enum):
        return to_jsonable(obj.value)
    if isinstance(obj, str):
        return obj
    if isinstance(obj, Decimal):
        return format(obj, "f")
    if isinstance(obj, datetime | date):
        return obj.isoformat()
    if isinstance(obj, Mapping):
        return {str(to_jsonable(key)): to_jsonable(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [to_jsonable(item) for item in obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    raise TypeError(f"cannot store {type(obj).__name__} as JSON: {obj!r}")


def targets_json(targets: Iterable[HedgeTarget]) -> dict[str, Any]:
    """Return hedge targets in the journal's shape: symbol -> notional, reason, sources.

    ``sources`` maps each holding asset to the spot value it insures through the leg.
    """
    return {
        target.symbol: {
            "notional": format(target.notional, "f"),
            "reason": target.reason,
            "sources": {asset: format(insured, "f") for asset, insured in target.sources},
        }
        for target in targets
    }


@dataclass(frozen=True, slots=True)
class CycleRecord:
    """One engine cycle as it saw and decided it; `to_rebalance` makes the journal's row."""

    id: str
    time: datetime
    mode: RunMode
    venue: str
    strategy: str
    holdings: Sequence[HoldingView]
    quotes: Mapping[str, Quote]
    positions: Mapping[str, Position]
    collateral: Decimal
    targets: Sequence[HedgeTarget]
    reason: str
    status: RebalanceStatus
    strategy_inputs: Mapping[str, Any] = field(default_factory=dict)
    baseline: Baseline | None = None
    """Kept in the row so that the next process restores it (`Baseline.from_json`)."""
    notes: Sequence[str] = ()

    def to_rebalance(self) -> RebalanceRecord:
        """Return the rebalance row: the inputs the decision was made on, as JSON-safe data."""
        inputs: dict[str, Any] = {
            "holdings": {
                h.asset: {"amount": h.amount, "price": h.price, "value": h.value}
                for h in self.holdings
            },
            "perp_prices": {s: q.mark_or_last for s, q in self.quotes.items() if ":" in s},
            "positions": {
                s: {
                    "short_contracts": p.short_contracts,
                    "entry": p.entry_price,
                    "margin": p.isolated_margin,
                }
                for s, p in self.positions.items()
            },
            "collateral": self.collateral,
            "strategy": dict(self.strategy_inputs),
        }
        if self.baseline is not None:
            inputs["baseline"] = self.baseline.to_json()
        return RebalanceRecord(
            id=self.id,
            time=self.time,
            mode=self.mode,
            venue=self.venue,
            strategy=self.strategy,
            inputs=inputs,
            targets=targets_json(self.targets),
            reason=self.reason,
            status=self.status,
            note="; ".join(self.notes) or None,
        )


def position_snapshots(
    rebalance_id: str,
    time: datetime,
    venue: str,
    positions: Mapping[str, Position],
    quotes: Mapping[str, Quote],
    targets: Sequence[HedgeTarget],
    symbols: Iterable[str],
    default_leverage: int,
) -> list[PositionSnapshot]:
    """Return each leg's snapshot rows after a cycle: position, mark, target and what it insures.

    A leg in ``symbols`` the exchange shows no position for is journaled flat.
    """
    wanted = {t.symbol: t for t in targets}
    rows = []
    for symbol in symbols:
        position, quote, target = positions.get(symbol), quotes.get(symbol), wanted.get(symbol)
        rows.append(
            PositionSnapshot(
                time=time,
                venue=venue,
                symbol=symbol,
                contracts=position.signed_contracts if position else ZERO,
                entry_price=position.entry_price if position else ZERO,
                mark_price=quote.mark_or_last if quote else ZERO,
                isolated_margin=position.isolated_margin if position else ZERO,
                leverage=position.leverage if position else default_leverage,
                liquidation_price=position.liquidation_price if position else None,
                target_notional=target.notional if target else ZERO,
                hedged_value=sum((v for _, v in target.sources), ZERO) if target else None,
                rebalance_id=rebalance_id,
            )
        )
    return rows
