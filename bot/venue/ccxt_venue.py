"""`CcxtVenue`: the `Venue` port over ccxt's async clients (Binance USDⓈ-M, Bybit v5 linear).

Exchange differences live in `Capabilities`; every call goes through a `RequestGate` (budget,
cool-down after 429/418, retries for reads only, call counting); ccxt's exceptions are mapped in
`ccxt_errors`. Quotes and positions cost one call each per cycle whatever the number of legs; trades
are fetched only for symbols whose position changed or that we traded since the last look.
"""

from __future__ import annotations

import decimal
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any, Literal

import ccxt

from bot.core.clock import to_ms
from bot.core.domain import (
    Bracket,
    Fill,
    ForcedClose,
    FundingPayment,
    Holding,
    Market,
    OrderIntent,
    OrderResult,
    OrderStatus,
    Position,
    Quote,
    Side,
    Wallets,
)
from bot.core.errors import HedgebotError, MalformedResponse, RejectedError
from bot.margin.binance import brackets_from_ccxt_tiers
from bot.margin.venues import LiquidationMethod
from bot.venue import ccxt_parse as parse
from bot.venue.capabilities import Capabilities
from bot.venue.ccxt_ledgers import (
    MATCH_MS,
    bybit_executions,
    exec_type,
    forced_orders,
    funding_charges,
    ledger_page,
    nearest,
)
from bot.venue.gate import RequestGate

log = logging.getLogger(__name__)

BPS = Decimal("0.0001")
ACCOUNT_MODE_LOCKED = "3400045"
"""Bybit's "Set margin mode failed": the account-wide mode cannot change with positions open."""


MAX_CANDLES_PER_READ = 1000
"""The most candles one kline read returns (Binance spot and Bybit refuse a larger limit)."""


