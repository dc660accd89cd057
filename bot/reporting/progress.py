"""Progress bars with an ETA for replays (`run` in paper mode, `backtest`), on a terminal in colour.

One bar per replay, over the replayed time of its period; the ETA comes from the wall time spent
so far. While the bars are shown, lines printed and console log records go above them (a forked
worker process writes its records straight to the stream, never through this process's display).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from bot.reporting.terminal import color_enabled, console, is_terminal


def bars_wanted(quiet: bool, stream: TextIO, environ: Mapping[str, str]) -> bool:
    """Return True when progress bars go to ``stream``: a terminal, not ``-q``, not plain.

    Plain mode (``--no-color``, ``NO_COLOR``: `color_enabled` is False) has no escape codes at
    all, so no live bar: the progress lines are printed as when piped.
    """
    return not quiet and color_enabled() and is_terminal(stream, environ)


class _AboveBars:
    """A log stream that prints above the live bars in this process, straight in another."""

    def __init__(self, live: Console, stream: TextIO) -> None:
        self._live = live
        self._stream = stream
        self._pid = os.getpid()

    def write(self, text: str) -> int:
        """Print ``text`` above the bars (or to the stream in a forked process)."""
        if os.getpid() != self._pid:
            return self._stream.write(text)
        self._live.print(text.rstrip("\n"), markup=False, highlight=False, soft_wrap=True)
        return len(text)

    def flush(self) -> None:
        """Flush the stream of a forked process; the display flushes itself."""
        if os.getpid() != self._pid:
            self._stream.flush()


class ReplayBars:
    """Bars over the replayed time from ``start`` to ``end``; nothing at all unless ``shown``.

    Use it as a context manager; `add` a bar per replay, tell it each cycle's time (`reached`,
    safe from any thread) and `finish` it.
    """

    def __init__(self, start: datetime, end: datetime, shown: bool) -> None:
        """Lay out the bars: label, bar, percentage, replayed date, ETA."""
        self.shown = shown
        self._start = start
        self._end = end
        self._span = max((end - start).total_seconds(), 1.0)
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[at]}"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console(sys.stdout, width=None, terminal=True),
            redirect_stderr=False,
            disable=not shown,
        )
        self._tasks: dict[str, TaskID] = {}
        self._streams: list[tuple[logging.StreamHandler[Any], Any]] = []

    def add(self, key: str, label: str) -> None:
        """Add the bar of the replay ``key``, shown as ``label``."""
        self._tasks[key] = self._progress.add_task(label, total=self._span, at="")

    def reached(self, key: str, at: datetime) -> None:
        """Move the bar of ``key`` to the replayed time ``at``."""
        done = min(max((at - self._start).total_seconds(), 0.0), self._span)
        self._progress.update(self._tasks[key], completed=done, at=f"{at:%Y-%m-%d}")

    def finish(self, key: str) -> None:
        """Fill the bar of ``key``: its replay ended."""
        self._progress.update(self._tasks[key], completed=self._span, at=f"{self._end:%Y-%m-%d}")

    def __enter__(self) -> ReplayBars:
        """Show the bars; console log records print above them."""
        self._progress.start()
        if self.shown:
            self._logs_above()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Put the log streams back; leave the bars as they ended."""
        for handler, stream in self._streams:
            handler.setStream(stream)
        self._streams.clear()
        self._progress.stop()

    def _logs_above(self) -> None:
        live = self._progress.console
        for handler in logging.getLogger().handlers:
            if type(handler) is logging.StreamHandler and handler.stream.isatty():
                self._streams.append((handler, handler.setStream(_AboveBars(live, handler.stream))))
