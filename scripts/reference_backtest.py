"""An independent numpy reference of hedgebot's daily backtest on its own perps.

The set-up (`SETUP`): five holdings with perps of their own, collateral in the futures wallet, a
static hedge ratio h = 0.4 reset once a day: at each cycle every leg's short is brought to
h × the holding's spot value, counted at the perp's mark price, in whole lots (rounded down, no
deadband); a sell below the venue's minimum notional is skipped. Lots and minimum notionals are
Binance's published ones from the bundled snapshot (bot/data/contract_specs.json, read here as
plain JSON), else a step scaled to the price and 5 USDT. Orders fill at the perp's last
close moved by the slippage and pay the taker fee on their notional; each funding event pays
−position × mark × rate at the mark of the last perp bar closed by then. The first cycle is at
the first 4h close after the start, then every UTC midnight up to the end.

It reads the CSVs itself with numpy (each file once per process) and computes in floats, with
no part of hedgebot's engine, venue or journal; `run_reference` returns the headline metrics of
``hedgebot backtest`` for the same period.

    python scripts/reference_backtest.py [--data-dir ../shared/data] [--window november-2022]
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.backtest.windows import WINDOWS
from bot.market.history import default_shared_data_dir

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

HOUR_MS = 3_600_000
BAR_MS = 4 * HOUR_MS
DAY_MS = 24 * HOUR_MS
SPECS = Path(__file__).resolve().parents[1] / "bot" / "data" / "contract_specs.json"


@dataclass(frozen=True, slots=True)
class Setup:
    """What is hedged and how: holdings, collateral, ratio, costs, cadence."""

    holdings: dict[str, float]
    collateral: float
    ratio: float
    taker_fee: float
    slippage_bps: float
    leverage: int
    interval: str


SETUP = Setup(
    holdings={"BTC": 1, "ETH": 10, "ADA": 20_000, "XRP": 20_000, "LTC": 100},
    collateral=60_000,
    ratio=0.4,
    taker_fee=0.0005,
    slippage_bps=2,
    leverage=2,
    interval="1d",
)


def hedgebot_config(start: datetime, end: datetime, setup: Setup = SETUP) -> dict[str, Any]:
    """Return hedgebot's config (a TOML-shaped dict) for ``setup`` over ``[start, end]``."""
    return {
        "interval": setup.interval,
        "exchange": {"name": "paper", "account": "reference"},
        "paper": {
            "holdings": setup.holdings,
            "collateral": setup.collateral,
            "taker_fee": setup.taker_fee,
            "slippage_bps": setup.slippage_bps,
            "start": start.isoformat(),
            "end": end.isoformat(),
        },
        "strategy": {"name": "static", "ratio": str(setup.ratio)},
        "hedge": {"deadband": 0},
        # the reference keeps no margin: the guard's three levels alone (never reached with this
        # collateral), not the jump policy's top-ups and the years of history it reads
        "risk": {
            "leverage": setup.leverage,
            "max_leverage": setup.leverage,
            "margin_policy": "fixed",
        },
    }


@dataclass(frozen=True, slots=True)
class Result:
    """The headline metrics; money in USDT, returns and drawdown as fractions."""

    cycles: int
    orders: int
    start_value: float
    end_value: float
    hedge_pnl: float
    fees: float
    funding: float
    total_return: float
    max_drawdown: float


@cache
def _table(path: Path) -> Floats:
    """Return the numeric rows of a CSV (header skipped), read once per process."""
    return np.atleast_2d(np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64))


def _candles(data_dir: Path, stem: str) -> tuple[Ints, Floats] | None:
    """Return (close time ms, close) of the finest-named file of ``stem``, or None."""
    for tf, ms in (("4h", BAR_MS), ("1h", HOUR_MS)):
        path = data_dir / f"{stem}_{tf}.csv"
        if path.is_file():
            rows = _table(path)
            return rows[:, 0].astype(np.int64) + ms, rows[:, 4]
    return None


def _last_at(times: Ints, values: Floats, at: Ints) -> Floats:
    """Return the value of the last row with time ≤ each of ``at``."""
    return values[np.searchsorted(times, at, side="right") - 1]


@cache
def _published() -> dict[str, dict[str, str]]:
    """Return Binance's published perp rules by symbol, from the bundled snapshot."""
    symbols: dict[str, dict[str, str]] = json.loads(SPECS.read_text())["venues"]["binance"][
        "symbols"
    ]
    return symbols


def _rules(asset: str, price: float) -> tuple[float, float]:
    """Return the amount step and minimum notional of ``asset``'s perp, first priced ``price``."""
    rules = _published().get(f"{asset}USDT")
    if rules is not None:
        return float(rules["step_size"]), float(rules["min_notional"])
    return 10.0 ** -min(max(math.floor(math.log10(price)), 0), 3), 5.0


