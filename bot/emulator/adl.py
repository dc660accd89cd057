"""Auto-deleveraging ranks: where each open position stands in the exchange's ADL queue.

Exchanges publish an estimate of how soon a position would be auto-deleveraged: Binance's
``adlQuantile`` (0–4, /fapi/v1/adlQuantile and positionRisk) and Bybit's ``adlRankIndicator``
(0–5, /v5/position/list and the position stream). The emulator does not model the queue: an open
position has a face's default rank unless a test (or a chaos soak) sets one; a flat one has 0.
"""

from __future__ import annotations

MAX_RANK = 5


class AdlRanks:
    """The ADL rank of each symbol's position: a default for open positions, or one set by hand."""

    def __init__(self, default: int = 1) -> None:
        """Give open positions ``default`` until a rank is set."""
        self.default = _checked(default)
        self._set: dict[str, int] = {}

    def set(self, symbol: str, rank: int | None) -> None:
        """Set ``symbol``'s rank (None: back to the default)."""
        if rank is None:
            self._set.pop(symbol, None)
        else:
            self._set[symbol] = _checked(rank)

    def clear(self) -> None:
        """Forget every rank set by hand."""
        self._set.clear()

    def rank(self, symbol: str, is_open: bool) -> int:
        """Return the rank of ``symbol``'s position: 0 when flat."""
        return self._set.get(symbol, self.default) if is_open else 0


def _checked(rank: int) -> int:
    if not 0 <= rank <= MAX_RANK:
        raise ValueError(f"an ADL rank is 0..{MAX_RANK}, got {rank}")
    return rank
