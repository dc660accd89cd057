"""The results of a `hedgebot backtest --out` directory, as the status page shows them.

``metrics.json`` gives the period and each portfolio's metrics, shown as the very table the
backtest printed (`bot.backtest.output.render_table`); ``curves.csv`` gives each run's value per
cycle beside the unhedged portfolio, drawn like the bot's own portfolio chart. The files are read
at each request: a later backtest into the same directory shows at the next reload.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from bot.backtest.metrics import Metrics
from bot.backtest.output import CURVES_CSV, METRICS_JSON, render_table
from bot.core.errors import ConfigError
from bot.journal.records import to_jsonable
from bot.observability.series import ValuePoint, thin


def results_dir(text: str) -> Path:
    """Return the directory ``--out`` names; `ConfigError` unless it holds a backtest's results."""
    path = Path(text).expanduser()
    if not path.is_dir():
        raise ConfigError(
            f"--out {text}: no such directory; pass the directory `hedgebot backtest --out` "
            "wrote to (default var/backtest)"
        )
    if not (path / METRICS_JSON).is_file():
        raise ConfigError(
            f"--out {text} holds no {METRICS_JSON}; run `hedgebot backtest --out {text}` first"
        )
    return path


def _curves(path: Path) -> dict[str, list[ValuePoint]]:
    runs: dict[str, list[ValuePoint]] = defaultdict(list)
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as lines:
        for row in csv.DictReader(lines):
            runs[row["run"]].append(
                ValuePoint(
                    datetime.fromisoformat(row["time"]),
                    Decimal(row["spot"]),
                    Decimal(row["value"]),
                    Decimal(row["unhedged"]),
                )
            )
    return {label: thin(points) for label, points in runs.items()}


def backtest_json(out: Path) -> dict[str, Any]:
    """Return `/api/backtest`: the period, the metrics table and each run's curve.

    Files that cannot be read or parsed give ``error`` (one line) instead of the results.
    """
    try:
        document = json.loads((out / METRICS_JSON).read_text(encoding="utf-8"))
        metrics = [Metrics(**portfolio) for portfolio in document["portfolios"]]
        curves = _curves(out / CURVES_CSV)
    except (OSError, ValueError, KeyError, TypeError, InvalidOperation, csv.Error) as error:
        return {"directory": str(out), "error": f"cannot read the results in {out}: {error}"}
    return {
        "directory": str(out),
        "title": document.get("title"),
        "data": document.get("data"),
        "start": document.get("start"),
        "end": document.get("end"),
        "table": render_table(metrics),
        "curves": {label: to_jsonable(points) for label, points in curves.items()},
    }
