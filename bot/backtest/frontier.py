"""The insurance frontier: crash loss removed against calm-period upside given up, per strategy.

Each run is measured over crash windows and rising (calm) periods. Over a crash window whose spot
lost money, its **benefit** is the share of that loss the hedge took back: hedge P&L / −spot P&L.
Over a rising period, its **cost** is the share of the upside the hedge gave up: −hedge P&L /
spot P&L. The hedge P&L is the futures equity gained, fees and funding included. A run's point
is its benefit averaged over the crash windows against its cost averaged over the calm periods
(``mean``); ``weighted`` weighs each period by its spot move instead (a shallow window counts
for less), as a check on how far one period drives the verdict.

Static ratios draw the reference line, from the origin (a 0% hedge is the unhedged portfolio:
no benefit, no cost) through each static point in order of cost; between points it is linear,
outside them it extends the nearest segment. A strategy **above** the line removes more of the
crash losses than a static ratio of the same calm cost: it earns its complexity. One **on or
below** it is matched by the static ratio that removes as much, for less. Pure arithmetic.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from bot.backtest.windows import Split, Window
from bot.core.errors import ConfigError

Kind = Literal["crash", "calm"]
Measure = Literal["mean", "weighted"]
LINE_RATIOS = (Decimal("0.2"), Decimal("0.4"), Decimal("0.6"), Decimal("0.8"), Decimal(1))
"""The static ratios that draw the reference line unless ``--static`` says otherwise."""
TOLERANCE = 0.01
"""A strategy must clear the line by more than this (1 point of crash loss) to be above it; one
removing no more than this of the crash losses is no insurance to judge."""


@dataclass(frozen=True, slots=True)
class PeriodShare:
    """One run over one period: the spot value at its start, its spot and hedge P&L."""

    period: str
    kind: Kind
    split: Split
    spot_start: float
    spot_pnl: float
    hedge_pnl: float

    @property
    def share(self) -> float | None:
        """Return the crash loss removed or the upside given up; None when there was none."""
        if self.kind == "crash":
            return self.hedge_pnl / -self.spot_pnl if self.spot_pnl < 0 else None
        return -self.hedge_pnl / self.spot_pnl if self.spot_pnl > 0 else None

    @property
    def move(self) -> float:
        """Return the spot's move over the period, a fraction of its value at the start."""
        return self.spot_pnl / self.spot_start


@dataclass(frozen=True, slots=True)
class Point:
    """A run's place on the frontier; ``ratio`` is set for the static line's points."""

    label: str
    benefit: float | None
    """Share of the crash losses removed; None when no crash window lost money."""
    cost: float | None
    """Share of the calm-period upside given up; None when no calm period rose."""
    ratio: float | None = None

    @property
    def efficiency(self) -> float | None:
        """Return crash loss removed per unit of upside given up (None when undefined)."""
        if self.benefit is None or self.cost is None or self.cost <= 0:
            return None
        return self.benefit / self.cost


def _aggregate(shares: Sequence[PeriodShare], kind: Kind, measure: Measure) -> float | None:
    """Return the mean share of ``kind`` periods, or its mean weighted by each period's move."""
    counted = [(s.share, abs(s.move)) for s in shares if s.kind == kind and s.share is not None]
    if not counted:
        return None
    if measure == "mean":
        return statistics.fmean(share for share, _ in counted)
    return sum(share * move for share, move in counted) / sum(move for _, move in counted)


def point(
    label: str, shares: Sequence[PeriodShare], ratio: float | None = None, measure: Measure = "mean"
) -> Point:
    """Return the point of a run measured over ``shares``: its benefit and its cost."""
    crash, calm = _aggregate(shares, "crash", measure), _aggregate(shares, "calm", measure)
    return Point(label, crash, calm, ratio)


def _along(x: float, xs: Sequence[float], ys: Sequence[float]) -> tuple[float, bool]:
    """Return y at ``x`` on the polyline through (xs, ys), xs ascending, at least two points.

    Outside the polyline the first or last segment is extended; the flag says so.
    """
    right = next((i for i in range(1, len(xs)) if x <= xs[i]), len(xs) - 1)
    x0, x1, y0, y1 = xs[right - 1], xs[right], ys[right - 1], ys[right]
    slope = (y1 - y0) / (x1 - x0) if x1 > x0 else 0.0
    return y0 + slope * (x - x0), not xs[0] <= x <= xs[-1]


@dataclass(frozen=True, slots=True)
class StaticLine:
    """The reference line: the origin and the static ratios' points, in order of cost."""

    points: tuple[Point, ...]

    @classmethod
    def of(cls, statics: Sequence[Point]) -> StaticLine:
        """Return the line through the origin and ``statics`` (each with its ratio, measured)."""
        measured = [p for p in statics if p.benefit is not None and p.cost is not None]
        if not measured or any(p.ratio is None for p in measured):
            raise ValueError("the static line needs at least one measured static ratio")
        origin = Point("static 0%", 0.0, 0.0, 0.0)
        return cls((origin, *sorted(measured, key=lambda p: (p.cost, p.ratio))))

    def axis(self, name: Literal["cost", "benefit", "ratio"]) -> list[float]:
        """Return the line's costs, benefits or ratios, point by point."""
        return [float(getattr(p, name)) for p in self.points]

    def benefit_at(self, cost: float) -> tuple[float, bool]:
        """Return the line's benefit at ``cost`` and whether the line was extended to reach it."""
        return _along(cost, self.axis("cost"), self.axis("benefit"))

    def at_benefit(self, benefit: float) -> tuple[float, float]:
        """Return the static ratio that removes ``benefit`` of the crash losses, and its cost.

        No benefit at all is the 0% hedge, at no cost.
        """
        if benefit <= 0:
            return 0.0, 0.0
        ordered = sorted(self.points, key=lambda p: (p.benefit or 0.0, p.ratio or 0.0))
        benefits = [p.benefit or 0.0 for p in ordered]
        ratio, _ = _along(benefit, benefits, [p.ratio or 0.0 for p in ordered])
        cost, _ = _along(benefit, benefits, [p.cost or 0.0 for p in ordered])
        return ratio, cost


