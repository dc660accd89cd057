"""Fixtures of the unit tests over the in-memory venue: a replay clock, the venue, a journal.

A test module that needs another journal (e.g. one with planned orders) defines its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.core.clock import ReplayClock
from bot.journal.store import Journal
from tests.unit.fake_venue import NOW, FakeVenue, fake_venue, open_journal


@pytest.fixture
def clock() -> ReplayClock:
    """A replay clock at the fake venue's `NOW`."""
    return ReplayClock(NOW)


@pytest.fixture
def venue(clock: ReplayClock) -> FakeVenue:
    """The in-memory venue on ``clock``."""
    return fake_venue(clock)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    """A fresh SQLite journal in the test's directory."""
    with open_journal(tmp_path) as opened:
        yield opened
