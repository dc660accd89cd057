"""The soak's invariants judge what the exchange did correctly: each catches its fault, and an
account where nothing went wrong passes. Orders are placed straight on the emulated account."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bot.core.clock import ReplayClock, to_ms
from bot.core.domain import Fill, ForcedClose, FundingPayment, OrderStatus, Side
from bot.emulator.account import Account, OrderRecord, final_status
from bot.journal.records import JournaledOrder, RebalanceRecord, RebalanceStatus, RunMode
from bot.market.simulated import simulate_market
from bot.sim.paper import PaperVenue
from tests.chaos import invariants
from tests.chaos.ledger import ClockMap, Ledger, TargetLog

BTC = "BTC/USDT:USDT"
NOW = datetime(2024, 1, 5, 1, tzinfo=UTC)
RULES = invariants.Rules(Decimal("0.05"), 2, timedelta(minutes=10))


class Book:
    """An emulated account, its ledger and a target log: BTC 1 held, hedged at 50%."""

    def __init__(self) -> None:
        data = simulate_market(["BTC"], to_ms(datetime(2024, 1, 1, tzinfo=UTC)), 60)
        self.clock = ReplayClock(NOW)
        self.venue = PaperVenue(
            data, self.clock, {"BTC": Decimal(1)}, Decimal(10**6), Decimal(0), Decimal(0)
        )
        self.account = Account(self.venue, None)
        self.ledger = Ledger(self.account, ClockMap(self.clock, 0.0))
        self.targets = TargetLog(data, {BTC: "BTC"})
        self.targets.record(NOW, Decimal("0.5"), {"BTC": Decimal(1)})
        self.lots = {BTC: Decimal("0.001")}
        self.account.sim.set_leverage(BTC, 2)
        self.account.sim.set_isolated(BTC)
        self.requests = 0

    def request(self) -> int:
        """A request arrives (the harness samples the clocks and marks the audit log)."""
        self.requests += 1
        self.ledger.clocks.sample()
        self.ledger.mark(self.requests)
        return self.requests

    def sell(self, amount: str, cid: str) -> None:
        self.request()
        order = self.account.sim.market_order(
            BTC,
            Side.SELL,
            Decimal(amount),
            client_order_id=cid,
            reduce_only=False,
            price=self.account.last_price_now(BTC),
            time=self.clock.now(),
        )
        record = OrderRecord(order, "MARKET", "GTC", Decimal(0), final_status(order), 0)
        self.account.accept(record)

    def target(self) -> Decimal:
        return self.targets.highest(BTC, self.clock.now(), self.clock.now())

    def over_hedges(self, reads: list[int] | None = None) -> list[str]:
        self.ledger.snapshot()
        events = self.ledger.events()
        return invariants.over_hedges(
            events, self.ledger, self.targets, RULES, self.lots, reads or []
        )


@pytest.fixture
def book() -> Book:
    return Book()


def test_a_hedge_at_its_target_passes_every_check(book: Book) -> None:
    book.sell(f"{book.target():.3f}", "hb-BTC-1")
    assert book.over_hedges() == []
    assert invariants.duplicate_client_ids(book.ledger.events()) == []
    sim = book.account.sim
    assert invariants.unsettled(sim, book.targets, RULES, book.lots, book.clock.now()) == []
    assert invariants.settings(sim, book.ledger.events(), RULES, 20, NOW) == []


def test_a_doubled_order_is_an_over_hedge_at_the_second_fill(book: Book) -> None:
    half = f"{book.target():.3f}"
    book.sell(half, "hb-BTC-1")
    book.sell(half, "hb-BTC-2")
    found = book.over_hedges()
    assert len(found) == 1 and found[0].startswith(f"over-hedge: {BTC}") and "hb-BTC-2" in found[0]
    sim = book.account.sim
    assert invariants.unsettled(sim, book.targets, RULES, book.lots, book.clock.now())


def test_targets_replaced_without_the_clock_moving_still_count_at_that_moment(book: Book) -> None:
    half = book.target()
    book.targets.record(NOW, Decimal(1), {"BTC": Decimal(1)})  # moved and moved back at once
    book.targets.record(NOW, Decimal("0.5"), {"BTC": Decimal(1)})
    assert book.targets.highest(BTC, NOW, NOW) == pytest.approx(2 * half, rel=Decimal("1e-9"))
    later = NOW + timedelta(minutes=30)
    assert book.targets.highest(BTC, later, later) < 2 * half  # only 50% in force by then


def test_someone_elses_sale_is_excused_until_a_position_read_showed_it(book: Book) -> None:
    target = book.target()
    book.sell(f"{target * Decimal('0.6'):.3f}", "hb-BTC-1")
    first = book.requests + 1
    book.ledger.external(lambda: book.account.external_trade(BTC, "sell", Decimal("0.2")), first)
    read = book.request()  # a position read, or some other request
    book.sell(f"{target * Decimal('0.4'):.3f}", "hb-BTC-2")
    assert book.over_hedges(reads=[]) == []  # sized without having seen the sale
    assert book.over_hedges(reads=[read])  # it had read the positions since: its own fault


def test_a_client_id_accepted_twice_is_reported(book: Book) -> None:
    book.sell("0.01", "hb-BTC-1")
    book.account.reset_to_defaults()  # the exchange forgets the id, the audit log does not
    book.sell("0.01", "hb-BTC-1")
    found = invariants.duplicate_client_ids(book.ledger.events())
    assert found and found[0].startswith("dup-client-id: hb-BTC-1 accepted 2×")


def test_leverage_and_margin_mode_are_checked_on_held_legs(book: Book) -> None:
    book.account.reset_to_defaults()
    book.sell("0.01", "hb-BTC-1")
    book.clock._now += timedelta(hours=1)
    book.sell("0.01", "hb-BTC-2")
    sim = book.account.sim
    found = invariants.settings(sim, book.ledger.events(), RULES, 20, NOW)
    assert any("leverage 20" in f and "holds" in f for f in found)
    assert any("cross margin" in f for f in found)
    fills = [f for f in found if "fill #" in f]
    assert len(fills) == 1 and "hb-BTC-2" in fills[0]


def _journal(book: Book, status: str, filled: str, fills: list[Fill]) -> invariants.JournalView:
    fact = next(iter(book.ledger.orders.values()))
    order = JournaledOrder(
        fact.client_order_id,
        "emu",
        BTC,
        Side.SELL,
        fact.amount,
        False,
        Decimal(1),
        OrderStatus(status),
        Decimal(filled),
        "",
        NOW,
        NOW,
    )
    return invariants.JournalView([order], fills, [], [])


def _fill(book: Book, price_shift: str = "0") -> Fill:
    trade = next(iter(book.ledger.trades.values()))
    return Fill(
        "emu",
        trade.trade_id,
        BTC,
        trade.side,
        trade.amount,
        trade.price + Decimal(price_shift),
        trade.fee,
        "USDT",
        trade.realized_pnl,
        trade.time,
        trade.client_order_id,
        trade.order_id,
    )


def test_the_journal_must_say_what_the_exchange_says(book: Book) -> None:
    book.sell("0.01", "hb-BTC-1")
    book.ledger.snapshot()
    ids = {key: (trade.symbol, key) for key, trade in book.ledger.trades.items()}
    right = _journal(book, "filled", "0.01", [_fill(book)])
    assert invariants.journal_orders(book.ledger, right) == []
    assert invariants.journal_fills(book.ledger, right, ids) == []
    rejected = _journal(book, "rejected", "0", [])
    assert invariants.journal_orders(book.ledger, rejected) == [
        f"journal-orders: hb-BTC-1 ({BTC}) exchange FILLED 0.01/0.01, journal rejected 0"
    ]
    assert "not journaled" in invariants.journal_fills(book.ledger, rejected, ids)[0]
    off_by_cents = _journal(book, "filled", "0.01", [_fill(book, "0.02")])
    assert "journaled as" in invariants.journal_fills(book.ledger, off_by_cents, ids)[0]
    twice = _journal(book, "filled", "0.01", [_fill(book), _fill(book)])
    assert "journaled 2×" in invariants.journal_fills(book.ledger, twice, ids)[0]


def test_funding_is_matched_to_the_cent_once_each(book: Book) -> None:
    book.sell("0.01", "hb-BTC-1")
    payment = book.account.sim.apply_funding(BTC, Decimal("0.0001"), Decimal(60000), NOW)
    assert payment is not None
    book.ledger.snapshot()
    row = FundingPayment(
        "emu",
        "1",
        BTC,
        NOW,
        payment.rate,
        payment.position_contracts,
        payment.amount.quantize(Decimal("1E-8")),
    )
    view = invariants.JournalView([], [], [row], [])
    assert invariants.journal_funding(book.ledger, view) == []
    assert (
        "not journaled"
        in invariants.journal_funding(book.ledger, invariants.JournalView([], [], [], []))[0]
    )
    doubled = invariants.JournalView([], [], [row, row], [])
    assert "journaled twice" in invariants.journal_funding(book.ledger, doubled)[0]


def test_a_failed_cycle_needs_a_reason_other_than_the_strategys() -> None:
    def row(status: str, reason: str, note: str | None) -> RebalanceRecord:
        return RebalanceRecord(
            "r", NOW, RunMode.LIVE, "emu", "static", {}, {}, reason, RebalanceStatus(status), note
        )

    view = invariants.JournalView(
        [],
        [],
        [],
        [
            row("failed", "static hedge: 40% of every holding", None),
            row("failed", "static hedge: 40% of every holding", "BTC: rejected (-2019)"),
            row("skipped", "refused to act on stale prices: BTC", None),
            row("done", "static hedge: 40% of every holding", None),
        ],
    )
    assert invariants.unexplained_rebalances(view) == ["rebalance: r failed without a reason"]


def test_a_liquidation_erased_by_a_reset_before_any_trade_read_needs_no_flag(book: Book) -> None:
    book.sell("0.5", "hb-1")
    liquidated_at = book.request()
    book.ledger.external(lambda: book.account.liquidate(BTC), liquidated_at)
    read = book.request()  # a read of the trade list, in the second case
    reset_at = book.request()
    book.ledger.external(book.account.reset_to_defaults, reset_at)
    events = book.ledger.events()
    (liquidation,) = [t for t in book.account.sim.trades if t.forced is ForcedClose.LIQUIDATION]
    assert invariants.forgotten_liquidations(events, book.ledger, []) == {liquidation.order_id}
    assert invariants.forgotten_liquidations(events, book.ledger, [(read, "BTCUSDT")]) == set()
    assert invariants.forgotten_liquidations(events, book.ledger, [(read, None)]) == set()
    elsewhere = [(read, "ETHUSDT")]  # a read of another symbol's trades shows nothing of it
    assert invariants.forgotten_liquidations(events, book.ledger, elsewhere) == {
        liquidation.order_id
    }


def test_a_forced_fill_must_be_journaled_with_its_exact_kind(book: Book) -> None:
    book.sell("0.5", "hb-1")
    adl_at = book.request()
    book.ledger.external(lambda: book.account.auto_deleverage(BTC, fraction=Decimal("0.5")), adl_at)
    book.ledger.snapshot()
    ids = {key: (trade.symbol, key) for key, trade in book.ledger.trades.items()}
    sold, adl = book.ledger.trades.values()
    assert adl.forced is ForcedClose.ADL

    def journaled(kind: ForcedClose | None) -> invariants.JournalView:
        rows = [
            Fill(
                "emu",
                t.trade_id,
                BTC,
                t.side,
                t.amount,
                t.price,
                t.fee,
                "USDT",
                t.realized_pnl,
                t.time,
                t.client_order_id,
                t.order_id,
                kind if t is adl else None,
            )
            for t in (sold, adl)
        ]
        return invariants.JournalView([], rows, [], [])

    assert invariants.journal_fills(book.ledger, journaled(ForcedClose.ADL), ids) == []
    (wrong,) = invariants.journal_fills(book.ledger, journaled(ForcedClose.LIQUIDATION), ids)
    assert wrong.endswith(
        "journaled as a forced close (liquidation), the exchange's was a forced close (adl)"
    )
    (unflagged,) = invariants.journal_fills(book.ledger, journaled(None), ids)
    assert "journaled as an ordinary trade" in unflagged
    exempt = invariants.journal_fills(book.ledger, journaled(None), ids, [adl.order_id])
    assert exempt == []


def test_an_adl_erased_by_a_reset_before_any_trade_read_needs_no_flag(book: Book) -> None:
    book.sell("0.5", "hb-1")
    adl_at = book.request()
    book.ledger.external(lambda: book.account.auto_deleverage(BTC, fraction=Decimal(1)), adl_at)
    reset_at = book.request()
    book.ledger.external(book.account.reset_to_defaults, reset_at)
    (adl,) = [t for t in book.account.sim.trades if t.forced is ForcedClose.ADL]
    events = book.ledger.events()
    assert invariants.forgotten_liquidations(events, book.ledger, []) == {adl.order_id}
