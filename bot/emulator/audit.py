"""The emulated account's audit log: every event that changed what the exchange holds, in order.

A chaos soak checks its invariants against this log (no client order id accepted twice, no
position ever beyond a bound), so it records each change as it happens, not the end state. Fills
and liquidations come from the simulation's append-only trade ledger, followed up to its end
whenever the account acts or the log is read, so a liquidation applied while the simulation caught
up with its clock appears with the position it left. The log is append-only and never cleared.

Kinds (``amount`` is signed: buy > 0, sell < 0; ``position`` is the symbol's signed contracts
after the event):

- ``order_accepted``: an order the exchange accepted, resting or filled, before any of its fills;
  ``amount`` is its quantity;
- ``fill``: one execution of one of the account's orders (the bot's, someone else's, a resting
  order's late fill, the exchange's ADL order); ``amount`` is the executed quantity;
- ``liquidation``: the simulation closed the position at its liquidation price;
- ``reset``: the exchange lost its state (one event per market); ``amount`` is minus what was held;
- ``leverage``: leverage set, by the API or out of band; ``amount`` is the new leverage.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from bot.core.domain import ZERO, ForcedClose, Side
from bot.sim.exchange import SimExchange, SimOrder, SimTrade

ORDER_ACCEPTED = "order_accepted"
FILL = "fill"
LIQUIDATION = "liquidation"
RESET = "reset"
LEVERAGE = "leverage"


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One change of the account; ``seq`` counts from 1, ``wall`` is `time.monotonic`."""

    seq: int
    wall: float
    kind: str
    symbol: str
    position: Decimal
    client_order_id: str | None
    order_id: int | None
    amount: Decimal


def signed(side: Side, amount: Decimal) -> Decimal:
    """Return ``amount`` signed by ``side`` (buy > 0)."""
    return amount if side is Side.BUY else -amount


class AuditTrail:
    """The audit log of one simulated account, following its trade ledger."""

    def __init__(self, sim: SimExchange) -> None:
        """Start after the trades and from the positions ``sim`` already holds."""
        self.events: list[AuditEvent] = []
        self._sim = sim
        self._followed = len(sim.trades)
        self._held = {symbol: pos.contracts for symbol, pos in sim.positions.items()}

    def since(self, seq: int) -> list[AuditEvent]:
        """Return the events after ``seq`` (0: all), following the ledger first."""
        self.sync()
        return self.events[max(seq, 0) :]

    def sync(self) -> None:
        """Log every trade the ledger gained since the last call."""
        self._follow(len(self._sim.trades))

    def accepted(self, order: SimOrder) -> None:
        """Log that ``order`` was accepted, after older trades and before its own fills."""
        trades = self._sim.trades
        pending = range(self._followed, len(trades))
        own = (i for i in pending if trades[i].order_id == order.order_id)
        self._follow(next(own, len(trades)))
        amount = signed(order.side, order.amount)
        self._log(ORDER_ACCEPTED, order.symbol, order.client_order_id, int(order.order_id), amount)
        self.sync()

    def reset(self, symbols: Iterable[str], lost: Mapping[str, Decimal]) -> None:
        """Log that the exchange lost its state: one event per symbol, each now flat."""
        self.sync()
        for symbol in sorted(symbols):
            self._held[symbol] = ZERO
            self._log(RESET, symbol, None, None, -lost.get(symbol, ZERO))

    def leverage(self, symbol: str, leverage: int) -> None:
        """Log that ``symbol``'s leverage was set."""
        self.sync()
        self._log(LEVERAGE, symbol, None, None, Decimal(leverage))

    def _follow(self, stop: int) -> None:
        for trade in self._sim.trades[self._followed : stop]:
            self._trade(trade)
        self._followed = max(self._followed, stop)

    def _trade(self, trade: SimTrade) -> None:
        amount = signed(trade.side, trade.amount)
        held = self._held.get(trade.symbol, ZERO)
        liquidated = trade.forced is ForcedClose.LIQUIDATION
        self._held[trade.symbol] = ZERO if liquidated else held + amount
        kind = LIQUIDATION if liquidated else FILL
        self._log(kind, trade.symbol, trade.client_order_id, int(trade.order_id), amount)

    def _log(
        self,
        kind: str,
        symbol: str,
        client_order_id: str | None,
        order_id: int | None,
        amount: Decimal,
    ) -> None:
        position = self._held.get(symbol, ZERO)
        event = AuditEvent(
            len(self.events) + 1,
            time.monotonic(),
            kind,
            symbol,
            position,
            client_order_id,
            order_id,
            amount,
        )
        self.events.append(event)
