"""Pure checks that an exchange's answers are plausible before money moves on them.

- Prices: a perp's price must lie within ``max_basis`` of its own spot price. A ÷10 last price, a
  mark from another symbol, a spot ticker that froze: each shows as a basis no market has.
- Positions: between two looks, a leg's position may change only by fills the exchange reports.
  `expected_positions` carries the last validated positions forward by the fills journaled since;
  `unexplained_changes` lists the legs whose reported position differs from that.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from bot.core.domain import ZERO, Fill, Position, Quote, Side, base_of, spot_symbol


@dataclass(frozen=True, slots=True)
class Baseline:
    """Validated signed contracts per leg, and the journal's fill watermark they include."""

    contracts: Mapping[str, Decimal]
    fill_watermark: int

    def to_json(self) -> dict[str, object]:
        """Return the form kept in a rebalance's inputs (restored after a restart)."""
        return {
            "contracts": {s: str(c) for s, c in sorted(self.contracts.items())},
            "fill_watermark": self.fill_watermark,
        }

    @staticmethod
    def from_json(data: object) -> Baseline | None:
        """Return the baseline kept by `to_json`, or None when ``data`` holds none."""
        if not isinstance(data, Mapping):
            return None
        contracts, watermark = data.get("contracts"), data.get("fill_watermark")
        if not isinstance(contracts, Mapping) or not isinstance(watermark, int):
            return None
        return Baseline({str(s): Decimal(str(c)) for s, c in contracts.items()}, watermark)


def signed_contracts(positions: Mapping[str, Position]) -> dict[str, Decimal]:
    """Return signed contracts per symbol (negative = short), flat legs left out."""
    return {s: p.signed_contracts for s, p in positions.items() if p.contracts != 0}


def expected_positions(baseline: Baseline, fills: Iterable[Fill]) -> dict[str, Decimal]:
    """Return the baseline moved by ``fills`` (journaled after its watermark)."""
    expected = dict(baseline.contracts)
    for fill in fills:
        signed = fill.amount if fill.side is Side.BUY else -fill.amount
        expected[fill.symbol] = expected.get(fill.symbol, ZERO) + signed
    return {s: c for s, c in expected.items() if c != 0}


def unexplained_changes(
    expected: Mapping[str, Decimal], actual: Mapping[str, Decimal]
) -> dict[str, tuple[Decimal, Decimal]]:
    """Return symbol -> (expected, reported) for every leg the fills do not explain."""
    symbols = set(expected) | set(actual)
    return {
        s: (expected.get(s, ZERO), actual.get(s, ZERO))
        for s in sorted(symbols)
        if expected.get(s, ZERO) != actual.get(s, ZERO)
    }


def implausible_prices(
    quotes: Mapping[str, Quote], legs: Iterable[str], quote_currency: str, max_basis: Decimal
) -> dict[str, str]:
    """Return perp symbol -> why its price is implausible against its spot price."""
    found: dict[str, str] = {}
    for symbol in legs:
        perp, spot = quotes.get(symbol), quotes.get(spot_symbol(base_of(symbol), quote_currency))
        if perp is None or spot is None or spot.price <= 0:
            continue
        for label, price in (("mark", perp.mark), ("last", perp.price)):
            if price is None:
                continue
            basis = price / spot.price - 1
            if abs(basis) > max_basis:
                found[symbol] = (
                    f"perp {label} price {price:,.6g} is {basis:+.1%} from spot "
                    f"{spot.price:,.6g} (max_basis {max_basis:.1%}): implausible, not acted on"
                )
                break
    return found
