"""Auto-deleveraging as an account event, seen through REST by real ccxt.pro clients.

An ADL closes (part of) a position at the price given, without fee, as an order of the
exchange's: Binance lists it in /fapi/v1/forceOrders under ``autoCloseType=ADL`` (client id
``adl_autoclose``) and its trade in userTrades; Bybit lists an ``AdlTrade`` execution (only when
asked for it or for every type) and an order with ``createType: CreateByAdl_PassThrough``. The
ADL ranks come from /fapi/v1/adlQuantile and positionRisk, and from Bybit's position list.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from bot.emulator.bybit.server import BybitEmulator
from bot.emulator.server import BinanceEmulator
from tests.emulator.conftest import BTC, ETH, decimal, isolated_2x

BTC_ID = "BTCUSDT"


async def short(client: Any, amount: float = 1.0) -> Decimal:
    """Open a 2x isolated short; return its entry price."""
    await isolated_2x(client)
    await client.create_order(BTC, "market", "sell", amount)
    (trade,) = await client.fetch_my_trades(BTC)
    return decimal(trade["price"])


def below(entry: Decimal) -> Decimal:
    """Return a price 10% under ``entry``: the bankrupt long's price, a profit for the short."""
    return (entry * Decimal("0.9")).quantize(Decimal("0.1"))


# -- Binance -----------------------------------------------------------------------------------


async def test_binance_lists_the_adl_apart_from_the_liquidation(
    pro_binance: Any, emulator: BinanceEmulator
) -> None:
    entry = await short(pro_binance)
    price = below(entry)
    wallet_before = emulator.venue.exchange.wallet

    adl_id = emulator.account.auto_deleverage(BTC, fraction=Decimal("0.5"), price=price)
    liquidation_id = emulator.account.liquidate(BTC)

    (adl,) = await pro_binance.fetch_my_liquidations(BTC, params={"autoCloseType": "ADL"})
    assert adl["info"]["clientOrderId"] == "adl_autoclose" and adl["info"]["status"] == "FILLED"
    assert adl["contracts"] == 0.5 and decimal(adl["price"]) == price
    (liquidation,) = await pro_binance.fetch_my_liquidations(BTC)  # ccxt asks LIQUIDATION
    assert liquidation["info"]["clientOrderId"].startswith("autoclose-")
    both = await pro_binance.fapiPrivateGetForceOrders({})
    assert [int(o["orderId"]) for o in both] == [adl_id, liquidation_id]
    order = await pro_binance.fetch_order(str(adl_id), BTC)
    assert order["clientOrderId"] == "adl_autoclose" and order["status"] == "closed"

    trades = {t["order"]: t for t in await pro_binance.fetch_my_trades(BTC)}
    adl_trade = trades[str(adl_id)]
    assert adl_trade["side"] == "buy" and adl_trade["amount"] == 0.5
    assert decimal(adl_trade["price"]) == price and adl_trade["fee"]["cost"] == 0
    realized = Decimal("0.5") * (entry - price)
    assert decimal(adl_trade["info"]["realizedPnl"]) == realized.quantize(Decimal("1E-8"))
    released = emulator.venue.exchange.trades[-2]  # the ADL: no fee, its PnL in the wallet
    assert released.client_order_id == "adl_autoclose" and released.fee == 0
    assert emulator.venue.exchange.wallet > wallet_before + realized


async def test_binance_reports_the_adl_rank_set(
    pro_binance: Any, emulator: BinanceEmulator
) -> None:
    await short(pro_binance)
    (rank,) = await pro_binance.fetch_positions_adl_rank([BTC])
    assert rank["symbol"] == BTC and rank["rank"] == 1  # an open position's default

    emulator.account.set_adl_rank(BTC, 3)

    (rank,) = await pro_binance.fetch_positions_adl_rank([BTC])
    assert rank["rank"] == 3 and rank["info"]["adlQuantile"]["BOTH"] == 3
    assert await pro_binance.fetch_positions_adl_rank([ETH]) == []  # flat: not listed
    (v3,) = await pro_binance.fapiPrivateV3GetPositionRisk({"symbol": BTC_ID})
    assert v3["adl"] == 3
    (v2,) = await pro_binance.fapiPrivateV2GetPositionRisk({"symbol": BTC_ID})
    assert v2["adlQuantile"] == 3
    flat = await pro_binance.fapiPrivateGetAdlQuantile({"symbol": "ETHUSDT"})
    assert flat == [{"symbol": "ETHUSDT", "adlQuantile": {"LONG": 0, "SHORT": 0, "BOTH": 0}}]
    emulator.account.set_adl_rank(BTC, None)
    assert (await pro_binance.fetch_positions_adl_rank([BTC]))[0]["rank"] == 1


