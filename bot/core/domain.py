"""Small frozen value types shared by every layer. Money and quantities are `Decimal`.

Conventions:
- A perp symbol is ccxt's unified one (``"BTC/USDT:USDT"``); a spot symbol is ``"BTC/USDT"``.
- Position size is kept as a positive ``contracts`` figure plus a ``side``; ``signed_contracts``
  is negative for a short.
- Funding ``amount`` is signed as seen by the account: positive = received, negative = paid.
- A hedge target is the *short* notional wanted on a perp, in quote currency (USDT), ``>= 0``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

ZERO = Decimal(0)


class Side(StrEnum):
    """Order side."""

    BUY = "buy"
    SELL = "sell"


class ForcedClose(StrEnum):
    """How the exchange closed (part of) a position by itself: a fill that is no one's trade."""

    LIQUIDATION = "liquidation"
    ADL = "adl"  # auto-deleveraging: a profitable position closed against a bankrupt one


class PositionSide(StrEnum):
    """Side of a one-way-mode position."""

    LONG = "long"
    SHORT = "short"


class OrderStatus(StrEnum):
    """Life cycle of an order as the journal sees it."""

    PENDING = "pending"  # intent journaled, not yet acknowledged by the venue
    OPEN = "open"
    FILLED = "filled"
    PARTIALLY_FILLED = "partially_filled"  # final: the rest was cancelled/expired
    CANCELED = "canceled"
    REJECTED = "rejected"
    UNKNOWN = "unknown"  # outcome unknown (timeout): reconcile by client order id


def perp_symbol(asset: str, quote: str = "USDT") -> str:
    """Return ccxt's unified linear perp symbol for ``asset``."""
    return f"{asset}/{quote}:{quote}"


def spot_symbol(asset: str, quote: str = "USDT") -> str:
    """Return ccxt's unified spot symbol for ``asset``."""
    return f"{asset}/{quote}"


def base_of(symbol: str) -> str:
    """Return the base asset of a unified symbol (``"BTC/USDT:USDT"`` -> ``"BTC"``)."""
    return symbol.split("/", 1)[0]


@dataclass(frozen=True, slots=True)
class Holding:
    """A spot balance that the hedge insures."""

    asset: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Wallets:
    """The spot balances (the insured portfolio) and the futures wallet's free collateral."""

    holdings: tuple[Holding, ...]
    collateral: Decimal


@dataclass(frozen=True, slots=True)
class Quote:
    """Latest price of one instrument; ``timestamp`` is when the venue saw it."""

    symbol: str
    price: Decimal
    timestamp: datetime
    mark: Decimal | None = None
    quote_volume: Decimal | None = None
    """Traded over the last 24 hours, in quote currency; None when the venue does not say."""

    @property
    def mark_or_last(self) -> Decimal:
        """Return the mark price when known, else the last price."""
        return self.mark if self.mark is not None else self.price


@dataclass(frozen=True, slots=True)
class Market:
    """Trading rules of a linear perp, as the venue publishes them."""

    symbol: str
    base: str
    quote: str
    contract_size: Decimal
    amount_step: Decimal
    min_amount: Decimal
    min_notional: Decimal
    price_tick: Decimal
    max_leverage: int = 125


@dataclass(frozen=True, slots=True)
class Position:
    """An isolated-margin one-way position on a perp."""

    symbol: str
    side: PositionSide
    contracts: Decimal
    entry_price: Decimal
    isolated_margin: Decimal
    leverage: int
    contract_size: Decimal = Decimal(1)
    liquidation_price: Decimal | None = None
    margin_mode: str | None = None
    """``"isolated"`` or ``"cross"`` as the venue reports it; None when it does not say."""
    mark_price: Decimal | None = None
    """The mark price the venue reported with the position (what liquidation is judged by)."""

    @property
    def signed_contracts(self) -> Decimal:
        """Return contracts, negative for a short."""
        return -self.contracts if self.side is PositionSide.SHORT else self.contracts

    @property
    def short_contracts(self) -> Decimal:
        """Return the short size in contracts (negative when the position is long)."""
        return -self.signed_contracts

    def notional(self, price: Decimal) -> Decimal:
        """Return the absolute notional at ``price``."""
        return self.contracts * self.contract_size * price


@dataclass(frozen=True, slots=True)
class HedgeTarget:
    """Wanted short notional on one perp leg, with the words that explain it."""

    symbol: str
    notional: Decimal
    reason: str = ""
    sources: tuple[tuple[str, Decimal], ...] = ()  # (holding asset, spot value it insures)


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """An order the planner wants placed; ``client_order_id`` makes it idempotent."""

    client_order_id: str
    symbol: str
    side: Side
    amount: Decimal  # contracts
    reduce_only: bool
    reference_price: Decimal
    contract_size: Decimal  # base units per contract, from the market's rules
    reason: str = ""

    @property
    def contract_value(self) -> Decimal:
        """Return the notional of one contract at the reference price."""
        return self.contract_size * self.reference_price

    @property
    def notional(self) -> Decimal:
        """Return the order's notional at the reference price."""
        return self.amount * self.contract_value


@dataclass(frozen=True, slots=True)
class Fill:
    """One trade, as the venue reports it: ours, someone else's, or one the exchange forced.

    ``forced`` says how the exchange closed the position by itself (liquidation, ADL); None for
    an ordinary trade.
    """

    venue: str
    trade_id: str
    symbol: str
    side: Side
    amount: Decimal
    price: Decimal
    fee: Decimal
    fee_currency: str
    realized_pnl: Decimal
    timestamp: datetime
    client_order_id: str | None = None
    venue_order_id: str | None = None
    forced: ForcedClose | None = None


@dataclass(frozen=True, slots=True)
class FundingPayment:
    """A funding settlement on one position; ``amount`` > 0 means received.

    ``rate`` and ``position_contracts`` (signed: negative for a short) are None when the exchange
    does not tell them for this payment: unknown, never a made-up 0.
    """

    venue: str
    payment_id: str
    symbol: str
    timestamp: datetime
    rate: Decimal | None
    position_contracts: Decimal | None
    amount: Decimal
    currency: str = "USDT"


@dataclass(frozen=True, slots=True)
class OrderResult:
    """What the venue says about an order after placing or looking it up."""

    client_order_id: str
    venue_order_id: str
    symbol: str
    side: Side
    amount: Decimal
    filled: Decimal
    average_price: Decimal | None
    status: OrderStatus
    reduce_only: bool
    timestamp: datetime
    fills: tuple[Fill, ...] = field(default=())
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Bracket:
    """One leverage bracket: notionals in ``[floor, cap)`` use ``mmr`` and ``cum``."""

    floor: Decimal
    cap: Decimal
    max_leverage: int
    mmr: Decimal
    cum: Decimal

    def contains(self, notional: Decimal) -> bool:
        """Return whether ``notional`` lies in ``[floor, cap)``."""
        return self.floor <= notional < self.cap