class CcxtVenue:
    """A real exchange account (or testnet, or the emulator) through ccxt."""

    def __init__(
        self,
        futures: Any,
        spot: Any | None,
        capabilities: Capabilities,
        *,
        name: str,
        timeframe: str = "4h",
        order_type: Literal["market", "ioc_limit"] = "market",
        max_slippage_bps: Decimal = Decimal(50),
        gate: RequestGate | None = None,
        quote: str = "USDT",
    ) -> None:
        """Wrap ready-made ccxt clients; ``spot`` None means the futures client reads spot too."""
        self.name = name
        self.futures = futures
        self.spot = spot if spot is not None else futures
        self.caps = capabilities
        self.timeframe = timeframe
        self.order_type = order_type
        self.max_slippage = max_slippage_bps * BPS
        self.gate = gate or RequestGate()
        self.quote = quote
        self._markets_loaded = False
        self._account_checked = False
        self._brackets: dict[str, tuple[Bracket, ...]] = {}
        self._sizes: dict[str, Decimal] = {}
        self._dirty: set[str] | None = None  # None: nothing known yet, look at every symbol
        self._seen_orders: set[tuple[str, str]] = set()  # (symbol, order id) looked up as forced
        self._account_mode: str | None = None  # account-wide margin mode as last read (Bybit)
        self._verified_leverage: dict[str, int] = {}  # leverage seen with that account mode

    @property
    def writes(self) -> int:
        """Return the state-changing requests sent through the gate so far."""
        return self.gate.writes

    @property
    def liquidation_method(self) -> LiquidationMethod:
        """Return the exchange's liquidation formula (from its capabilities)."""
        return self.caps.liquidation

    @property
    def bar_seconds(self) -> int:
        """Return the length of the ``timeframe`` candles `fetch_closes` reads."""
        return int(ccxt.Exchange.parse_timeframe(self.timeframe))

    # -- plumbing --------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        return dict(getattr(self.futures, "last_response_headers", None) or {})

    async def _read(self, name: str, call: Callable[[], Awaitable[Any]]) -> Any:
        return await self.gate.read(name, call, self._headers)

    async def _write(self, name: str, call: Callable[[], Awaitable[Any]]) -> Any:
        return await self.gate.write(name, call, self._headers)

    async def _ensure_markets(self) -> None:
        if self._markets_loaded:
            return
        await self._read("load_markets", self.futures.load_markets)
        if self.spot is not self.futures:
            await self._read("load_spot_markets", self.spot.load_markets)
        self._markets_loaded = True

    # -- observe ---------------------------------------------------------------------------
    async def load_markets(self, symbols: Iterable[str]) -> dict[str, Market]:
        """Return the trading rules of the listed linear perps among ``symbols``."""
        await self._ensure_markets()
        markets = self.futures.markets
        return {
            s: parse.market(markets[s])
            for s in symbols
            if s in markets and markets[s].get("linear") and markets[s].get("active", True)
        }

    async def fetch_wallets(self) -> Wallets:
        """Return the spot balances and the futures wallet's free stablecoin.

        Two reads, or one where a single client reads one wallet for both (Bybit's unified).
        """
        spot = await self._read("fetch_spot_balance", self.spot.fetch_balance)
        if self.spot is self.futures:
            futures = spot
        else:
            futures = await self._read("fetch_balance", self.futures.fetch_balance)
        holdings = []
        for asset, total in sorted((spot.get("total") or {}).items()):
            amount = parse.dec(total, f"{asset} balance", allow_none=True)
            if amount is not None and amount > 0:
                holdings.append(Holding(asset, amount))
        return Wallets(tuple(holdings), self._free(futures))

    async def fetch_collateral(self) -> Decimal:
        """Return the futures wallet's free stablecoin."""
        return self._free(await self._read("fetch_balance", self.futures.fetch_balance))

    def _free(self, balance: dict[str, Any]) -> Decimal:
        free = (balance.get("free") or {}).get(self.quote)
        return parse.dec(free, f"free {self.quote}", allow_none=True) or Decimal(0)

    async def fetch_quotes(self, symbols: Iterable[str]) -> dict[str, Quote]:
        """Return tickers: one call for the perps and one for the spot symbols."""
        wanted = sorted(set(symbols))
        perps = [s for s in wanted if ":" in s]
        spots = [s for s in wanted if ":" not in s]
        tickers: dict[str, Any] = {}
        if perps:
            tickers |= await self._read("fetch_tickers", lambda: self.futures.fetch_tickers(perps))
        if spots:
            tickers |= await self._read(
                "fetch_spot_tickers", lambda: self.spot.fetch_tickers(spots)
            )
        return {s: parse.quote(tickers[s]) for s in wanted if s in tickers}

    async def fetch_closes(self, assets: Iterable[str], count: int) -> dict[str, list[Decimal]]:
        """Return up to ``count`` recent spot closes per asset at the loop timeframe.

        One read per asset: at most `MAX_CANDLES_PER_READ` of them (what Binance and Bybit serve).
        """
        closes: dict[str, list[Decimal]] = {}
        limit = min(count, MAX_CANDLES_PER_READ)
        for asset in assets:
            symbol = f"{asset}/{self.quote}"
            if symbol not in self.spot.markets:
                continue
            fetch = partial(self.spot.fetch_ohlcv, symbol, self.timeframe, None, limit)
            candles = await self._read("fetch_ohlcv", fetch)
            closes[asset] = [parse.positive(c[4], f"{symbol} close") for c in candles]
        return closes

    async def fetch_funding_rates(self, symbols: Iterable[str]) -> dict[str, Decimal]:
        """Return each perp's current funding rate from one premium-index call."""
        wanted = sorted(set(symbols))
        if not wanted:
            return {}
        raw = await self._read(
            "fetch_funding_rates", lambda: self.futures.fetch_funding_rates(wanted)
        )
        rates: dict[str, Decimal] = {}
        for symbol in wanted:
            rate = parse.dec(
                (raw.get(symbol) or {}).get("fundingRate"),
                f"{symbol} funding rate",
                allow_none=True,
            )
            if rate is not None:
                rates[symbol] = rate
        return rates

    async def fetch_positions(self, symbols: Iterable[str]) -> dict[str, Position]:
        """Return open positions among ``symbols`` in one call; note which ones changed."""
        wanted = sorted(set(symbols))
        if not wanted:
            return {}
        if self.caps.positions_by_symbols:
            raw = await self._read("fetch_positions", lambda: self.futures.fetch_positions(wanted))
        else:  # bybit: one symbol per call at most; without one, every open USDT position
            raw = await self._read("fetch_positions", self.futures.fetch_positions)
        positions = {}
        for item in raw:
            found = parse.position(item)
            if found is not None and found.symbol in wanted:
                positions[found.symbol] = found
        if self.caps.margin_mode_scope == "account" and positions:
            positions = await self._with_account_mode(positions)
        for symbol in wanted:
            size = positions[symbol].signed_contracts if symbol in positions else Decimal(0)
            if self._sizes.get(symbol, Decimal(0)) != size and self._dirty is not None:
                self._dirty.add(symbol)
            self._sizes[symbol] = size
        return positions

    async def _with_account_mode(self, positions: dict[str, Position]) -> dict[str, Position]:
        """Give positions the account-wide margin mode (Bybit's position rows do not say it).

        Read once, then again whenever a position's leverage is not the one seen with it: a
        reset or a hand on the website changes both.
        """
        if self._account_mode is None or any(
            self._verified_leverage.get(s) != p.leverage for s, p in positions.items()
        ):
            self._account_mode = await self._account_margin_mode(next(iter(positions)))
            self._verified_leverage = {s: p.leverage for s, p in positions.items()}
        return {s: replace(p, margin_mode=self._account_mode) for s, p in positions.items()}

    async def fetch_adl_ranks(self, symbols: Iterable[str]) -> dict[str, int | None]:
        """Return each symbol's ADL rank (ccxt's fetch_positions_adl_rank); None when unranked.

        Binance answers every position in one call (/fapi/v1/adlQuantile); Bybit reads only the
        first symbol it is given, so it is asked once per symbol.
        """
        wanted = sorted(set(symbols))
        if not wanted:
            return {}
        calls = [wanted] if self.caps.adl_rank_by_symbols else [[s] for s in wanted]
        ranks: dict[str, int | None] = dict.fromkeys(wanted)
        for batch in calls:
            call = partial(self.futures.fetch_positions_adl_rank, batch)
            page = ledger_page("ADL ranks", await self._read("fetch_positions_adl_rank", call))
            for row in page:
                symbol, rank = parse.adl_rank(row)
                if symbol in ranks:
                    ranks[symbol] = rank
        return ranks

    async def fetch_brackets(self, symbols: Iterable[str]) -> dict[str, tuple[Bracket, ...]]:
        """Return each symbol's maintenance-margin brackets (leverage tiers), cached."""
        missing = sorted(set(symbols) - set(self._brackets))
        if missing:
            tiers = await self._read(
                "fetch_leverage_tiers", lambda: self.futures.fetch_leverage_tiers(missing)
            )
            for symbol in missing:
                self._brackets[symbol] = brackets_from_ccxt_tiers(tiers[symbol])
        return {s: self._brackets[s] for s in symbols}

    # -- set-up ----------------------------------------------------------------------------
    async def _check_account(self) -> None:
        """Require one-way position mode (set it when flat) and refuse multi-assets mode."""
        if self._account_checked:
            return
        await self._ensure_markets()
        hedged = False
        if self.caps.fetch_position_mode:
            mode = await self._read("fetch_position_mode", self.futures.fetch_position_mode)
            hedged = bool(mode.get("hedged"))
        else:
            # ccxt's bybit cannot read the mode: ask for one-way mode, which Bybit answers "not
            # modified" (110025) when set and refuses (110024) while hedge-mode positions are open.
            await self._write("set_position_mode", self._one_way)
        if hedged:
            raw = await self._read("fetch_positions", self.futures.fetch_positions)
            if any(parse.position(p) is not None for p in raw):
                raise RejectedError(
                    f"{self.name} is in hedge (dual-side) position mode with open positions; "
                    "hedgebot needs one-way mode: close them or switch the mode by hand"
                )
            await self._write("set_position_mode", self._one_way)
        if self.caps.multi_assets_mode_check:
            answer = await self._read(
                "multi_assets_mode", self.futures.fapiPrivateGetMultiAssetsMargin
            )
            if str(answer.get("multiAssetsMargin")).lower() == "true":
                raise RejectedError(
                    f"{self.name} is in multi-assets margin mode, which pools collateral "
                    "across positions; switch it off so isolated margin stays isolated"
                )
        self._account_checked = True

    async def _one_way(self) -> None:
        try:
            await self.futures.set_position_mode(False)
        except ccxt.NoChange:  # Bybit 110025 "Position mode is not modified"
            return
        except ccxt.OperationRejected as error:  # -4059 "No need to change position side."
            if "-4059" not in str(error):
                raise

    async def _isolated(self, symbol: str | None) -> None:
        try:
            await self.futures.set_margin_mode("isolated", symbol)
        except (ccxt.MarginModeAlreadySet, ccxt.NoChange):
            return
        except ccxt.ExchangeError as error:
            if ACCOUNT_MODE_LOCKED not in str(error):
                raise
            # Bybit refuses an account-wide switch while positions are open: an answer, not an
            # outage (ccxt leaves the code unclassified).
            raise ccxt.OperationRejected(str(error)) from None

    async def _leverage(self, symbol: str, leverage: int) -> None:
        try:
            await self.futures.set_leverage(leverage, symbol)
        except ccxt.BadRequest as error:  # Bybit 110043 "leverage not modified"
            if "110043" not in str(error):
                raise

    async def setup_leg(self, symbol: str, leverage: int) -> None:
        """Set isolated margin and ``leverage`` on ``symbol``; already set is success.

        Called before a flat leg is opened and whenever a position shows other settings: an
        exchange that lost its state, or a hand on the exchange's website, resets them.
        """
        await self._check_account()
        if self.caps.margin_mode_scope == "symbol":
            await self._write("set_margin_mode", lambda: self._isolated(symbol))
        else:
            # Account-wide (Bybit unified): the website or a reset can switch it while every leg
            # is flat, so it is read before each leg is set up.
            self._account_mode = await self._account_margin_mode(symbol)
            if self._account_mode != "isolated":
                await self._write("set_margin_mode", lambda: self._isolated(None))
                self._account_mode = "isolated"
        await self._write("set_leverage", lambda: self._leverage(symbol, leverage))
        self._verified_leverage[symbol] = leverage

    async def _account_margin_mode(self, symbol: str) -> str | None:
        """Return the account-wide margin mode ("isolated", "cross", "portfolio")."""
        answer = await self._read(
            "fetch_margin_mode", lambda: self.futures.fetch_margin_mode(symbol)
        )
        mode = answer.get("marginMode")
        return str(mode) if mode is not None else None

    async def add_margin(self, symbol: str, amount: Decimal) -> None:
        """Move collateral into ``symbol``'s isolated margin."""
        if self.caps.add_margin_v5:
            request = {
                "category": "linear",
                "symbol": self.futures.market(symbol)["id"],
                "margin": str(amount),
            }
            await self._write(
                "add_margin", lambda: self.futures.privatePostV5PositionAddMargin(request)
            )
            return
        await self._write("add_margin", lambda: self.futures.add_margin(symbol, str(amount)))

    # -- orders ----------------------------------------------------------------------------
    def _order_args(self, intent: OrderIntent) -> tuple[str, str | None, dict[str, Any]]:
        params: dict[str, Any] = {"clientOrderId": intent.client_order_id}
        if intent.reduce_only:
            params["reduceOnly"] = True
        if self.order_type == "market":
            return "market", None, params
        slip = 1 + self.max_slippage if intent.side is Side.BUY else 1 - self.max_slippage
        price = self.futures.price_to_precision(intent.symbol, str(intent.reference_price * slip))
        params["timeInForce"] = "IOC"
        return "limit", price, params

    async def place_order(self, intent: OrderIntent) -> OrderResult:
        """Send the order once, confirm it by fetching it, and attach its fills."""
        with decimal.localcontext():  # ccxt's precision code rewrites the decimal context
            amount = self.futures.amount_to_precision(intent.symbol, str(intent.amount))
            kind, price, params = self._order_args(intent)
        if self._dirty is not None:
            self._dirty.add(intent.symbol)
        raw = await self._write(
            "create_order",
            lambda: self.futures.create_order(
                intent.symbol, kind, intent.side.value, amount, price, params
            ),
        )
        if not isinstance(raw, dict) or raw.get("id") is None:  # accepted or not: unknown
            raise MalformedResponse(f"{intent.client_order_id}: order answer has no order id")
        accepted = str(raw["id"])
        try:
            if not self.caps.order_response_complete or raw.get("status") not in (
                "closed",
                "canceled",
                "expired",
            ):
                raw = await self._read(
                    "fetch_order",
                    lambda: self.futures.fetch_order(
                        accepted, intent.symbol, dict(self.caps.fetch_order_params)
                    ),
                )
            result = await self._result(raw, intent.client_order_id, intent.reduce_only)
        except HedgebotError as error:  # accepted: whatever fails now, the outcome is unknown
            log.warning(
                "order %s accepted as %s, confirming it failed (%s); looking it up later",
                intent.client_order_id,
                accepted,
                error,
            )
            reason = f"accepted, unconfirmed: {error}"
            return parse.unconfirmed(intent, accepted, raw.get("timestamp"), reason)
        self._explain(intent.symbol, result)
        return result

    async def cancel_order(
        self, client_order_id: str, symbol: str, venue_order_id: str | None
    ) -> None:
        """Ask the exchange to cancel a resting order; 'unknown order' means it is final."""
        params: dict[str, Any] = {}
        if venue_order_id is None:
            key = self.caps.order_link_param or "origClientOrderId"
            params[key] = client_order_id
        try:
            await self._write(
                "cancel_order",
                lambda: self.futures.cancel_order(venue_order_id, symbol, params),
            )
        except RejectedError as error:  # -2011 / 110001: filled or gone; a lookup tells which
            log.info("cancel of %s refused (%s); it settled first", client_order_id, error)

    def _explain(self, symbol: str, result: OrderResult) -> None:
        """Account for our own fills so the next position read does not re-fetch trades."""
        if self._dirty is None or sum(f.amount for f in result.fills) != result.filled:
            return
        signed = result.filled if result.side is Side.BUY else -result.filled
        self._sizes[symbol] = self._sizes.get(symbol, Decimal(0)) + signed
        self._dirty.discard(symbol)

    async def find_order(self, client_order_id: str, symbol: str) -> OrderResult | None:
        """Look an order up by client order id; None when the venue does not know it."""
        params = {"clientOrderId": client_order_id, **self.caps.fetch_order_params}
        link = self.caps.order_link_param

        async def lookup() -> Any:
            if link is not None:
                found = await self.futures.fetch_open_orders(
                    symbol, None, None, {link: client_order_id}
                )
                return found[0] if found else None
            try:
                return await self.futures.fetch_order(None, symbol, params)
            except ccxt.OrderNotFound:
                return None

        raw = await self._read("fetch_order", lookup)
        if raw is None:
            return None
        return await self._result(raw, client_order_id, bool(raw.get("reduceOnly")))

    async def _result(self, raw: dict[str, Any], cid: str, reduce_only: bool) -> OrderResult:
        fills: tuple[Fill, ...] = ()
        if parse.dec(raw.get("filled"), "filled", allow_none=True):
            since = int(raw["timestamp"]) - 1000 if raw.get("timestamp") else None
            fetch = partial(self.futures.fetch_my_trades, raw["symbol"])
            trades = await self._history("fetch_my_trades", fetch, since)
            fills = tuple(
                parse.fill(t, self.name) for t in trades if str(t.get("order")) == str(raw["id"])
            )
        result = parse.order(raw, cid, reduce_only, fills)
        if result.status is OrderStatus.UNKNOWN:
            log.warning("order %s has an unrecognised status %r", cid, raw.get("status"))
        return result

    # -- ledgers ---------------------------------------------------------------------------
    async def _history(
        self, name: str, fetch: Callable[..., Awaitable[Any]], since: int | None
    ) -> list[dict[str, Any]]:
        """Read a ledger from ``since`` (ms) on, oldest first: ``fetch(since, limit, params)``.

        Binance pages forward in time. Bybit answers the newest entries of its window first and
        continues by ``nextPageCursor`` (ccxt leaves it in one entry's ``info``).
        """
        limit = self.caps.history_limit
        rows: list[dict[str, Any]] = []
        if self.caps.history_cursor:
            params: dict[str, Any] = {}
            while True:
                page = ledger_page(
                    name, await self._read(name, partial(fetch, since, limit, dict(params)))
                )
                rows += page
                cursor = next(
                    (c for r in page if (c := (r.get("info") or {}).get("nextPageCursor"))), None
                )
                if not page or not cursor:
                    return sorted(rows, key=lambda r: int(r.get("timestamp") or 0))
                params = {"cursor": cursor}
        cursor_ms = since
        while True:
            page = ledger_page(name, await self._read(name, partial(fetch, cursor_ms, limit)))
            rows += page
            if len(page) < limit:
                return rows
            cursor_ms = int(page[-1]["timestamp"]) + 1

    async def fetch_fills(
        self, symbols: Sequence[str], since: Mapping[str, datetime]
    ) -> list[Fill]:
        """Return fills from each symbol's ``since`` on (inclusive: the journal drops repeats).

        Only symbols whose position moved or that we traded since the last look are read: each
        from its own watermark, so one symbol's late fill is never hidden behind another's.
        Liquidation and ADL fills say so (``forced``): on Bybit by their execution type (the
        list is read with every type), on Binance from its forced orders (`_flag_forced`).
        """
        look = set(symbols) if self._dirty is None else self._dirty & set(symbols)
        fills: list[Fill] = []
        if look and self.caps.all_executions:
            await self._ensure_markets()  # the execution list is read by market id
        for symbol in sorted(look):
            start = to_ms(since[symbol]) if symbol in since else None
            if self.caps.all_executions:  # liquidations and ADL too, not only Trade
                fetch = partial(bybit_executions, self.futures, symbol)
                trades = await self._history("fetch_my_trades", fetch, start)
                trades = [t for t in trades if exec_type(t) in parse.TRADE_EXEC_TYPES]
            else:
                fetch = partial(self.futures.fetch_my_trades, symbol)
                trades = await self._history("fetch_my_trades", fetch, start)
            fills += [parse.fill(t, self.name) for t in trades]
        fills = await self._flag_forced(fills)
        # Marks clear only once read: a failed read leaves them for the next look.
        self._dirty = (self._dirty or set()) - look
        return sorted(fills, key=lambda f: (f.timestamp, f.trade_id))

    async def _flag_forced(self, fills: list[Fill]) -> list[Fill]:
        """Mark Binance's liquidation and ADL fills, which its trade list does not tell apart.

        The forced-orders list names each order's client id: ``adl_autoclose`` an ADL,
        ``autoclose-…`` (or none) a liquidation (`parse.forced_by_client_id`).
        Fills of orders this venue has not looked up yet cost one call of the forced-orders
        list over their time span (7 days a call); the orders are remembered. Symbols are read
        only when a position moved unexplained (`fetch_positions`) and once after a start, so
        the steady path asks nothing. A refused call (permissions) leaves the fills unflagged,
        with a warning; a transient one fails the read, which the next look repeats.
        """
        if not self.caps.forced_orders:
            return fills
        unseen = [
            f
            for f in fills
            if f.venue_order_id is not None
            and f.forced is None
            and (f.symbol, f.venue_order_id) not in self._seen_orders
        ]
        if not unseen:
            return fills
        times = [to_ms(f.timestamp) for f in unseen]
        symbols = {f.symbol for f in unseen}
        only = next(iter(symbols)) if len(symbols) == 1 else None
        await self._ensure_markets()
        span = (min(times) - MATCH_MS, max(times) + MATCH_MS)
        try:
            forced = await forced_orders(self._read, self.futures, only, *span)
        except RejectedError as error:
            log.warning("cannot read %s's forced orders (%s); fills not flagged", self.name, error)
            return fills
        self._seen_orders.update((f.symbol, f.venue_order_id or "") for f in unseen)
        flagged = []
        for found in fills:
            key = (found.symbol, found.venue_order_id or "")
            if key in forced and found.forced is None:
                client_id = found.client_order_id or forced[key]
                kind = parse.forced_by_client_id(forced[key]) or ForcedClose.LIQUIDATION
                found = replace(found, forced=kind, client_order_id=client_id)
            flagged.append(found)
        return flagged

    async def fetch_funding(self, since: datetime | None) -> list[FundingPayment]:
        """Return funding payments after ``since``, paging through the history.

        Where the history names no rate (Binance's income), the settled rate and the position
        it was charged on come from `_with_rates`; what no answer tells stays None.
        """
        start = to_ms(since) + 1 if since is not None else None
        fetch = partial(self.futures.fetch_funding_history, None)
        history = await self._history("fetch_funding_history", fetch, start)
        payments = [parse.funding(p, self.name, self.caps.funding_sign) for p in history]
        if self.caps.funding_rate_history:
            payments = await self._with_rates(payments)
        return payments

    async def _with_rates(self, payments: list[FundingPayment]) -> list[FundingPayment]:
        """Give Binance payments their settled rate and the position they were charged on.

        One read of the funding-rate history (all symbols, or the one) over the payments' span:
        each payment takes the rate whose ``fundingTime`` is nearest, within a minute, and the
        position solves ``amount = −position × mark × rate`` at that entry's mark
        (`ccxt_parse.funding_position`). Unmatched, or ambiguous, stays None.
        """
        missing = [p for p in payments if p.rate is None]
        if not missing:
            return payments
        await self._ensure_markets()
        symbols = {p.symbol for p in missing}
        times = [to_ms(p.timestamp) for p in missing]
        only = next(iter(symbols)) if len(symbols) == 1 else None
        span = (min(times) - MATCH_MS, max(times) + MATCH_MS)
        charges = await funding_charges(self._read, self.futures, only, *span)
        priced = []
        for payment in payments:
            charge = nearest(charges.get(payment.symbol, []), to_ms(payment.timestamp))
            if payment.rate is None and charge is not None:
                _, rate, mark = charge
                position = payment.position_contracts
                raw_market = self.futures.markets.get(payment.symbol)
                if position is None and mark is not None and raw_market is not None:
                    rules = parse.market(raw_market)
                    position = parse.funding_position(
                        payment.amount, rate, mark, rules.contract_size, rules.amount_step
                    )
                payment = replace(payment, rate=rate, position_contracts=position)
            priced.append(payment)
        return priced

    async def close(self) -> None:
        """Close the ccxt clients' HTTP sessions."""
        await self.futures.close()
        if self.spot is not self.futures:
            await self.spot.close()