async def test_an_adl_needs_a_position_and_a_size(
    pro_binance: Any, emulator: BinanceEmulator
) -> None:
    account = emulator.account
    with pytest.raises(ValueError, match="no position"):
        account.auto_deleverage(BTC, fraction=Decimal(1))
    await short(pro_binance, 0.5)
    with pytest.raises(ValueError, match="either fraction or amount"):
        account.auto_deleverage(BTC, fraction=Decimal(1), amount=Decimal(1))
    with pytest.raises(ValueError, match="cannot deleverage"):
        account.auto_deleverage(BTC, amount=Decimal(1))
    with pytest.raises(ValueError, match="an ADL rank"):
        account.set_adl_rank(BTC, 9)
    account.auto_deleverage(BTC, fraction=Decimal(1))  # at the mark, all of it
    assert emulator.venue.exchange.position(BTC).contracts == 0
    assert (await pro_binance.fetch_positions([BTC])) == []


# -- Bybit -------------------------------------------------------------------------------------


async def test_bybit_lists_the_adl_execution_when_asked_or_unfiltered(
    pro_bybit: Any, bybit_emulator: BybitEmulator
) -> None:
    entry = await short(pro_bybit)
    price = below(entry)
    bybit_emulator.account.auto_deleverage(BTC, fraction=Decimal("0.5"), price=price)
    bybit_emulator.account.liquidate(BTC)

    def executions(**params: str) -> Any:
        return pro_bybit.privateGetV5ExecutionList(
            {"category": "linear", "symbol": BTC_ID, **params}
        )

    (adl,) = (await executions(execType="AdlTrade"))["result"]["list"]
    assert adl["execType"] == "AdlTrade" and decimal(adl["execPrice"]) == price
    assert adl["execQty"] == "0.5" and decimal(adl["execFee"]) == 0
    assert adl["createType"] == "CreateByAdl_PassThrough" and adl["orderLinkId"] == ""
    trades = (await executions(execType="Trade"))["result"]["list"]
    assert [t["execType"] for t in trades] == ["Trade"]
    every = (await executions())["result"]["list"]
    assert [t["execType"] for t in every if t["execType"] != "Funding"] == [
        "BustTrade",
        "AdlTrade",
        "Trade",
    ]
    assert [t["info"]["execType"] for t in await pro_bybit.fetch_my_trades(BTC)] == ["Trade"]
    (bust,) = await pro_bybit.fetch_my_liquidations(BTC)
    assert bust["contracts"] == 0.5

    history = await pro_bybit.privateGetV5OrderHistory({"category": "linear", "symbol": BTC_ID})
    rows = {row["createType"]: row for row in history["result"]["list"]}
    assert set(rows) == {"CreateByUser", "CreateByAdl_PassThrough", "CreateByLiq"}
    adl_order = rows["CreateByAdl_PassThrough"]
    assert adl_order["orderStatus"] == "Filled" and adl_order["orderType"] == "Market"
    assert adl_order["orderLinkId"] == "" and adl_order["side"] == "Buy"
    by_id = await pro_bybit.privateGetV5OrderHistory(
        {"category": "linear", "orderId": adl_order["orderId"]}
    )
    assert [r["createType"] for r in by_id["result"]["list"]] == ["CreateByAdl_PassThrough"]


async def test_bybit_reports_the_adl_rank_set(
    pro_bybit: Any, bybit_emulator: BybitEmulator
) -> None:
    await short(pro_bybit)
    (rank,) = await pro_bybit.fetch_positions_adl_rank([BTC])
    assert rank["rank"] == 2  # the Bybit face's default for an open position

    bybit_emulator.account.set_adl_rank(BTC, 4)

    (rank,) = await pro_bybit.fetch_positions_adl_rank([BTC])
    assert rank["symbol"] == BTC and rank["rank"] == 4
    (position,) = await pro_bybit.fetch_positions([BTC])
    assert position["info"]["adlRankIndicator"] == 4
    (flat,) = await pro_bybit.fetch_positions_adl_rank([ETH])
    assert flat["rank"] == 0
