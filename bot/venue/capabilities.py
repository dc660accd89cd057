"""Per-exchange differences, declared as data so one `CcxtVenue` serves them all."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from bot.margin.venues import LiquidationMethod


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What differs between exchanges for a one-way isolated-margin linear-perp hedger."""

    futures_id: str
    """ccxt class of the perp client."""
    spot_id: str | None
    """ccxt class of a separate spot client; None when one client reads both (unified)."""
    futures_options: dict[str, Any] = field(default_factory=dict)
    spot_options: dict[str, Any] = field(default_factory=dict)
    funding_sign: int = 1
    """Multiply ccxt's funding ``amount`` by this so that + means received."""
    margin_mode_scope: Literal["symbol", "account"] = "symbol"
    order_response_complete: bool = True
    """False when create_order returns only ids: fetch the order to confirm it."""
    fetch_order_params: dict[str, Any] = field(default_factory=dict)
    multi_assets_mode_check: bool = False
    liquidation: LiquidationMethod = LiquidationMethod.BINANCE
    ban_cooldown: float = 60.0
    """Seconds to back off after a rate-limit answer that names no cool-down."""
    demo_trading: bool = True
    """Testnet means ccxt's demo trading (Binance futures) rather than its sandbox."""
    fetch_position_mode: bool = True
    """False when ccxt cannot read the position mode (bybit has no fetchPositionMode): ask for
    one-way mode once instead; "not modified" (NoChange) means it already was."""
    positions_by_symbols: bool = True
    """False when fetch_positions takes at most one symbol (bybit): read every open position of
    the settle coin in one call and keep the wanted ones."""
    adl_rank_by_symbols: bool = True
    """False when fetch_positions_adl_rank reads only its first symbol (bybit): one call each."""
    add_margin_v5: bool = False
    """ccxt's bybit has no add_margin: POST /v5/position/add-margin through the implicit API."""
    order_link_param: str | None = None
    """Parameter of the client order id in an order lookup, when not ccxt's ``clientOrderId``.
    Bybit's ``orderLinkId``: ccxt's bybit fetch_order always sends ``orderId`` (the text "None"
    without an id), which outranks ``orderLinkId``, so the lookup reads the realtime order list
    (fetch_open_orders), which Bybit answers in any status when queried by ``orderLinkId``."""
    history_limit: int = 1000
    """Entries per page of trade and funding history (Bybit's execution list: 100 at most)."""
    history_cursor: bool = False
    """True when history pages newest first and continues by ``nextPageCursor`` (Bybit)."""
    forced_orders: bool = False
    """True when trades do not say they were liquidations (Binance's userTrades): fills of orders
    the venue did not see placed are matched against the forced-orders list
    (/fapi/v1/forceOrders: liquidation ``autoclose-…`` and ADL ``adl_autoclose`` orders)."""
    all_executions: bool = False
    """True when ccxt's fetch_my_trades hides liquidations (Bybit asks ``execType=Trade`` only):
    read the execution list unfiltered and keep every execution that trades (`Trade`,
    `BustTrade`, `AdlTrade`)."""
    funding_rate_history: bool = False
    """True when funding payments carry neither rate nor position (Binance's income): read the
    settled rate and the mark it was charged at (/fapi/v1/fundingRate) and solve the position
    from the amount. Bybit's funding executions carry both (``feeRate``, ``execQty``)."""


BINANCE = Capabilities(
    futures_id="binanceusdm",
    spot_id="binance",
    futures_options={
        "fetchCurrencies": False,
        "fetchMarkets": {"types": ["linear"]},
        "fetchPositionsRisk": {"useV2": True},
        "maxRetriesOnFailure": 0,
    },
    spot_options={
        "fetchCurrencies": False,
        "fetchMarkets": {"types": ["spot"]},
        "fetchMargins": False,
        "defaultType": "spot",
        "maxRetriesOnFailure": 0,
    },
    multi_assets_mode_check=True,
    forced_orders=True,
    funding_rate_history=True,
)

BYBIT = Capabilities(
    futures_id="bybit",
    spot_id=None,
    futures_options={
        "fetchMarkets": {"types": ["linear", "spot"]},
        "enableUnifiedAccount": True,
        "enableUnifiedMargin": False,
        "defaultType": "swap",
        "maxRetriesOnFailure": 0,
    },
    funding_sign=-1,
    margin_mode_scope="account",
    order_response_complete=False,
    fetch_order_params={"acknowledged": True},
    liquidation=LiquidationMethod.BYBIT,
    ban_cooldown=600.0,  # Bybit's 403 "access too frequent" asks for at least 10 minutes
    demo_trading=False,
    fetch_position_mode=False,
    positions_by_symbols=False,
    adl_rank_by_symbols=False,
    add_margin_v5=True,
    order_link_param="orderLinkId",
    history_limit=100,
    history_cursor=True,
    all_executions=True,
)

CAPABILITIES = {"binanceusdm": BINANCE, "bybit": BYBIT}
