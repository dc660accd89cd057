"""`volatility_regime`: hedge more as the market gets more volatile, in regimes with hysteresis.

The measure is the annualized volatility of the portfolio (holdings weighted by value) or of one
reference asset over ``window``: by default its downside volatility over 7 days (only the falls
count, doubled), which reads a crash within days and a rally not at all; ``downside = false``
counts every move, ``estimator = "ewma"`` weighs recent bars more (`strategies.estimators`).
The former default (14 days, every move) removed less of the crash losses for the same calm-period
cost on the tuning periods of docs/frontier.md. An implied-volatility figure from ``[inputs]``
raises the measure when higher.

A regime table maps the measure to a band of hedge ratios (the article's defaults: calm 0–20%,
uncertain 30–50%, extreme 50–75%). The regime changes only once the measure is ``hysteresis``
beyond a threshold, so a value hovering at a threshold does not flip the hedge.

Within a regime the ratio rises linearly with the measure, from the band's low at the regime's
threshold to the band's high at the next regime's threshold (``full_vol`` for the top regime),
clamped to the band and rounded to whole percent.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from itertools import pairwise
from typing import Annotated, Any, ClassVar

from pydantic import Field, model_validator

from strategies.analytics import log_returns, weighted_sum
from strategies.base import HedgeDecision, StrategyInput, StrategyNeeds, StrategyParams
from strategies.estimators import VolEstimator, volatility
from strategies.units import FINEST_BAR_SECONDS, Duration, bars_in, describe, parse_duration

PERCENT = Decimal("0.01")
Ratio = Annotated[Decimal, Field(ge=0, le=3)]
Vol = Annotated[Decimal, Field(ge=0)]


class Regime(StrategyParams):
    """One row of the regime table: where it starts and the hedge band it allows."""

    name: Annotated[str, Field(min_length=1)]
    min_vol: Vol
    """Annualized volatility (0.45 = 45%) from which this regime applies."""
    ratio: tuple[Ratio, Ratio]
    """Hedge ratio band ``[low, high]`` used inside the regime."""

    @model_validator(mode="after")
    def _ordered_band(self) -> Regime:
        low, high = self.ratio
        if low > high:
            raise ValueError(f"regime {self.name!r}: ratio band [{low}, {high}] is reversed")
        return self


DEFAULT_REGIMES = (
    Regime(name="calm", min_vol=Decimal(0), ratio=(Decimal(0), Decimal("0.2"))),
    Regime(name="uncertain", min_vol=Decimal("0.45"), ratio=(Decimal("0.3"), Decimal("0.5"))),
    Regime(name="extreme", min_vol=Decimal(1), ratio=(Decimal("0.5"), Decimal("0.75"))),
)


class VolatilityRegimeParams(StrategyParams):
    """Parameters of the volatility-regime strategy."""

    regimes: tuple[Regime, ...] = DEFAULT_REGIMES
    full_vol: Vol = Decimal("1.5")
    """Volatility at which the top regime reaches the high end of its band."""
    hysteresis: Annotated[Decimal, Field(ge=0, le=Decimal("0.5"))] = Decimal("0.05")
    """Volatility points beyond a threshold needed to change regime (0.05 = 5 points)."""
    window: Duration = parse_duration("7d")
    estimator: VolEstimator = "realized"
    """``realized``: every bar of the window alike; ``ewma``: each bar halving every half_life."""
    half_life: Duration = parse_duration("3d")
    """How fast an ``ewma`` forgets (ignored by ``realized``)."""
    downside: bool = True
    """Count only the falls (doubled), so a rally does not read as risk; false: every move."""
    reference: Annotated[str, Field(pattern=r"^[A-Z0-9]{2,15}$")] | None = None
    """Asset whose volatility decides; unset = the holdings weighted by value."""
    implied_vol_input: str | None = "implied_vol"
    """Name of an ``[inputs]`` value holding an implied-vol index (0.65 for 65); higher one wins."""
    start_regime: str = "uncertain"
    """Regime used while there is not enough history and no previous regime."""

    @model_validator(mode="after")
    def _consistent_table(self) -> VolatilityRegimeParams:
        rows = self.regimes
        if not rows:
            raise ValueError("regimes: list at least one regime")
        if rows[0].min_vol != 0:
            raise ValueError(f"regimes: the first regime must start at min_vol 0 ({rows[0].name})")
        names = [r.name for r in rows]
        if len(set(names)) != len(names):
            raise ValueError(f"regimes: names must be unique, got {names}")
        gaps = [b.min_vol - a.min_vol for a, b in pairwise(rows)]
        if any(gap <= 0 for gap in gaps):
            raise ValueError("regimes: min_vol must increase from one regime to the next")
        if gaps and 2 * self.hysteresis >= min(gaps):
            raise ValueError(
                f"hysteresis {self.hysteresis} must be under half the narrowest regime "
                f"({min(gaps)}) so the bands around thresholds do not overlap"
            )
        if self.full_vol <= rows[-1].min_vol:
            raise ValueError(f"full_vol {self.full_vol} must be above {rows[-1].min_vol}")
        if self.start_regime not in names:
            raise ValueError(f"start_regime {self.start_regime!r} is not one of {names}")
        if self.window.total_seconds() < FINEST_BAR_SECONDS * 2:
            raise ValueError(f"window {describe(self.window)} is too short; use at least 2h")
        return self


def next_regime(
    vol: Decimal, previous: int | None, thresholds: Sequence[Decimal], band: Decimal
) -> int:
    """Return the regime index for ``vol``, leaving ``previous`` only ``band`` past a threshold.

    ``thresholds[i]`` is where regime ``i`` starts (``thresholds[0] == 0``). Without a previous
    regime the plain classification applies.
    """
    if previous is None:
        return max(i for i, t in enumerate(thresholds) if vol >= t)
    index = previous
    while index > 0 and vol < thresholds[index] - band:
        index -= 1
    while index + 1 < len(thresholds) and vol >= thresholds[index + 1] + band:
        index += 1
    return index


def _pct(value: Decimal | float) -> str:
    return f"{Decimal(value) * 100:.0f}%"


class VolatilityRegime:
    """Hedge every holding at the ratio of the current volatility regime."""

    name: ClassVar[str] = "volatility_regime"
    Params: ClassVar[type[StrategyParams]] = VolatilityRegimeParams

    def __init__(self, params: VolatilityRegimeParams) -> None:
        """Keep the parameters and the history they need."""
        self.params = params
        self.thresholds = [r.min_vol for r in params.regimes]
        self.needs = StrategyNeeds(
            history_bars=bars_in(params.window, FINEST_BAR_SECONDS) + 1,
            history_assets=(params.reference,) if params.reference else (),
        )

    # -- measuring -------------------------------------------------------------------------
    def _series(self, view: StrategyInput) -> tuple[str, list[float]]:
        """Return what is measured and its per-bar returns over the window."""
        count = bars_in(self.params.window, view.history_interval_seconds)
        if self.params.reference:
            closes = view.history.get(self.params.reference, ())
            return self.params.reference, log_returns(closes, count)
        names, series, weights = [], [], []
        for holding in view.holdings:
            returns = log_returns(view.history.get(holding.asset, ()), count)
            if len(returns) >= self._min_returns(count) and holding.value > 0:
                names.append(holding.asset)
                series.append(returns)
                weights.append(float(holding.value))
        if not series:
            return "the portfolio", []
        what = names[0] if len(names) == 1 else f"the portfolio ({'+'.join(names)} by value)"
        total = sum(weights)
        return what, weighted_sum(series, [w / total for w in weights])

    def _volatility(self, returns: list[float], bar_seconds: int) -> float | None:
        params = self.params
        half_life = params.half_life.total_seconds() / bar_seconds
        return volatility(returns, bar_seconds, params.estimator, half_life, params.downside)

    def _kind(self) -> str:
        """Return what the measure is, in words: "downside vol", "EWMA vol (half-life 3d)"..."""
        params = self.params
        kind = "downside vol" if params.downside else "realized vol"
        if params.estimator == "ewma":
            kind += f" (EWMA, half-life {describe(params.half_life)})"
        return kind

    @staticmethod
    def _min_returns(count: int) -> int:
        return max(2, count // 2)

    def _measure(self, view: StrategyInput) -> tuple[Decimal | None, str, dict[str, Any]]:
        """Return the volatility to classify, the words saying where it came from, the inputs."""
        count = bars_in(self.params.window, view.history_interval_seconds)
        what, returns = self._series(view)
        window = describe(self.params.window)
        realized = None
        if len(returns) >= self._min_returns(count):
            raw = self._volatility(returns, view.history_interval_seconds)
            realized = None if raw is None else Decimal(f"{raw:.4f}")
        inputs: dict[str, Any] = {
            "measured": what,
            "window": window,
            "bars": len(returns),
            "realized_vol": realized,
        }
        if realized is None:
            words = f"only {len(returns)} of {count} bars of history for {what} over {window}"
        else:
            words = f"{self._kind()} of {what} over {window} is {_pct(realized)} annualized"
        key = self.params.implied_vol_input
        implied = view.external.get(key) if key else None
        if implied is None:
            return realized, words, inputs
        inputs["implied_vol"] = implied
        if realized is None or implied > realized:
            return implied, f"{words}; implied vol {_pct(implied)} (inputs.{key}) is used", inputs
        return realized, f"{words} (implied {_pct(implied)} is lower)", inputs

    # -- deciding --------------------------------------------------------------------------
    def _top(self, index: int) -> Decimal:
        """Return where regime ``index`` ends: the next threshold, or ``full_vol`` for the top."""
        following = self.thresholds[index + 1 : index + 2]
        return following[0] if following else self.params.full_vol

    def _ratio_in(self, index: int, vol: Decimal) -> Decimal:
        """Return the ratio inside regime ``index`` for ``vol``: linear across the band."""
        regime = self.params.regimes[index]
        low, high = regime.ratio
        start, end = regime.min_vol, self._top(index)
        share = min(max((vol - start) / (end - start), Decimal(0)), Decimal(1))
        return (low + (high - low) * share).quantize(PERCENT, rounding=ROUND_HALF_EVEN)

    def _previous(self, view: StrategyInput) -> int | None:
        names = [r.name for r in self.params.regimes]
        name = view.state.get("regime")
        return names.index(name) if name in names else None

    def decide(self, view: StrategyInput) -> HedgeDecision:
        """Return the ratio of the regime the measured volatility falls in."""
        params = self.params
        vol, measured, inputs = self._measure(view)
        previous = self._previous(view)
        if vol is None:
            names = [r.name for r in params.regimes]
            index = previous if previous is not None else names.index(params.start_regime)
            ratio = params.regimes[index].ratio[0]
            reason = (
                f"volatility regime {params.regimes[index].name} kept: {measured}; "
                f"hedge {_pct(ratio)} of every holding (low end of its band)"
            )
        else:
            index = next_regime(vol, previous, self.thresholds, params.hysteresis)
            ratio = self._ratio_in(index, vol)
            reason = f"{measured}: {self._regime_words(index, previous, vol, ratio)}"
        regime = params.regimes[index]
        inputs.update(
            regime=regime.name,
            previous_regime=None if previous is None else params.regimes[previous].name,
            ratio=ratio,
        )
        return HedgeDecision(
            ratios={h.asset: ratio for h in view.holdings},
            reason=reason,
            inputs=inputs,
            state={"regime": regime.name},
        )

    def _regime_words(self, index: int, previous: int | None, vol: Decimal, ratio: Decimal) -> str:
        """Say which regime holds, why it did (not) change, and the resulting hedge."""
        regimes, band = self.params.regimes, self.params.hysteresis
        regime = regimes[index]
        low, high = regime.ratio
        span = f"{_pct(regime.min_vol)}–{_pct(self._top(index))}"
        if previous is None or previous == index:
            change = f"regime {regime.name} ({span})"
            plain = next_regime(vol, None, self.thresholds, band)
            if previous is not None and plain != index:
                change += (
                    f", held within the ±{_pct(band)} hysteresis band "
                    f"(a move to {regimes[plain].name} needs a clearer break)"
                )
        else:
            direction = "up" if index > previous else "down"
            change = f"regime {direction} from {regimes[previous].name} to {regime.name} ({span})"
        return (
            f"{change} → hedge {_pct(ratio)} of every holding "
            f"(band {_pct(low)}–{_pct(high)}, rising with volatility)"
        )
