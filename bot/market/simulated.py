"""A seeded, clearly labelled SIMULATED market for demos and tests when no history is available.

Model: one market factor (BTC-like log random walk, ~50 % annualised volatility) plus
idiosyncratic noise per asset, scaled by a per-asset beta. In the middle of the period the factor
crashes (~35 % over ~3 days, then rebounds ~20 % from the trough) so that a short-perp hedge
visibly pays off. Perps track spot with a basis of a few bps, mark tracks the perp, and funding
settles every 8 h (00/08/16 UTC): mostly ~+0.01 %, negative during the crash.

Each asset draws from its own stream (seeded by ``seed`` and its name), so its path does not
depend on which other assets are simulated.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from decimal import Decimal

from bot.market.history import timeframe_ms
from bot.market.series import Bar, BarSeries, FundingEvent, FundingSeries, MarketData

_YEAR_MS = 365 * 86_400_000
_FUNDING_INTERVAL_MS = 8 * 3_600_000
_CRASH_MS = 3 * 86_400_000
_FACTOR_VOL = 0.50
_IDIO_VOL = 0.35
_CRASH_DROP = 0.35
_REBOUND_GAIN = 0.20
_SIG_DIGITS = 6
_VOLUME_TICK = Decimal("0.001")
_RATE_TICK = Decimal("1E-8")

_Ohlc = tuple[float, float, float, float]

_START_PRICES: dict[str, float] = {
    "BTC": 60000.0,
    "ETH": 3000.0,
    "BNB": 600.0,
    "SOL": 150.0,
    "XRP": 0.6,
    "ADA": 0.5,
    "LTC": 80.0,
    "DOGE": 0.15,
    "LINK": 15.0,
    "BCH": 350.0,
    "AVAX": 30.0,
    "DOT": 7.0,
    "NEAR": 5.0,
    "TRX": 0.12,
    "XLM": 0.11,
}
_BETAS: dict[str, float] = {
    "BTC": 1.0,
    "ETH": 1.2,
    "BNB": 1.2,
    "SOL": 1.4,
    "XRP": 1.3,
    "ADA": 1.4,
    "LTC": 1.3,
    "BCH": 1.4,
    "TRX": 1.2,
    "XLM": 1.4,
    "DOGE": 1.6,
    "LINK": 1.5,
    "DOT": 1.6,
    "AVAX": 1.7,
    "NEAR": 1.8,
}
_HOURLY_NOTIONAL: dict[str, float] = {"BTC": 1e8, "ETH": 5e7}
_DEFAULT_HOURLY_NOTIONAL = 5e6


def asset_beta(asset: str) -> float:
    """Return the beta of ``asset`` to the market factor (unknown assets: 1.2-2.0 by name)."""
    return _BETAS.get(asset, 1.2 + 0.8 * _name_fraction(asset, "beta"))


def crash_window(start_ms: int, bars: int, timeframe: str = "4h") -> tuple[int, int]:
    """Return ``(first_open_ms, end_ms)``: the crash spans the bars opening in that interval."""
    tf_ms = timeframe_ms(timeframe)
    first, count = _crash_bars(bars, tf_ms)
    aligned = start_ms - start_ms % tf_ms
    return aligned + first * tf_ms, aligned + (first + count) * tf_ms


def simulate_market(
    assets: Sequence[str], start_ms: int, bars: int, timeframe: str = "4h", seed: int = 7
) -> MarketData:
    """Simulate ``bars`` candles per asset from ``start_ms`` (floored to the timeframe)."""
    tf_ms = timeframe_ms(timeframe)
    if bars < 1:
        raise ValueError(f"bars must be >= 1, got {bars}")
    start = start_ms - start_ms % tf_ms
    crash_first, crash_count = _crash_bars(bars, tf_ms)
    regimes = [_regime(i - crash_first, crash_count) for i in range(bars)]
    factor = _factor_returns(random.Random(seed), regimes, tf_ms, crash_count)
    crash_start = start + crash_first * tf_ms
    crash_end = crash_start + crash_count * tf_ms
    end = start + bars * tf_ms

    spot: dict[str, BarSeries] = {}
    perp: dict[str, BarSeries] = {}
    mark: dict[str, BarSeries] = {}
    funding: dict[str, FundingSeries] = {}
    for asset in assets:
        rng = random.Random(f"{seed}:{asset}")
        spot_bars, perp_bars, mark_bars = _asset_bars(rng, asset, start, tf_ms, factor, regimes)
        spot[asset] = BarSeries(tf_ms, spot_bars)
        perp[asset] = BarSeries(tf_ms, perp_bars)
        mark[asset] = BarSeries(tf_ms, mark_bars)
        funding[asset] = FundingSeries(
            _funding_events(rng, asset_beta(asset), start, end, crash_start, crash_end)
        )
    return MarketData(
        label=f"SIMULATED MARKET (seeded random walk, not real prices; seed={seed})",
        timeframe_ms=tf_ms,
        spot=spot,
        perp=perp,
        mark=mark,
        funding=funding,
        simulated=True,
    )


def _crash_bars(bars: int, tf_ms: int) -> tuple[int, int]:
    """Return the index of the first crash bar and the number of crash bars, centred."""
    count = max(1, min(round(_CRASH_MS / tf_ms), bars // 5))
    return max(0, (bars - count) // 2), count


def _regime(bars_into_crash: int, crash_count: int) -> str:
    """Return "crash", "rebound" (twice the crash length after it) or "calm"."""
    if 0 <= bars_into_crash < crash_count:
        return "crash"
    if crash_count <= bars_into_crash < 3 * crash_count:
        return "rebound"
    return "calm"


def _factor_returns(
    rng: random.Random, regimes: list[str], tf_ms: int, crash_count: int
) -> list[float]:
    """Return the factor's log return per bar: noise plus the crash and rebound drifts."""
    sigma = _FACTOR_VOL * math.sqrt(tf_ms / _YEAR_MS)
    drift = {
        "calm": 0.0,
        "crash": math.log(1 - _CRASH_DROP) / crash_count,
        "rebound": math.log(1 + _REBOUND_GAIN) / (2 * crash_count),
    }
    vol_scale = {"calm": 1.0, "crash": 1.5, "rebound": 1.25}
    return [drift[r] + rng.gauss(0.0, sigma * vol_scale[r]) for r in regimes]


