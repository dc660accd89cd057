from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from bot.core.errors import ConfigError
from strategies.analytics import YEAR_SECONDS
from strategies.base import HoldingView, StrategyInput
from strategies.estimators import volatility
from strategies.registry import create_strategy
from strategies.volatility_regime import VolatilityRegime, VolatilityRegimeParams, next_regime

H4 = 4 * 3600
T0 = datetime(2024, 1, 1, tzinfo=UTC)
THRESHOLDS = [Decimal(0), Decimal("0.45"), Decimal(1)]
BAND = Decimal("0.05")


def closes_with_vol(vol: float, bars: int = 12) -> list[Decimal]:
    """Return ``bars + 1`` closes whose realized vol (4h bars, annualized) is ``vol``."""
    step = vol / math.sqrt(365 * 6) / math.sqrt(bars / (bars - 1))
    closes = [100.0]
    for i in range(bars):
        closes.append(closes[-1] * math.exp(step if i % 2 == 0 else -step))
    return [Decimal(f"{c:.10f}") for c in closes]


def regime(**params: Any) -> VolatilityRegime:
    strategy = create_strategy("volatility_regime", {"window": "2d", "downside": False, **params})
    assert isinstance(strategy, VolatilityRegime)
    return strategy


def view(
    vol: float | None, state: Mapping[str, Any] | None = None, cycle: int = 0, **extra: Any
) -> StrategyInput:
    history = {"BTC": closes_with_vol(vol)} if vol is not None else {}
    return StrategyInput(
        time=T0 + timedelta(hours=4 * cycle),
        holdings=(
            HoldingView("BTC", Decimal(1), Decimal(100)),
            HoldingView("ETH", Decimal(10), Decimal(5)),
        ),
        history=history,
        history_interval_seconds=H4,
        state=state or {},
        **extra,
    )


def test_measured_vol_matches_the_synthetic_series() -> None:
    decision = regime(reference="BTC").decide(view(0.6))
    assert decision.inputs["realized_vol"] == pytest.approx(Decimal("0.6"), abs=Decimal("0.001"))
    assert decision.inputs["regime"] == "uncertain"


def test_classifier_hysteresis_on_a_value_oscillating_around_a_threshold() -> None:
    index = next_regime(Decimal("0.40"), None, THRESHOLDS, BAND)
    seen = []
    for vol in ["0.44", "0.47", "0.43", "0.49", "0.42", "0.46", "0.44"]:
        index = next_regime(Decimal(vol), index, THRESHOLDS, BAND)
        seen.append(index)
    assert seen == [0] * 7  # never above 0.50: stays calm
    assert next_regime(Decimal("0.50"), 0, THRESHOLDS, BAND) == 1
    assert next_regime(Decimal("0.41"), 1, THRESHOLDS, BAND) == 1
    assert next_regime(Decimal("0.39"), 1, THRESHOLDS, BAND) == 0
    assert next_regime(Decimal("1.2"), 0, THRESHOLDS, BAND) == 2  # a jump crosses two regimes


def test_hedge_does_not_flap_on_a_series_oscillating_around_the_threshold() -> None:
    strategy = regime(reference="BTC")
    state: Mapping[str, Any] = {}
    regimes, vols, ratios = [], [], []
    for cycle, vol in enumerate([0.40, 0.46, 0.44, 0.47, 0.43, 0.48, 0.42, 0.46, 0.44, 0.47]):
        decision = strategy.decide(view(vol, state, cycle))
        state = decision.state
        regimes.append(decision.inputs["regime"])
        vols.append(decision.inputs["realized_vol"])
        ratios.append(decision.ratios["BTC"])
    assert min(vols) < Decimal("0.45") < max(vols)  # the series does cross the threshold
    assert set(regimes) == {"calm"}
    assert max(ratios) <= Decimal("0.2")  # never jumps into the uncertain band (30–50%)
    held = strategy.decide(view(0.47, {"regime": "calm"}))
    assert "hysteresis" in held.reason


def test_without_hysteresis_the_same_series_flaps() -> None:
    strategy = regime(reference="BTC", hysteresis=0)
    state: Mapping[str, Any] = {}
    regimes = []
    for cycle, vol in enumerate([0.40, 0.46, 0.44, 0.47]):
        decision = strategy.decide(view(vol, state, cycle))
        state = decision.state
        regimes.append(decision.inputs["regime"])
    assert regimes == ["calm", "uncertain", "calm", "uncertain"]


def test_ratio_rises_linearly_inside_each_band() -> None:
    strategy = regime(reference="BTC")
    assert strategy.decide(view(0.225)).ratios["BTC"] == Decimal("0.10")  # calm 0–45% → 0–20%
    assert strategy.decide(view(0.725)).ratios["BTC"] == Decimal("0.40")  # uncertain 45–100%
    assert strategy.decide(view(1.25)).ratios["BTC"] == Decimal("0.62")  # extreme 100–150%
    assert strategy.decide(view(2.5)).ratios["BTC"] == Decimal("0.75")  # capped at the band top


def test_unwind_steps_down_through_the_hysteresis_band() -> None:
    strategy = regime(reference="BTC")
    state: Mapping[str, Any] = {"regime": "extreme"}
    steps = []
    for cycle, vol in enumerate([1.6, 1.2, 0.97, 0.9, 0.6, 0.43, 0.38, 0.2]):
        decision = strategy.decide(view(vol, state, cycle))
        state = decision.state
        steps.append((decision.inputs["regime"], decision.ratios["ETH"]))
    assert [r for r, _ in steps] == [
        "extreme", "extreme", "extreme", "uncertain", "uncertain", "uncertain", "calm", "calm",
    ]  # fmt: skip
    ratios = [ratio for _, ratio in steps]
    assert ratios == sorted(ratios, reverse=True)
    assert ratios[0] == Decimal("0.75") and ratios[-1] == Decimal("0.09")


