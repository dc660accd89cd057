"""Contract rules of the simulated perps: the bundled exchange snapshot, else generated rules.

``bot/data/contract_specs.json`` holds, per venue (``binance``, ``bybit``), the tick size, lot
step, minimum quantity and minimum notional each exchange published for the perps hedgebot
replays, with the snapshot's source and date. A symbol the snapshot does not hold gets rules
generated from its price (`generated_market`), and the log says so once per venue and symbol
(INFO: the fallback is expected for an asset outside the snapshot; nothing for the user to do).
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources

from bot.core.domain import Market, perp_symbol

log = logging.getLogger(__name__)

SPECS_FILE = "contract_specs.json"
CONTRACT_VENUES = ("binance", "bybit")
"""Venues whose published rules the snapshot holds."""
PAPER_MAX_LEVERAGE = 20
FALLBACK_MIN_NOTIONAL = Decimal(5)
"""The usual USDT minimum notional of both venues, for a symbol outside the snapshot."""
_warned: set[tuple[str, str]] = set()


@dataclass(frozen=True, slots=True)
class ContractSpec:
    """One perp's published order rules."""

    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    min_notional: Decimal


@dataclass(frozen=True, slots=True)
class SpecSource:
    """Where a venue's snapshot was copied from, and when it was taken."""

    repository: str
    path: str
    commit: str
    taken: str


def specs_of(venue: str) -> dict[str, ContractSpec]:
    """Return the bundled rules of ``venue`` by exchange id (``"BTCUSDT"``)."""
    return _snapshot()[0][_known(venue)]


def source_of(venue: str) -> SpecSource:
    """Return where the bundled rules of ``venue`` come from."""
    return _snapshot()[1][_known(venue)]


def generated_market(asset: str, reference_price: Decimal, quote: str = "USDT") -> Market:
    """Return exchange-like rules for ``asset`` scaled to its price (no published rules known)."""
    magnitude = math.floor(math.log10(float(reference_price)))
    step = Decimal(1).scaleb(-min(max(magnitude, 0), 3))
    tick = Decimal(1).scaleb(magnitude - 4)
    return Market(
        symbol=perp_symbol(asset, quote),
        base=asset,
        quote=quote,
        contract_size=Decimal(1),
        amount_step=step,
        min_amount=step,
        min_notional=FALLBACK_MIN_NOTIONAL,
        price_tick=tick,
        max_leverage=PAPER_MAX_LEVERAGE,
    )


def paper_market(
    asset: str, reference_price: Decimal, quote: str = "USDT", venue: str = "binance"
) -> Market:
    """Return ``venue``'s published rules for ``asset``'s perp, else generated ones (logged)."""
    spec = specs_of(venue).get(f"{asset}{quote}")
    if spec is None:
        market = generated_market(asset, reference_price, quote)
        if (venue, market.symbol) not in _warned:
            _warned.add((venue, market.symbol))
            log.info(
                "no %s contract rules for %s in the bundled snapshot (%s): using generated ones "
                "(lot %s, minimum notional %s, tick %s)",
                venue,
                market.symbol,
                SPECS_FILE,
                market.amount_step,
                market.min_notional,
                market.price_tick,
            )
        return market
    return Market(
        symbol=perp_symbol(asset, quote),
        base=asset,
        quote=quote,
        contract_size=Decimal(1),
        amount_step=spec.step_size,
        min_amount=spec.min_qty,
        min_notional=spec.min_notional,
        price_tick=spec.tick_size,
        max_leverage=PAPER_MAX_LEVERAGE,
    )


def _known(venue: str) -> str:
    if venue not in CONTRACT_VENUES:
        raise ValueError(f"no contract rules for venue {venue!r}; use one of {CONTRACT_VENUES}")
    return venue


@cache
def _snapshot() -> tuple[dict[str, dict[str, ContractSpec]], dict[str, SpecSource]]:
    """Read and parse the bundled snapshot once."""
    text = (resources.files("bot") / "data" / SPECS_FILE).read_text(encoding="utf-8")
    venues = json.loads(text)["venues"]
    specs = {
        name: {
            symbol: ContractSpec(
                Decimal(rules["tick_size"]),
                Decimal(rules["step_size"]),
                Decimal(rules["min_qty"]),
                Decimal(rules["min_notional"]),
            )
            for symbol, rules in entry["symbols"].items()
        }
        for name, entry in venues.items()
    }
    sources = {name: SpecSource(**entry["source"]) for name, entry in venues.items()}
    return specs, sources
