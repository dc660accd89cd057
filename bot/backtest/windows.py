"""Named periods a backtest replays by name: crash windows and rising (calm) periods.

A crash window (``--window november-2022``, the frontier's ``--crash``) is a market crash with a
lead-in so the hedge is in place; a rising period (``--window q1-2023``, the frontier's ``--calm``)
is a stretch where the market went up, and the hedge only cost upside. Each named period belongs
to one `Split`: rules are tuned on the ``tuning`` periods (2020–2022) only and judged on the
``held-out`` ones (November 2022 onwards), which no tuning has seen.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from bot.core.errors import ConfigError

Split = Literal["tuning", "held-out", "custom"]
"""Which set a period belongs to; ``custom`` for a period given as FROM:TO."""
SPLITS: tuple[Split, ...] = ("tuning", "held-out")


@dataclass(frozen=True, slots=True)
class Window:
    """A named replay period: a crash with a lead-in, or a rising stretch."""

    name: str
    start: datetime
    end: datetime
    what: str
    split: Split = "custom"


def _utc(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


WINDOWS: dict[str, Window] = {
    w.name: w
    for w in (
        Window(
            "march-2020",
            _utc(2020, 2, 20),
            _utc(2020, 4, 1),
            "COVID crash (12–13 March)",
            "tuning",
        ),
        Window(
            "may-2021",
            _utc(2021, 5, 1),
            _utc(2021, 6, 1),
            "leverage flush (12–19 May)",
            "tuning",
        ),
        Window(
            "may-june-2022",
            _utc(2022, 5, 1),
            _utc(2022, 7, 1),
            "LUNA collapse (7–12 May), then Celsius and 3AC (13–18 June)",
            "tuning",
        ),
        Window(
            "november-2022",
            _utc(2022, 11, 1),
            _utc(2022, 12, 1),
            "FTX collapse (6–10 Nov)",
            "held-out",
        ),
        Window(
            "august-2024",
            _utc(2024, 7, 25),
            _utc(2024, 8, 25),
            "yen carry-trade unwind (5 Aug)",
            "held-out",
        ),
        Window(
            "october-2025",
            _utc(2025, 10, 1),
            _utc(2025, 11, 1),
            "liquidation cascade (10 Oct)",
            "held-out",
        ),
    )
}
"""The crash windows."""

RISES: dict[str, Window] = {
    w.name: w
    for w in (
        Window(
            "recovery-2020",
            _utc(2020, 4, 1),
            _utc(2020, 9, 1),
            "recovery after the COVID crash",
            "tuning",
        ),
        Window("q1-2021", _utc(2021, 1, 1), _utc(2021, 4, 1), "the 2021 bull run", "tuning"),
        Window(
            "autumn-2021",
            _utc(2021, 7, 20),
            _utc(2021, 11, 10),
            "the rise to the November 2021 top",
            "tuning",
        ),
        Window("q1-2023", _utc(2023, 1, 1), _utc(2023, 4, 1), "recovery after FTX", "held-out"),
        Window(
            "q4-2023",
            _utc(2023, 10, 1),
            _utc(2024, 3, 15),
            "the run-up to the spot ETFs and the March 2024 top",
            "held-out",
        ),
        Window(
            "q4-2024",
            _utc(2024, 10, 1),
            _utc(2025, 1, 1),
            "the rally around the US election",
            "held-out",
        ),
    )
}
"""The rising (calm) periods: what a hedge costs while nothing crashes."""


def find_window(name: str) -> Window:
    """Return the named crash window or rising period, or raise `ConfigError` listing them."""
    found = WINDOWS.get(name) or RISES.get(name)
    if found is None:
        raise ConfigError(
            f"--window: unknown window {name!r}; use a crash window ({', '.join(WINDOWS)}) or "
            f"a rising period ({', '.join(RISES)}); `--window list` shows them"
        )
    return found


def _custom(text: str, flag: str) -> Window:
    """Read ``FROM:TO`` (UTC dates) as a period of its own."""
    start_text, _, end_text = text.partition(":")
    try:
        start, end = (datetime.fromisoformat(t).replace(tzinfo=UTC) for t in (start_text, end_text))
    except ValueError:
        raise ConfigError(
            f"{flag} {text}: not a named period nor FROM:TO dates (e.g. 2023-01-01:2023-04-01)"
        ) from None
    if end <= start:
        raise ConfigError(f"{flag} {text}: the end must be after the start")
    return Window(text, start, end, "custom period")


def select(texts: Sequence[str], named: Mapping[str, Window], flag: str) -> list[Window]:
    """Return the periods ``texts`` name: names of ``named``, a split, ``all`` or FROM:TO.

    Each period once, in the order given (a split or ``all`` expands in time order); anything
    else raises `ConfigError` naming the flag and what it takes.
    """
    chosen: dict[str, Window] = {}
    for text in texts:
        if text == "all" or text in SPLITS:
            found = [w for w in named.values() if text in ("all", w.split)]
        elif text in named:
            found = [named[text]]
        elif ":" in text:
            found = [_custom(text, flag)]
        else:
            raise ConfigError(
                f"{flag}: unknown period {text!r}; use one of {', '.join(named)}, "
                f"{', '.join(SPLITS)}, all, or FROM:TO dates"
            )
        chosen.update((w.name, w) for w in found)
    if not chosen:
        raise ConfigError(f"{flag}: name at least one period")
    return list(chosen.values())


def describe_windows() -> str:
    """Return one line per crash window, then per rising period: name, period, split, what."""

    def lines(periods: Mapping[str, Window]) -> list[str]:
        return [
            f"{w.name:<15} {w.start:%Y-%m-%d} → {w.end:%Y-%m-%d}  {w.split:<8}  {w.what}"
            for w in periods.values()
        ]

    return "\n".join(["crash windows:", *lines(WINDOWS), "rising (calm) periods:", *lines(RISES)])
