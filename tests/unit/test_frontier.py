"""The frontier's arithmetic on hand-made numbers: shares, means, the static line, verdicts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.backtest.frontier import (
    LINE_RATIOS,
    Frontier,
    Kind,
    PeriodShare,
    Point,
    StaticLine,
    line_ratios,
    point,
    verdict,
)
from bot.backtest.frontier_output import document, render_frontier, write_frontier
from bot.backtest.windows import Split, Window
from bot.core.errors import ConfigError


def share(
    kind: Kind, spot: float, hedge: float, start: float = 1000.0, split: Split = "tuning"
) -> PeriodShare:
    return PeriodShare(f"{kind}-{spot}-{hedge}", kind, split, start, spot, hedge)


# The line: origin, then (cost, benefit) = (0.2, 0.25), (0.4, 0.45), (0.5, 0.70).
LINE = StaticLine.of(
    [
        Point("static 60%", 0.70, 0.5, 0.6),
        Point("static 20%", 0.25, 0.2, 0.2),
        Point("static 40%", 0.45, 0.4, 0.4),
    ]
)


def test_a_crash_share_is_the_loss_removed_and_a_calm_share_the_upside_given_up() -> None:
    assert share("crash", -100, 40).share == pytest.approx(0.4)
    assert share("crash", -100, -10).share == pytest.approx(-0.1)  # the hedge lost too
    assert share("crash", 5, 40).share is None  # nothing was lost
    assert share("calm", 200, -50).share == pytest.approx(0.25)
    assert share("calm", 200, 10).share == pytest.approx(-0.05)  # funding paid more than it cost
    assert share("calm", -1, -50).share is None  # nothing rose
    assert share("crash", -100, 40, start=400).move == pytest.approx(-0.25)


def test_a_point_is_the_mean_over_periods_or_the_mean_weighted_by_their_moves() -> None:
    shares = [
        share("crash", -100, 40),  # 0.4 of a 10% fall
        share("crash", -300, 240),  # 0.8 of a 30% fall
        share("crash", 50, 0),  # a window that rose: not counted
        share("calm", 500, -100),  # 0.2 of a 50% rise
    ]
    mean = point("x", shares)
    assert (mean.benefit, mean.cost) == (pytest.approx(0.6), pytest.approx(0.2))
    weighted = point("x", shares, measure="weighted")
    assert weighted.benefit == pytest.approx((0.4 * 0.1 + 0.8 * 0.3) / 0.4)
    assert mean.efficiency == pytest.approx(3.0)
    unmeasured = point("y", [share("calm", 500, -100)])
    assert unmeasured.benefit is None and unmeasured.efficiency is None


def test_the_static_line_runs_from_the_origin_through_the_points_in_order_of_cost() -> None:
    assert LINE.axis("ratio") == [0.0, 0.2, 0.4, 0.6]
    assert LINE.benefit_at(0.1) == (pytest.approx(0.125), False)
    assert LINE.benefit_at(0.3) == (pytest.approx(0.35), False)
    assert LINE.benefit_at(0.5) == (pytest.approx(0.70), False)
    assert LINE.benefit_at(0.6) == (pytest.approx(0.95), True)  # last segment extended
    assert LINE.benefit_at(-0.1) == (pytest.approx(-0.125), True)  # first segment extended
    with pytest.raises(ValueError, match="at least one measured"):
        StaticLine.of([Point("static 20%", None, 0.2, 0.2)])


def test_the_static_ratio_that_removes_as_much_is_read_off_the_line() -> None:
    assert LINE.at_benefit(0.35) == (pytest.approx(0.3), pytest.approx(0.3))
    assert LINE.at_benefit(0.575) == (pytest.approx(0.5), pytest.approx(0.45))
    assert LINE.at_benefit(-0.2) == (0.0, 0.0)  # a hedge that lost in crashes: no hedge does better


def test_a_strategy_above_the_line_earns_its_complexity() -> None:
    found = verdict(Point("dynamic", 0.40, 0.3), LINE)
    assert found is not None and found.above and not found.extended
    assert found.margin == pytest.approx(0.05)
    assert found.line_benefit == pytest.approx(0.35)
    assert found.text == (
        "dynamic: above the static line by 5.0 points of crash loss removed at the same calm "
        "cost: earns its complexity"
    )


def test_a_strategy_below_the_line_is_matched_by_a_cheaper_static_ratio() -> None:
    found = verdict(Point("dynamic", 0.30, 0.3), LINE)
    assert found is not None and not found.above
    assert found.margin == pytest.approx(-0.05)
    assert (found.static_ratio, found.static_cost) == (pytest.approx(0.25), pytest.approx(0.25))
    assert found.text.startswith(
        "dynamic: on or below the static line (-5.0 points): a static ratio of 0.25 does as "
        "well for less (removes 30.0% for 25.0% of the calm upside; it gave up 30.0%)"
    )


def test_within_the_tolerance_of_the_line_is_on_it() -> None:
    found = verdict(Point("dynamic", 0.355, 0.3), LINE)
    assert found is not None and found.margin == pytest.approx(0.005) and not found.above
    beyond = verdict(Point("dynamic", 1.2, 0.6), LINE)
    assert beyond is not None and beyond.above and beyond.extended
    assert "(line extended)" in beyond.text


def test_a_strategy_that_removes_nothing_is_no_insurance_whatever_it_earned() -> None:
    found = verdict(Point("rally hedge", 0.0, -0.05), LINE)
    assert found is not None and found.margin > 0 and not found.above
    assert "no insurance" in found.text
    assert verdict(Point("unmeasured", None, 0.2), LINE) is None


def test_a_strategy_that_added_to_the_crash_losses_is_beaten_by_no_hedge() -> None:
    found = verdict(Point("late", -0.12, 0.25), LINE)
    assert found is not None and not found.above and not found.idle
    assert found.margin == pytest.approx(-0.12 - 0.30)  # the line gives 0.30 at cost 0.25
    assert (found.static_ratio, found.static_cost) == (0.0, 0.0)
    assert found.text == (
        "late: on or below the static line (-42.0 points): a static ratio of 0.00 does as well "
        "for less (it added 12.0% to the crash losses and gave up 25.0%)"
    )


def test_static_ratios_come_from_the_flag_or_the_default() -> None:
    assert line_ratios(None) == LINE_RATIOS
    assert [str(r) for r in line_ratios(["0.5", "0.2", "0.5"])] == ["0.2", "0.5"]
    for bad in ("0", "-0.2", "3.5", "half"):
        with pytest.raises(ConfigError, match=f"--static {bad}: write hedge ratios"):
            line_ratios([bad])


def _window(name: str, split: Split) -> Window:
    return Window(
        name, datetime(2022, 1, 1, tzinfo=UTC), datetime(2022, 2, 1, tzinfo=UTC), "", split
    )


def _frontier() -> Frontier:
    """Two crash windows and two rising periods, one of each per split; static 20% and 40%."""
    crash_t, crash_h = _window("crash-t", "tuning"), _window("crash-h", "held-out")
    calm_t, calm_h = _window("calm-t", "tuning"), _window("calm-h", "held-out")

    def shares(crash: tuple[float, float], calm: tuple[float, float]) -> tuple[PeriodShare, ...]:
        return (
            PeriodShare("crash-t", "crash", "tuning", 1000, -100, crash[0] * 100),
            PeriodShare("crash-h", "crash", "held-out", 1000, -300, crash[1] * 300),
            PeriodShare("calm-t", "calm", "tuning", 1000, 500, -calm[0] * 500),
            PeriodShare("calm-h", "calm", "held-out", 1000, 200, -calm[1] * 200),
        )

    return Frontier(
        ((crash_t, "crash"), (crash_h, "crash"), (calm_t, "calm"), (calm_h, "calm")),
        {
            "static 20%": (0.2, shares((0.2, 0.2), (0.2, 0.2))),
            "static 40%": (0.4, shares((0.4, 0.4), (0.4, 0.4))),
        },
        {"dynamic": shares((0.5, 0.1), (0.2, 0.2))},
    )


def test_a_frontier_judges_each_split_on_its_own_periods() -> None:
    frontier = _frontier()
    whole = frontier.verdicts()[0]
    assert whole is not None and whole.margin == pytest.approx(0.3 - 0.2)  # mean 0.3 at cost 0.2
    tuning, held_out = frontier.only("tuning"), frontier.only("held-out")
    assert [w.name for w, _ in tuning.periods] == ["crash-t", "calm-t"]
    tuned, held = tuning.verdicts()[0], held_out.verdicts()[0]
    assert tuned is not None and tuned.above and tuned.margin == pytest.approx(0.3)
    assert held is not None and not held.above and held.margin == pytest.approx(-0.1)
    assert held.static_ratio == pytest.approx(0.1)
    weighted = frontier.verdicts("weighted")[0]  # the deep held-out crash weighs 3 times more
    assert weighted is not None and weighted.point.benefit == pytest.approx(0.2)


def test_periods_without_a_loss_or_without_a_rise_cannot_draw_the_line() -> None:
    periods = _frontier().periods
    crash = PeriodShare("crash-t", "crash", "tuning", 1000, -100, 20)
    no_rise = Frontier(periods[:1], {"static 20%": (0.2, (crash,))}, {})
    with pytest.raises(ConfigError, match="--calm: the spot rose in none of these periods"):
        no_rise.line()
    rising = PeriodShare("crash-t", "crash", "tuning", 1000, 50, -10)
    calm = PeriodShare("calm-t", "calm", "tuning", 1000, 500, -100)
    no_loss = Frontier(periods, {"static 20%": (0.2, (rising, calm))}, {})
    with pytest.raises(ConfigError, match="--crash: the spot lost money in none"):
        render_frontier(no_loss)


def test_the_rendering_and_the_document_carry_every_run_and_verdict(tmp_path: Path) -> None:
    frontier = _frontier()
    text = render_frontier(frontier)
    assert "verdict: dynamic: above the static line by 10.0 points" in text
    assert "crash-h" in text and "crash (held-out)" in text and "-30.0%" in text  # spot move
    path = write_frontier(tmp_path / "frontier.json", frontier, {"data": "hand-made"})
    saved = json.loads(path.read_text())
    assert saved == json.loads(json.dumps(document(frontier, {"data": "hand-made"})))
    assert [p["split"] for p in saved["periods"]] == ["tuning", "held-out", "tuning", "held-out"]
    assert [s["label"] for s in saved["static"]] == ["static 20%", "static 40%"]
    dynamic = saved["mean"]["strategies"][0]
    assert dynamic["label"] == "dynamic" and dynamic["verdict"]["above"] is True
    assert dynamic["benefit"] == pytest.approx(0.3) and dynamic["cost"] == pytest.approx(0.2)
    assert saved["compared"][0]["shares"][1]["share"] == pytest.approx(0.1)
    assert [p["ratio"] for p in saved["mean"]["line"]] == [0.0, 0.2, 0.4]