def cycle_times(start: datetime, end: datetime) -> Ints:
    """Return the cycle times: the first 4h close after ``start``, then each midnight to ``end``."""
    first = -(-int(start.timestamp() * 1000 + 1) // BAR_MS) * BAR_MS
    last = int(end.timestamp() * 1000)
    midnights = np.arange(first // DAY_MS * DAY_MS + DAY_MS, last + 1, DAY_MS, dtype=np.int64)
    return np.concatenate([np.array([first], dtype=np.int64), midnights])


@dataclass(frozen=True, slots=True)
class Leg:
    """One holding and its short at each cycle: running totals except the spot value."""

    spot_value: Floats
    trading: Floats
    """The trades' cash plus the position at the mark: the P&L before fees and funding."""
    fees: Floats
    funding: Floats
    orders: int


def _leg(data_dir: Path, asset: str, amount: float, times: Ints, setup: Setup) -> Leg:
    """Replay one holding's short over the cycle ``times``."""
    stem = f"binance_perp_{asset}USDT"
    spot = _candles(data_dir, f"binance_spot_{asset}USDT")
    perp = _candles(data_dir, stem)
    if spot is None or perp is None:
        raise SystemExit(f"no spot or perp candles of {asset} in {data_dir}")
    close_ms, last = perp
    mark = last.copy()
    marks = _candles(data_dir, f"{stem}_mark")
    if marks is not None:  # the mark bar of the same period, where there is one
        where = np.minimum(np.searchsorted(marks[0], close_ms), len(marks[0]) - 1)
        same = marks[0][where] == close_ms
        mark[same] = marks[1][where[same]]
    spot_value = amount * _last_at(*spot, times)
    mark_at, last_at = _last_at(close_ms, mark, times), _last_at(close_ms, last, times)
    step, min_notional = _rules(asset, float(last_at[0]))
    slip = setup.slippage_bps / 10_000
    position = cash = fee_total = 0.0
    positions, cash_after, fees = np.zeros(len(times)), np.zeros(len(times)), np.zeros(len(times))
    orders = 0
    for k in range(len(times)):
        gap = setup.ratio * spot_value[k] + position * mark_at[k]
        contracts = math.floor(abs(gap) / mark_at[k] / step + 1e-9) * step
        sell = gap > 0
        if not sell:
            contracts = min(contracts, -position)
        minimum = min_notional if sell else 0.0
        if contracts >= step and contracts * mark_at[k] >= minimum:
            fill = last_at[k] * (1 - slip if sell else 1 + slip)
            position += -contracts if sell else contracts
            cash += contracts * fill if sell else -contracts * fill
            fee_total += contracts * fill * setup.taker_fee
            orders += 1
        positions[k], cash_after[k], fees[k] = position, cash, fee_total
    funding = _funding(data_dir / f"{stem}_funding.csv", times, positions, close_ms, mark)
    return Leg(spot_value, cash_after + positions * mark_at, fees, funding, orders)


def _funding(path: Path, times: Ints, positions: Floats, close_ms: Ints, mark: Floats) -> Floats:
    """Return the running funding received by each cycle (events after the first cycle)."""
    if not path.is_file():
        return np.zeros(len(times))
    rows = _table(path)
    event_ms, rate = rows[:, 0].astype(np.int64), rows[:, 1]
    chosen = (event_ms > times[0]) & (event_ms <= times[-1])
    event_ms, rate = event_ms[chosen], rate[chosen]
    # An event at a cycle's time is settled before that cycle trades: the earlier position holds.
    held = positions[np.searchsorted(times, event_ms, side="left") - 1]
    paid = -held * _last_at(close_ms, mark, event_ms) * rate
    settled = np.searchsorted(event_ms, times, side="right")
    return np.concatenate([[0.0], np.cumsum(paid)])[settled]


def run_reference(data_dir: Path, start: datetime, end: datetime, setup: Setup = SETUP) -> Result:
    """Replay ``setup`` over ``[start, end]``; return the headline metrics."""
    times = cycle_times(start, end)
    legs = [_leg(data_dir, asset, q, times, setup) for asset, q in setup.holdings.items()]
    spot = sum((leg.spot_value for leg in legs), np.zeros(len(times)))
    fees = sum((leg.fees for leg in legs), np.zeros(len(times)))
    funding = sum((leg.funding for leg in legs), np.zeros(len(times)))
    trading = sum((leg.trading for leg in legs), np.zeros(len(times)))
    futures = setup.collateral + trading + funding - fees
    value = spot + futures
    initial = float(spot[0]) + setup.collateral
    peak = np.maximum.accumulate(np.concatenate([[initial], value]))[1:]
    return Result(
        cycles=len(times),
        orders=sum(leg.orders for leg in legs),
        start_value=initial,
        end_value=float(value[-1]),
        hedge_pnl=float(futures[-1]) - setup.collateral,
        fees=float(fees[-1]),
        funding=float(funding[-1]),
        total_return=float(value[-1]) / initial - 1,
        max_drawdown=float(np.max(1 - value / peak)),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", help="history directory (default ../shared/data)")
    parser.add_argument("--window", action="append", help="crash window (default: all six)")
    args = parser.parse_args()
    data_dir = Path(args.data_dir) if args.data_dir else default_shared_data_dir()
    if data_dir is None:
        raise SystemExit("no history: pass --data-dir (e.g. ../shared/data)")
    windows = [WINDOWS[name] for name in args.window] if args.window else list(WINDOWS.values())
    for window in windows:
        r = run_reference(data_dir, window.start, window.end)
        print(
            f"{window.name:<15} {r.cycles:>3} cycles {r.orders:>4} orders  end {r.end_value:,.2f}  "
            f"hedge P&L {r.hedge_pnl:,.2f}  fees {r.fees:,.2f}  funding {r.funding:,.2f}  "
            f"return {r.total_return:.4%}  max drawdown {r.max_drawdown:.4%}"
        )


if __name__ == "__main__":
    main()
