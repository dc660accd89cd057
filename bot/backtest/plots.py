"""PNG figures of a backtest (matplotlib, no display needed): per run, comparison, frontier.

The frontier figure puts each compared strategy's crash loss removed against its calm upside
given up, beside the static line.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import Any

from matplotlib import rc_context
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter
from PIL import Image

from bot.backtest.frontier import Frontier
from bot.backtest.metrics import drawdowns
from bot.backtest.runner import RunResult
from bot.runtime.private_files import open_private

DPI = 90
COLORS = 64
"""Line charts need few colours: a 64-colour palette makes a figure about a quarter the size."""
UNHEDGED_STYLE: dict[str, Any] = {"color": "0.3", "linewidth": 1.2, "linestyle": "--", "zorder": 3}


def _curves(result: RunResult) -> tuple[list[datetime], list[float], list[float], float]:
    times = [p.time for p in result.points]
    hedged = [float(p.value) for p in result.points]
    bare = [float(result.unhedged(p)) for p in result.points]
    initial = float(result.points[0].spot + result.collateral)
    return times, hedged, bare, initial


def _ratios(result: RunResult) -> list[float]:
    return [float(p.short_notional / p.spot) if p.spot else 0.0 for p in result.points]


def _finish(figure: Figure, axes: Sequence[Any], title: str, path: Path) -> None:
    for ax in axes:
        ax.grid(True, alpha=0.3)
    figure.suptitle(title)
    buffer = BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    buffer.seek(0)
    with Image.open(buffer) as image, open_private(path, binary=True) as file:
        image.convert("RGB").quantize(colors=COLORS).save(file, format="PNG", optimize=True)


def plot_run(result: RunResult, title: str, path: Path) -> None:
    """Draw hedged vs unhedged value, drawdown, hedge ratio, and cumulative fees and funding."""
    with rc_context({"date.converter": "concise", "font.size": 9}):
        _draw_run(result, title, path)


def plot_comparison(results: Sequence[RunResult], title: str, path: Path) -> None:
    """Draw every run's value, drawdown and hedge ratio beside the unhedged portfolio."""
    with rc_context({"date.converter": "concise", "font.size": 9}):
        _draw_comparison(results, title, path)


def _draw_run(result: RunResult, title: str, path: Path) -> None:
    times, hedged, bare, initial = _curves(result)
    figure = Figure(figsize=(9, 9), layout="constrained")
    value, drawdown, ratio, costs = figure.subplots(4, 1, sharex=True)
    value.plot(times, bare, label="unhedged", **UNHEDGED_STYLE)
    value.plot(times, hedged, label=result.spec.label, color="C0")
    value.set_ylabel("portfolio (USDT)")
    value.legend(loc="best")
    drawdown.plot(times, [-d for d in drawdowns(initial, bare)], **UNHEDGED_STYLE)
    drawdown.plot(times, [-d for d in drawdowns(initial, hedged)], color="C0")
    drawdown.yaxis.set_major_formatter(PercentFormatter(1.0))
    drawdown.set_ylabel("drawdown")
    ratio.plot(times, _ratios(result), color="C2")
    ratio.set_ylim(bottom=0)
    ratio.yaxis.set_major_formatter(PercentFormatter(1.0))
    ratio.set_ylabel("short / spot")
    costs.plot(times, [-float(p.fees) for p in result.points], label="fees (paid)", color="C3")
    costs.plot(times, [float(p.funding) for p in result.points], label="funding", color="C1")
    costs.axhline(0, color="0.5", linewidth=0.8)
    costs.set_ylabel("cumulative (USDT)")
    costs.legend(loc="best")
    _finish(figure, (value, drawdown, ratio, costs), title, path)


def _draw_comparison(results: Sequence[RunResult], title: str, path: Path) -> None:
    figure = Figure(figsize=(9, 8), layout="constrained")
    value, drawdown, ratio = figure.subplots(3, 1, sharex=True)
    times, _, bare, initial = _curves(results[0])
    value.plot(times, bare, label="unhedged", **UNHEDGED_STYLE)
    drawdown.plot(times, [-d for d in drawdowns(initial, bare)], **UNHEDGED_STYLE)
    for index, result in enumerate(results):
        times, hedged, _, initial = _curves(result)
        color = f"C{index}"
        value.plot(times, hedged, label=result.spec.label, color=color)
        drawdown.plot(times, [-d for d in drawdowns(initial, hedged)], color=color)
        ratio.plot(times, _ratios(result), color=color)
    value.set_ylabel("portfolio (USDT)")
    value.legend(loc="best")
    drawdown.yaxis.set_major_formatter(PercentFormatter(1.0))
    drawdown.set_ylabel("drawdown")
    ratio.set_ylim(bottom=0)
    ratio.yaxis.set_major_formatter(PercentFormatter(1.0))
    ratio.set_ylabel("short / spot")
    _finish(figure, (value, drawdown, ratio), title, path)


def plot_frontier(frontier: Frontier, path: Path) -> Path:
    """Draw each compared strategy's point beside the static line; return ``path``."""
    with rc_context({"font.size": 9}):
        figure = Figure(figsize=(8, 6), layout="constrained")
        ax = figure.subplots()
        line = frontier.line()
        costs, benefits = line.axis("cost"), line.axis("benefit")
        ax.plot(costs, benefits, marker="o", label="static ratios", **UNHEDGED_STYLE)
        for cost, benefit, ratio in zip(costs, benefits, line.axis("ratio"), strict=True):
            ax.annotate(f"{ratio:g}", (cost, benefit), xytext=(6, -10), textcoords="offset points")
        for index, item in enumerate(frontier.points()):
            if item.cost is not None and item.benefit is not None:
                color = f"C{index}"
                ax.scatter([item.cost], [item.benefit], s=60, color=color, label=item.label)
        ax.xaxis.set_major_formatter(PercentFormatter(1.0))
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_xlabel("calm-period upside given up (mean; fees and funding included)")
        ax.set_ylabel("crash loss removed (mean)")
        ax.legend(loc="upper left")
        crashes = sum(kind == "crash" for _, kind in frontier.periods)
        title = (
            f"insurance frontier over {crashes} crash window(s) and "
            f"{len(frontier.periods) - crashes} rising period(s)\n"
            "above the static line: more crash loss removed for the same calm cost"
        )
        _finish(figure, (ax,), title, path)
    return path