def test_portfolio_vol_weights_holdings_by_value() -> None:
    strategy = regime()
    history = {"BTC": closes_with_vol(0.3), "ETH": closes_with_vol(0.3)}
    decision = strategy.decide(
        StrategyInput(
            time=T0,
            holdings=(
                HoldingView("BTC", Decimal(1), Decimal(100)),
                HoldingView("ETH", Decimal(10), Decimal(10)),
            ),
            history=history,
            history_interval_seconds=H4,
        )
    )
    # identical, perfectly correlated series: the portfolio has the same vol
    assert decision.inputs["realized_vol"] == pytest.approx(Decimal("0.3"), abs=Decimal("0.001"))
    assert "BTC+ETH by value" in decision.reason


def test_implied_vol_from_inputs_raises_the_measure() -> None:
    strategy = regime(reference="BTC")
    decision = strategy.decide(view(0.3, external={"implied_vol": Decimal("0.8")}))
    assert decision.inputs["regime"] == "uncertain"
    assert "implied vol 80%" in decision.reason
    lower = strategy.decide(view(0.3, external={"implied_vol": Decimal("0.2")}))
    assert lower.inputs["regime"] == "calm"


def test_too_little_history_keeps_the_start_regime_and_says_so() -> None:
    decision = regime(reference="BTC").decide(view(None))
    assert decision.inputs["regime"] == "uncertain"
    assert decision.ratios["BTC"] == Decimal("0.3")
    assert "only 0 of 12 bars" in decision.reason


def test_same_input_same_output() -> None:
    strategy = regime(reference="BTC")
    state = {"regime": "calm"}
    seen = view(0.7, state)
    first, second = strategy.decide(seen), strategy.decide(seen)
    assert first == second
    assert state == {"regime": "calm"}


def test_table_is_configurable_and_checked() -> None:
    custom = regime(
        regimes=[
            {"name": "quiet", "min_vol": 0, "ratio": [0, 0]},
            {"name": "loud", "min_vol": 0.6, "ratio": [0.5, 1]},
        ],
        full_vol=1,
        start_regime="quiet",
    )
    assert custom.decide(view(0.8)).ratios["BTC"] == Decimal("0.75")
    with pytest.raises(ConfigError, match="under half the narrowest regime"):
        regime(hysteresis=0.3)
    with pytest.raises(ConfigError, match="must start at min_vol 0"):
        regime(regimes=[{"name": "x", "min_vol": 0.1, "ratio": [0, 1]}], start_regime="x")


def _closes(returns: list[float]) -> list[Decimal]:
    closes = [100.0]
    for step in returns:
        closes.append(closes[-1] * math.exp(step))
    return [Decimal(f"{c:.10f}") for c in closes]


def _btc(returns: list[float], strategy: VolatilityRegime) -> Any:
    history = {"BTC": _closes(returns)}
    holdings = (HoldingView("BTC", Decimal(1), history["BTC"][-1]),)
    return strategy.decide(
        StrategyInput(T0, holdings, history=history, history_interval_seconds=H4)
    )


def test_by_default_only_the_falls_of_the_last_7_days_count() -> None:
    params = VolatilityRegimeParams()
    assert (params.window, params.downside, params.estimator) == (
        timedelta(days=7),
        True,
        "realized",
    )
    default = create_strategy("volatility_regime", {})
    assert isinstance(default, VolatilityRegime)
    rally = [0.01, 0.03] * 21  # 42 bars of 4h: 7 days of rises only
    rising = _btc(rally, default)
    assert rising.inputs["realized_vol"] == 0 and rising.inputs["regime"] == "calm"
    assert rising.ratios["BTC"] == 0 and "downside vol of BTC over 7d is 0%" in rising.reason
    falling = _btc([-r for r in rally], default)
    assert falling.inputs["regime"] == "extreme"  # the same moves, down
    every_move = regime(window="7d")  # downside = false: both read alike
    assert _btc(rally, every_move).inputs == _btc([-r for r in rally], every_move).inputs


def test_a_series_as_likely_to_rise_as_to_fall_reads_the_same_downside_or_not() -> None:
    moves = [0.02, -0.02, 0.01, -0.01] * 10
    root_mean_square = math.sqrt(sum(m * m for m in moves) / len(moves) * YEAR_SECONDS / H4)
    assert volatility(moves, H4, downside=True) == pytest.approx(root_mean_square)
    assert volatility([abs(m) for m in moves], H4, "ewma", 6, downside=True) == 0
    assert volatility(moves[:1], H4) is None


def test_an_ewma_reads_a_fresh_fall_sooner_and_forgets_it_sooner() -> None:
    calm = [0.002, -0.002] * 18
    crash = [-0.06, -0.05, -0.07]
    fresh, later = calm + crash, calm + crash + calm[:36]  # 6 half-lives later
    assert volatility(fresh, H4, "ewma", 6) > 1.3 * volatility(fresh, H4)
    assert volatility(later, H4, "ewma", 6) < 0.5 * volatility(later, H4)
    decision = _btc(fresh, regime(estimator="ewma", half_life="1d", window="7d"))
    assert "realized vol (EWMA, half-life 1d) of BTC over 7d" in decision.reason
