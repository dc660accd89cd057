"""PNG figure of `hedgebot stress` (matplotlib, no display): P&L and liquidation distance."""

from __future__ import annotations

from collections.abc import Sequence
from io import BytesIO
from pathlib import Path
from textwrap import fill

from matplotlib import rc_context
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter
from PIL import Image

from bot.reporting.stress import Outcome
from bot.runtime.private_files import open_private

DPI = 90
COLORS = 64
WIDTH = 0.27


def plot_stress(outcomes: Sequence[Outcome], title: str, path: Path) -> None:
    """Draw spot, hedge and net P&L per scenario, and each leg's liquidation distance after it."""
    with rc_context({"font.size": 9}):
        _draw(outcomes, title, path)


def _draw(outcomes: Sequence[Outcome], title: str, path: Path) -> None:
    names = [o.scenario.name for o in outcomes]
    spots = range(len(outcomes))
    figure = Figure(figsize=(max(7.0, 1.1 * len(outcomes) + 2), 7), layout="constrained")
    pnl, distance = figure.subplots(2, 1, sharex=True)
    for offset, label, values, color in (
        (-WIDTH, "spot", [o.spot_pnl for o in outcomes], "0.55"),
        (0.0, "hedge", [o.hedge_pnl for o in outcomes], "C0"),
        (WIDTH, "net", [o.net for o in outcomes], "C3"),
    ):
        pnl.bar(
            [x + offset for x in spots], [float(v) for v in values], WIDTH, label=label, color=color
        )
    pnl.axhline(0, color="0.3", linewidth=0.8)
    pnl.set_ylabel("P&L of the move (USDT)")
    pnl.legend(loc="best")
    for x, outcome in zip(spots, outcomes, strict=True):
        for leg in outcome.legs:
            if leg.distance_after is None:
                continue
            marker = "x" if leg.liquidated else "o"
            distance.scatter([x], [float(leg.distance_after)], marker=marker, color="C0", s=18)
    distance.axhline(0, color="C3", linewidth=1.0, label="liquidation")
    distance.legend(loc="best")
    distance.yaxis.set_major_formatter(PercentFormatter(1.0))
    distance.set_ylabel("legs' distance to liquidation after")
    distance.set_xticks(list(spots), names, rotation=30, ha="right")
    for ax in (pnl, distance):
        ax.grid(True, alpha=0.3)
    figure.suptitle(fill(title, 90))
    buffer = BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    buffer.seek(0)
    with Image.open(buffer) as image, open_private(path, binary=True) as file:
        image.convert("RGB").quantize(colors=COLORS).save(file, format="PNG", optimize=True)
