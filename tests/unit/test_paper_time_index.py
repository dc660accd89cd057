"""The paper venue skips old fills and funding by a running-maximum index, never hiding a new one.

One catch-up appends each asset's events in turn, so times are not sorted across assets: the
index must return exactly what a full scan with ``time > since`` returns.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.sim.paper import _TimeIndex

T0 = datetime(2022, 11, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Event:
    time: datetime


def test_the_index_finds_every_item_after_since_in_block_sorted_lists() -> None:
    rng = random.Random(7)
    items: list[Event] = []
    index = _TimeIndex()
    now = T0
    for _ in range(300):
        # A catch-up: a few assets, each appending its own events in time order.
        previous = now
        now = previous + timedelta(hours=rng.choice([4, 8, 24]))
        for _asset in range(rng.randint(1, 4)):
            span = int((now - previous).total_seconds())
            times = sorted(rng.randint(1, span) for _ in range(rng.randint(0, 3)))
            items += [Event(previous + timedelta(seconds=s)) for s in times]
        since = T0 + timedelta(seconds=rng.randint(0, int((now - T0).total_seconds())))
        for moment in (since, None):
            expected = [e for e in items if moment is None or e.time > moment]
            found = [
                e for e in items[index.start(items, moment) :] if moment is None or e.time > moment
            ]
            assert found == expected
