"""What forced closes took: notional × time until the journaled fills restored the short."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.cli.commands.report import render_forced
from bot.cli.commands.status import AdlRanks, ranks_of
from bot.core.clock import ReplayClock
from bot.core.domain import Fill, ForcedClose, Side
from bot.core.errors import PermissionDenied
from bot.journal.store import Journal
from bot.reporting.forced import forced_losses, total_lost
from bot.reporting.insurance import insurance_report
from bot.settings.config import RiskConfig
from tests.unit.fake_venue import FakeVenue

T0 = datetime(2024, 3, 1, tzinfo=UTC)
BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
HOUR = timedelta(hours=1)
ADL, LIQ = ForcedClose.ADL, ForcedClose.LIQUIDATION


def fill(
    trade_id: str,
    at: timedelta,
    side: Side,
    amount: str,
    price: str = "100",
    symbol: str = BTC,
    forced: ForcedClose | None = None,
) -> Fill:
    return Fill(
        "v", trade_id, symbol, side, Decimal(amount), Decimal(price), Decimal(0), "USDT",
        Decimal(0), T0 + at, None, None, forced,
    )  # fmt: skip


def test_an_adl_restored_by_a_later_sell_lost_its_notional_for_that_long() -> None:
    fills = [
        fill("1", 0 * HOUR, Side.SELL, "2"),  # the hedge
        fill("2", 1 * HOUR, Side.BUY, "0.5", "120", forced=ADL),
        fill("3", 2 * HOUR, Side.SELL, "0.3"),  # not yet back to 2
        fill("4", 4 * HOUR, Side.SELL, "0.2"),  # back to 2
    ]
    (loss,) = forced_losses(fills, T0 + 10 * HOUR)
    assert (loss.kind, loss.symbol, loss.amount, loss.notional) == (ADL, BTC, Decimal("0.5"), 60)
    assert loss.time == T0 + HOUR and loss.restored == T0 + 4 * HOUR
    assert loss.uncovered == 3 * HOUR and loss.hours_uncovered == 3
    assert loss.protection_lost == Decimal(180)


def test_an_adl_not_restored_is_uncovered_until_the_end() -> None:
    fills = [
        fill("1", 0 * HOUR, Side.SELL, "2"),
        fill("2", 1 * HOUR, Side.BUY, "1", forced=ADL),
        fill("3", 2 * HOUR, Side.SELL, "1", symbol=ETH),  # another leg restores nothing
        fill("4", 3 * HOUR, Side.BUY, "0.5"),  # the bot cut the short: the gap grows
        fill("5", 4 * HOUR, Side.SELL, "1"),  # 0.5 short of the size before the ADL
        fill("6", 9 * HOUR, Side.SELL, "0.5"),  # after the end: does not count
    ]
    (loss,) = forced_losses(fills, T0 + 5 * HOUR + timedelta(minutes=30))
    assert loss.restored is None
    assert loss.uncovered == timedelta(hours=4, minutes=30)
    assert loss.protection_lost == Decimal(450)


def test_overlapping_adls_each_count_until_the_short_regains_its_own_size() -> None:
    fills = [
        fill("1", 0 * HOUR, Side.SELL, "1"),
        fill("2", 1 * HOUR, Side.BUY, "0.5", forced=ADL),  # 1 → 0.5
        fill("3", 2 * HOUR, Side.BUY, "0.25", forced=ADL),  # 0.5 → 0.25
        fill("4", 3 * HOUR, Side.SELL, "0.25"),  # back to 0.5: the second is restored
        fill("5", 5 * HOUR, Side.SELL, "0.5"),  # back to 1: the first too
    ]
    first, second = forced_losses(fills, T0 + 10 * HOUR)
    assert (first.restored, second.restored) == (T0 + 5 * HOUR, T0 + 3 * HOUR)
    assert first.protection_lost == Decimal(50) * 4 and second.protection_lost == Decimal(25)
    # The same as the uncovered notional over time: 50 for 1 h, 75 for 1 h, 50 for 2 h.
    assert sum(loss.protection_lost for loss in (first, second)) == 50 + 75 + 100
    assert total_lost((first, second), ADL) == (2, Decimal(75), Decimal(225))
    assert total_lost((first, second), LIQ) == (0, 0, 0)


def test_a_liquidation_counts_the_same_way_and_is_told_apart() -> None:
    fills = [
        fill("1", 0 * HOUR, Side.SELL, "1"),
        fill("2", 1 * HOUR, Side.BUY, "1", "150", forced=LIQ),
        fill("3", 1 * HOUR + timedelta(minutes=6), Side.SELL, "1", "150"),
    ]
    (loss,) = forced_losses(fills, T0 + 2 * HOUR)
    assert loss.kind is LIQ and loss.protection_lost == Decimal(15)  # 150 × 0.1 h
    lines = render_forced((loss,))
    assert any(line.startswith("liquidation  1 event(s), 150.00 USDT closed") for line in lines)
    assert render_forced(()) == []


def test_the_report_shows_the_period_s_forced_closes(tmp_path: Path) -> None:
    with Journal.open(f"sqlite:///{tmp_path / 'j.sqlite'}") as journal:
        journal.record_fills(
            [
                fill("1", 0 * HOUR, Side.SELL, "1"),
                fill("2", 1 * HOUR, Side.BUY, "0.5", forced=ADL),
                fill("3", 3 * HOUR, Side.SELL, "0.5"),
            ]
        )
        whole = insurance_report(journal, "v", now=T0 + 8 * HOUR)
        assert [loss.restored for loss in whole.forced] == [T0 + 3 * HOUR]
        cut = insurance_report(journal, "v", until=T0 + 2 * HOUR, now=T0 + 8 * HOUR)
        (loss,) = cut.forced  # restored after the period: uncovered until its end
        assert loss.restored is None and loss.protection_lost == Decimal(50)
        assert insurance_report(journal, "v", since=T0 + 2 * HOUR).forced == ()


async def test_status_ranks_are_marked_at_the_warning_rank_or_unknown_when_refused() -> None:
    venue = FakeVenue(ReplayClock(T0), {"BTC": Decimal(100)}, {"BTC": Decimal(1)})
    venue.adl_ranks = {BTC: 3}
    ranks = await ranks_of(venue, [BTC, ETH], warn_rank=3)
    assert (ranks.cell(BTC), ranks.cell(ETH), ranks.warned()) == ("3 !", "—", [BTC])
    assert AdlRanks(4, {BTC: 3}).cell(BTC) == "3"
    venue.adl_rank_error = PermissionDenied("no permission for ADL quantile")
    refused = await ranks_of(venue, [BTC], warn_rank=3)
    assert refused.cell(BTC) == "unknown" and "no permission" in (refused.unknown or "")


@pytest.mark.parametrize("rank", [-1, 6])
def test_the_warning_rank_is_0_to_5(rank: int) -> None:
    with pytest.raises(ValidationError, match="adl_warn_rank"):
        RiskConfig(adl_warn_rank=rank)
