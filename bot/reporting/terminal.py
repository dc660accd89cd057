"""The terminal's mode: colour or plain text, set by the CLI for a command; rich consoles in it.

Plain (stdout not a terminal, ``NO_COLOR``, ``--no-color``) means no escape codes at all; it is
the default, and the mode again after each command, so text rendered outside the CLI is plain.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TextIO

from rich.console import Console

UNBOUNDED = 100_000
"""The width text is laid out in: never wrapped (a terminal wraps long lines itself)."""

_color = False


def use_color(enabled: bool) -> None:
    """Render with colour (a terminal) or as plain text from now on."""
    global _color
    _color = enabled


def color_enabled() -> bool:
    """Return True when output is rendered with colour."""
    return _color


def wants_color(no_color: bool, stream: TextIO, environ: Mapping[str, str]) -> bool:
    """Return True when output to ``stream`` should be coloured.

    Never with ``--no-color`` or ``NO_COLOR`` set (no-color.org); always with ``FORCE_COLOR``
    set (e.g. ``| less -R``); otherwise only on a terminal.
    """
    if no_color or environ.get("NO_COLOR"):
        return False
    if environ.get("FORCE_COLOR"):
        return True
    return stream.isatty()


def is_terminal(stream: TextIO, environ: Mapping[str, str]) -> bool:
    """Return True when ``stream`` is a terminal that can redraw a line (progress bars)."""
    return stream.isatty() and environ.get("TERM") != "dumb"


def console(file: TextIO, width: int | None = UNBOUNDED, terminal: bool = False) -> Console:
    """Return a rich console writing to ``file`` in the current mode.

    ``width`` None: the terminal's; ``terminal``: it may move the cursor (a live display), even
    without colour.
    """
    return Console(
        file=file,
        width=width,
        color_system="standard" if _color else None,
        force_terminal=_color or terminal,
        no_color=not _color,
        highlight=False,
        markup=False,
        emoji=False,
    )
