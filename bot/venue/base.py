"""The `Venue` port: everything the engine needs from an exchange, real or simulated."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from bot.core.domain import (
    Bracket,
    Fill,
    FundingPayment,
    Market,
    OrderIntent,
    OrderResult,
    Position,
    Quote,
    Wallets,
)
from bot.margin.venues import LiquidationMethod


class Venue(Protocol):
    """An exchange account holding spot assets and USDT-margined perps (one-way, isolated)."""

    name: str

    @property
    def writes(self) -> int:
        """Return how many state-changing requests were sent so far, answered or not.

        Orders, cancels, margin moves and leg settings: a read taken while the count was ``n``
        still shows the account as we left it while the count is still ``n``.
        """
        ...

    @property
    def liquidation_method(self) -> LiquidationMethod:
        """Return whose liquidation-price formula the venue applies (the guard sizes with it)."""
        ...

    async def load_markets(self, symbols: Iterable[str]) -> dict[str, Market]:
        """Return the trading rules of the given perp symbols."""
        ...

    async def fetch_wallets(self) -> Wallets:
        """Return the spot balances (the insured portfolio) and the free futures collateral.

        One read where one wallet holds both (Bybit's unified account).
        """
        ...

    async def fetch_collateral(self) -> Decimal:
        """Return the free stablecoin collateral of the futures wallet (not the spot)."""
        ...

    async def fetch_quotes(self, symbols: Iterable[str]) -> dict[str, Quote]:
        """Return the latest quotes of spot and perp symbols, in one batched call."""
        ...

    @property
    def bar_seconds(self) -> int:
        """Return the length of the bars whose closes `fetch_closes` returns, in seconds."""
        ...

    async def fetch_closes(self, assets: Iterable[str], count: int) -> dict[str, list[Decimal]]:
        """Return up to ``count`` recent spot closes per asset, one per bar, oldest first."""
        ...

    async def fetch_funding_rates(self, symbols: Iterable[str]) -> dict[str, Decimal]:
        """Return each perp's current funding rate (> 0: longs pay shorts), in one call."""
        ...

    async def fetch_positions(self, symbols: Iterable[str]) -> dict[str, Position]:
        """Return open perp positions of the given symbols (absent = flat)."""
        ...

    async def setup_leg(self, symbol: str, leverage: int) -> None:
        """Set isolated margin and ``leverage`` on ``symbol`` (every call); already set is fine."""
        ...

    async def add_margin(self, symbol: str, amount: Decimal) -> None:
        """Move ``amount`` of free collateral into ``symbol``'s isolated margin."""
        ...

    async def fetch_brackets(self, symbols: Iterable[str]) -> dict[str, tuple[Bracket, ...]]:
        """Return the maintenance-margin brackets of each symbol (leverage tiers)."""
        ...

    async def fetch_adl_ranks(self, symbols: Iterable[str]) -> dict[str, int | None]:
        """Return each open leg's place in the exchange's auto-deleveraging queue.

        Higher is closer to being deleveraged: Binance's ADL quantile 0–4, Bybit's
        ``adlRankIndicator`` 0–5; None where the exchange gives no rank (a flat leg, or no ADL).
        """
        ...

    async def place_order(self, intent: OrderIntent) -> OrderResult:
        """Place a market order and return it confirmed, with its fills."""
        ...

    async def find_order(self, client_order_id: str, symbol: str) -> OrderResult | None:
        """Look an order up by client order id; None when the venue never saw it."""
        ...

    async def cancel_order(
        self, client_order_id: str, symbol: str, venue_order_id: str | None
    ) -> None:
        """Ask the venue to cancel a resting order; its outcome is known only from a lookup."""
        ...

    async def fetch_fills(
        self, symbols: Sequence[str], since: Mapping[str, datetime]
    ) -> list[Fill]:
        """Return fills (ours, others', forced ones) from each symbol's ``since``, oldest first.

        A symbol absent from ``since`` is read from its beginning; the bound may be inclusive
        (the journal keeps each trade once).
        """
        ...

    async def fetch_funding(self, since: datetime | None) -> list[FundingPayment]:
        """Return funding payments after ``since``, oldest first."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
