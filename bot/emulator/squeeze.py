"""A squeeze: the mark walks toward a position's liquidation price in steps, over a few seconds.

Each step is `Account.set_mark`: REST shows it (premium index, tickers, positions) and the stream
hub pushes it (``markPriceUpdate`` on Binance, ``tickers.<SYMBOL>`` on Bybit). With ``reach`` 1
the last step is the liquidation price and the exchange liquidates the position; below 1 the
squeeze stops that fraction of the way there.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from bot.emulator.account import Account


async def squeeze(
    account: Account,
    symbol: str,
    *,
    steps: int = 5,
    seconds: float = 2.0,
    reach: Decimal = Decimal(1),
) -> list[Decimal]:
    """Move ``symbol``'s mark ``reach`` of the way to its liquidation price; return the marks.

    ``steps`` equal moves, ``seconds / steps`` apart (the first at once); intermediate marks
    are rounded to the price tick. ValueError when flat.
    """
    if steps < 1 or not 0 < reach <= 1:
        raise ValueError("a squeeze takes steps >= 1 and 0 < reach <= 1")
    unified = account.unified(symbol)
    target = account.sim.liquidation_price(unified)
    if target is None:
        raise ValueError(f"no position in {unified} to squeeze")
    start = account.mark_price(unified)
    tick = account.sim.markets[unified].price_tick
    marks: list[Decimal] = []
    for step in range(1, steps + 1):
        if step > 1:
            await asyncio.sleep(seconds / steps)
        price = start + (target - start) * reach * step / steps
        if step == steps and reach == 1:
            price = target
        else:
            price = (price / tick).to_integral_value() * tick
        account.set_mark(unified, price)
        marks.append(price)
    return marks
