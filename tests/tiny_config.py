"""The smallest paper config the CLI tests run: 1 BTC held, a static 40% hedge, simulated bars."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

BAR_MS = 4 * 3600 * 1000
"""One 4h candle in milliseconds."""
JAN_2022 = 1_640_995_200_000
"""2022-01-01 00:00 UTC in milliseconds: where the tiny config's replay history starts."""
TINY_JOURNAL = "var/tiny.sqlite"
"""Where the CLI tests' tiny config journals (relative to the working directory)."""
CANDLES_HEADER = "timestamp_ms,open,high,low,close,volume\n"
"""The header of a history CSV."""


def tiny_config(
    account: str = "tiny",
    journal: str | None = None,
    holdings: Mapping[str, str] = MappingProxyType({"BTC": "1"}),
    ratio: str | None = "0.4",
) -> str:
    """Return the tiny paper config journaling as ``account``.

    ``journal``: a SQLite file path (None: the default); ``holdings``: asset → amount;
    ``ratio``: the static hedge ratio (None: no [strategy] section, the default strategy).
    """
    held = "".join(f"{asset} = {amount}\n" for asset, amount in holdings.items())
    text = f"""\
interval = "4h"

[exchange]
name = "paper"
account = "{account}"

[paper]
collateral = 10000
simulated_bars = 30
start = 2022-01-10T00:00:00Z
end = 2022-02-10T00:00:00Z

[paper.holdings]
{held}"""
    if ratio is not None:
        text += f'\n[strategy]\nname = "static"\nratio = {ratio}\n'
    return text if journal is None else f'{text}\n[journal]\nurl = "sqlite:///{journal}"\n'


def candle_rows(first_ms: int, prices: list[float]) -> str:
    """Return 4h candles from ``first_ms``, one per price (high +1%, low −1%, volume 1)."""
    return "".join(
        f"{first_ms + i * BAR_MS},{p},{p * 1.01},{p * 0.99},{p},1\n" for i, p in enumerate(prices)
    )