@dataclass(frozen=True, slots=True)
class Verdict:
    """Where a strategy sits against the static line, and what that means."""

    point: Point
    margin: float
    """Benefit minus the line's benefit at the same cost (a fraction of the crash losses)."""
    line_benefit: float
    extended: bool
    """The strategy's cost lies outside the measured line (it was extended to judge)."""
    static_ratio: float
    """The static ratio that removes as much of the crash losses."""
    static_cost: float
    tolerance: float = TOLERANCE

    @property
    def insures(self) -> bool:
        """Return whether the strategy removed more than `tolerance` of the crash losses."""
        return (self.point.benefit or 0.0) > self.tolerance

    @property
    def idle(self) -> bool:
        """Return whether it neither removed nor added more than `tolerance` of the losses."""
        return abs(self.point.benefit or 0.0) <= self.tolerance

    @property
    def above(self) -> bool:
        """Return whether it insures and clears the line by more than `tolerance`."""
        return self.insures and self.margin > self.tolerance

    @property
    def text(self) -> str:
        """Return the one-line verdict."""
        item, beyond = self.point, " (line extended)" if self.extended else ""
        removed, cost = (item.benefit or 0.0) * 100, (item.cost or 0.0) * 100
        if self.idle:
            return (
                f"{item.label}: removed {removed:.1f}% of the crash losses: no insurance to "
                "weigh against the static line"
            )
        if self.above:
            return (
                f"{item.label}: above the static line by {self.margin * 100:.1f} points of crash "
                f"loss removed at the same calm cost{beyond}: earns its complexity"
            )
        if self.insures:
            why = (
                f"removes {removed:.1f}% for {self.static_cost * 100:.1f}% of the calm upside; "
                f"it gave up {cost:.1f}%"
            )
        else:
            why = f"it added {-removed:.1f}% to the crash losses and gave up {cost:.1f}%"
        return (
            f"{item.label}: on or below the static line ({self.margin * 100:+.1f} points{beyond})"
            f": a static ratio of {self.static_ratio:.2f} does as well for less ({why})"
        )


def verdict(item: Point, line: StaticLine, tolerance: float = TOLERANCE) -> Verdict | None:
    """Return where ``item`` sits against ``line``; None when it could not be measured."""
    if item.benefit is None or item.cost is None:
        return None
    line_benefit, extended = line.benefit_at(item.cost)
    ratio, cost = line.at_benefit(item.benefit)
    margin = item.benefit - line_benefit
    return Verdict(item, margin, line_benefit, extended, ratio, cost, tolerance)


def line_ratios(texts: Sequence[str] | None) -> tuple[Decimal, ...]:
    """Return the static ratios of ``--static`` (default `LINE_RATIOS`), each in (0, 3]."""
    if not texts:
        return LINE_RATIOS
    ratios = []
    for text in texts:
        try:
            ratio = Decimal(text)
        except InvalidOperation:
            ratio = Decimal(-1)
        if not 0 < ratio <= 3:
            raise ConfigError(f"--static {text}: write hedge ratios above 0 and up to 3, e.g. 0.4")
        ratios.append(ratio)
    return tuple(sorted(set(ratios)))


@dataclass(frozen=True, slots=True)
class Frontier:
    """The measured runs: the static line's and the compared strategies', period by period."""

    periods: tuple[tuple[Window, Kind], ...]
    static: Mapping[str, tuple[float, tuple[PeriodShare, ...]]]
    """Static label -> (ratio, its shares)."""
    compared: Mapping[str, tuple[PeriodShare, ...]]

    def statics(self, measure: Measure = "mean") -> list[Point]:
        """Return the static runs' points, in the order of their ratios."""
        return [point(k, s, r, measure) for k, (r, s) in self.static.items()]

    def line(self, measure: Measure = "mean") -> StaticLine:
        """Return the static line; raise `ConfigError` when the periods cannot draw one."""
        statics = self.statics(measure)
        if all(p.benefit is None for p in statics):
            raise ConfigError(
                "--crash: the spot lost money in none of these crash windows, so there is no "
                "crash loss to share; add a window where it fell"
            )
        if all(p.cost is None for p in statics):
            raise ConfigError(
                "--calm: the spot rose in none of these periods, so there is no upside to "
                "give up; add a period where it rose"
            )
        return StaticLine.of(statics)

    def points(self, measure: Measure = "mean") -> list[Point]:
        """Return the compared strategies' points, in the order compared."""
        return [point(label, shares, None, measure) for label, shares in self.compared.items()]

    def verdicts(self, measure: Measure = "mean") -> list[Verdict | None]:
        """Return each compared strategy's verdict (None where it could not be measured)."""
        line = self.line(measure)
        return [verdict(p, line) for p in self.points(measure)]

    def only(self, split: Split) -> Frontier:
        """Return the frontier over the periods of ``split`` alone."""

        def kept(shares: tuple[PeriodShare, ...]) -> tuple[PeriodShare, ...]:
            return tuple(s for s in shares if s.split == split)

        return Frontier(
            tuple((w, kind) for w, kind in self.periods if w.split == split),
            {label: (ratio, kept(shares)) for label, (ratio, shares) in self.static.items()},
            {label: kept(shares) for label, shares in self.compared.items()},
        )