def _asset_bars(
    rng: random.Random,
    asset: str,
    start: int,
    tf_ms: int,
    factor: list[float],
    regimes: list[str],
) -> tuple[list[Bar], list[Bar], list[Bar]]:
    """Return the spot, perp and mark candles of ``asset``."""
    beta = asset_beta(asset)
    idio = 0.0 if asset == "BTC" else _IDIO_VOL
    bar_sigma = math.hypot(beta * _FACTOR_VOL, idio) * math.sqrt(tf_ms / _YEAR_MS)
    idio_sigma = idio * math.sqrt(tf_ms / _YEAR_MS)
    notional = _HOURLY_NOTIONAL.get(asset, _DEFAULT_HOURLY_NOTIONAL) * tf_ms / 3_600_000
    price = _START_PRICES.get(asset, 10 ** (-1 + 3 * _name_fraction(asset, "price")))
    basis = 0.0002
    spot: list[Bar] = []
    perp: list[Bar] = []
    mark: list[Bar] = []
    for i, (f_ret, regime) in enumerate(zip(factor, regimes, strict=True)):
        open_ms = start + i * tf_ms
        stressed = regime == "crash"
        o = price
        c = o * math.exp(beta * f_ret + rng.gauss(0.0, idio_sigma))
        h = max(o, c) * math.exp(abs(rng.gauss(0.0, 0.5 * bar_sigma)))
        low = min(o, c) * math.exp(-abs(rng.gauss(0.0, 0.5 * bar_sigma)))
        volume = notional / c * math.exp(rng.gauss(0.0, 0.3)) * (3.0 if stressed else 1.0)

        prev_basis = basis
        basis = (-0.0008 if stressed else 0.0002) + rng.gauss(0.0, 0.0002)
        po, pc = o * (1 + prev_basis), c * (1 + basis)
        ph = max(h * (1 + basis), po, pc)
        pl = min(low * (1 + basis), po, pc)
        p_volume = volume * 2.5 * math.exp(rng.gauss(0.0, 0.2))

        mo, mc = po * (1 + rng.gauss(0.0, 5e-5)), pc * (1 + rng.gauss(0.0, 5e-5))
        mh = max(mo, mc, ph * (1 - abs(rng.gauss(0.0, 5e-5))))
        ml = min(mo, mc, pl * (1 + abs(rng.gauss(0.0, 5e-5))))

        tick = Decimal(1).scaleb(math.floor(math.log10(o)) - _SIG_DIGITS + 1)
        spot.append(_bar(open_ms, (o, h, low, c), volume, tick))
        perp.append(_bar(open_ms, (po, ph, pl, pc), p_volume, tick))
        mark.append(_bar(open_ms, (mo, mh, ml, mc), 0.0, tick))
        price = c
    return spot, perp, mark


def _bar(open_ms: int, ohlc: _Ohlc, volume: float, tick: Decimal) -> Bar:
    """Build a bar, rounding all four prices to ``tick`` (monotone, so OHLC stays consistent)."""
    o, h, low, c = (Decimal(x).quantize(tick) for x in ohlc)
    return Bar(open_ms, o, h, low, c, Decimal(volume).quantize(_VOLUME_TICK))


def _funding_events(
    rng: random.Random, beta: float, start: int, end: int, crash_start: int, crash_end: int
) -> list[FundingEvent]:
    """Return 8-hourly funding in ``[start, end]``: ~+0.01 %, negative for crash-period events."""
    first = -(-start // _FUNDING_INTERVAL_MS) * _FUNDING_INTERVAL_MS
    events: list[FundingEvent] = []
    for t in range(first, end + 1, _FUNDING_INTERVAL_MS):
        if crash_start < t <= crash_end:
            rate = min(-0.0002 * beta + rng.gauss(0.0, 0.00005), -0.00001)
        else:
            rate = 0.0001 + rng.gauss(0.0, 0.00004)
        events.append(FundingEvent(t, Decimal(rate).quantize(_RATE_TICK)))
    return events


def _name_fraction(asset: str, salt: str) -> float:
    """Return a deterministic number in [0, 1) derived from ``asset`` (not ``hash``: salted)."""
    digest = hashlib.sha256(f"{salt}:{asset}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64
