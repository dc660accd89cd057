"""Alembic migrations of the journal: old journals open without losing a row, on every backend."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    MetaData,
    Table,
    create_engine,
    insert,
    inspect,
    select,
    text,
)

from bot.core.domain import Fill, ForcedClose, Side
from bot.core.errors import JournalError
from bot.journal.migrate import (
    FIRST_RELEASE_TABLES,
    alembic_config,
    current_revision,
    head_revision,
)
from bot.journal.models import Base
from bot.journal.records import RebalanceStatus, RunMode
from bot.journal.revision import HEAD_REVISION
from bot.journal.store import Journal
from bot.journal.urls import database_url

T0 = datetime(2022, 11, 9, 4, 0, tzinfo=UTC)
TINY = Decimal("0.000000000000000001")
BIG = Decimal("12345678901234567890.123456789012345678")

# Every table of the first release with rows of real shape: money with 18 decimals and 20
# integer digits, negative amounts, NULLs, JSON documents, booleans both ways, aware times.
FIRST_RELEASE_ROWS: dict[str, list[dict[str, Any]]] = {
    "rebalances": [
        {
            "id": "20221109T0400-paper:e2e-test",
            "time": T0,
            "mode": "paper",
            "venue": "paper:e2e",
            "strategy": "static",
            "inputs": {
                "prices": {"BTC": "16500.12"},
                "holdings": {"BTC": "1"},
                "at": T0.isoformat(),
            },
            "targets": {"BTC/USDT:USDT": {"notional": "6600.048", "reason": "40%", "sources": {}}},
            "reason": "BTC holdings grew",
            "status": "done",
            "note": None,
        },
        {
            "id": "20221109T0800-binanceusdm:main-main",
            "time": T0 + timedelta(hours=4),
            "mode": "live",
            "venue": "binanceusdm:main",
            "strategy": "volatility_regime",
            "inputs": {},
            "targets": {},
            "reason": "risk checks",
            "status": "partial",
            "note": "ETH leg rejected: min notional",
        },
    ],
    "orders": [
        {
            "client_order_id": "hb-20221109T0400-btc",
            "venue_order_id": "8389765512",
            "venue": "paper:e2e",
            "rebalance_id": "20221109T0400-paper:e2e-test",
            "symbol": "BTC/USDT:USDT",
            "side": "sell",
            "amount": Decimal("0.4"),
            "reduce_only": False,
            "reference_price": Decimal("16500.12"),
            "status": "filled",
            "filled": Decimal("0.4"),
            "average_price": Decimal("16498.3"),
            "reason": "grow short: 0.00 → target 6,600.05",
            "created_at": T0,
            "updated_at": T0 + timedelta(seconds=2),
        },
        {
            "client_order_id": "hb-20221109T0800-eth",
            "venue_order_id": None,
            "venue": "binanceusdm:main",
            "rebalance_id": None,
            "symbol": "ETH/USDT:USDT",
            "side": "buy",
            "amount": TINY,
            "reduce_only": True,
            "reference_price": BIG,
            "status": "rejected",
            "filled": Decimal(0),
            "average_price": None,
            "reason": "min notional",
            "created_at": T0 + timedelta(hours=4),
            "updated_at": T0 + timedelta(hours=4),
        },
    ],
    "fills": [
        {
            "venue": "paper:e2e",
            "trade_id": "t-1",
            "client_order_id": "hb-20221109T0400-btc",
            "venue_order_id": "8389765512",
            "symbol": "BTC/USDT:USDT",
            "side": "sell",
            "amount": Decimal("0.4"),
            "price": Decimal("16498.3"),
            "fee": Decimal("3.29966"),
            "fee_currency": "USDT",
            "realized_pnl": Decimal(0),
            "is_liquidation": False,
            "time": T0 + timedelta(seconds=1),
        },
        {
            "venue": "binanceusdm:main",
            "trade_id": "t-2",
            "client_order_id": None,
            "venue_order_id": None,
            "symbol": "ADA/USDT:USDT",
            "side": "buy",
            "amount": BIG,
            "price": TINY,
            "fee": Decimal("0.000000012345678901"),
            "fee_currency": "BNB",
            "realized_pnl": -BIG,
            "is_liquidation": True,
            "time": T0 + timedelta(hours=5),
        },
    ],
    "funding_payments": [
        {
            "venue": "paper:e2e",
            "payment_id": "BTC/USDT:USDT-1667980800000",
            "symbol": "BTC/USDT:USDT",
            "time": T0 + timedelta(hours=4),
            "rate": Decimal("-0.000375"),
            "position_contracts": Decimal("-0.4"),
            "amount": Decimal("-2.474745"),
            "currency": "USDT",
        },
        {
            "venue": "paper:e2e",
            "payment_id": "BTC/USDT:USDT-1668009600000",
            "symbol": "BTC/USDT:USDT",
            "time": T0 + timedelta(hours=12),
            "rate": Decimal("0.0001"),
            "position_contracts": Decimal("-0.4"),
            "amount": Decimal("0.66"),
            "currency": "USDT",
        },
    ],
    "position_snapshots": [
        {
            "rebalance_id": "20221109T0400-paper:e2e-test",
            "time": T0 + timedelta(seconds=3),
            "venue": "paper:e2e",
            "symbol": "BTC/USDT:USDT",
            "contracts": Decimal("-0.4"),
            "entry_price": Decimal("16498.3"),
            "mark_price": Decimal("16510.2"),
            "isolated_margin": Decimal("3299.66"),
            "liquidation_price": Decimal("24500.5"),
            "target_notional": Decimal("6600.048"),
            "hedged_value": Decimal("16500.12"),
            "leverage": 2,
        },
        {
            "rebalance_id": None,
            "time": T0 + timedelta(hours=4),
            "venue": "binanceusdm:main",
            "symbol": "ETH/USDT:USDT",
            "contracts": -BIG,
            "entry_price": BIG,
            "mark_price": TINY,
            "isolated_margin": TINY,
            "liquidation_price": None,
            "target_notional": None,
            "hedged_value": None,
            "leverage": 1,
        },
    ],
    "events": [
        {
            "kind": "margin_guard",
            "time": T0 + timedelta(hours=4, seconds=5),
            "message": "ETH/USDT:USDT: liquidation 4.1% away, added 120 USDT margin",
            "data": {"rebalance_id": "20221109T0800-binanceusdm:main-main", "margin": "120"},
        },
        {
            "kind": "kill_switch",
            "time": T0 + timedelta(hours=6),
            "message": "halted: drill",
            "data": {"path": "var/HALT"},
        },
        {
            "kind": "liquidation",
            "time": T0 + timedelta(hours=7),
            "message": "ADA/USDT:USDT: position -100 → 0 contracts, liquidated",
            "data": None,
        },
        {
            "kind": "note",
            "time": T0 + timedelta(hours=8),
            "message": "a list, not an object",
            "data": ["rebalance_id", 1],
        },
    ],
}
BACKFILLED_VENUES = ["binanceusdm:main", None, None, None]
"""``events.venue`` after 0002: the margin guard's from its rebalance, the rest unknown."""


@pytest.fixture
def engine(journal_url: str) -> Iterator[Engine]:
    url = database_url(journal_url)
    if url.database and url.get_backend_name() == "sqlite":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    made = create_engine(url)
    yield made
    made.dispose()


def upgrade_to(engine: Engine, revision: str) -> None:
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


KIND_COLUMNS = ("is_liquidation", "forced")
"""How a fill was forced: a flag until 0004, a kind since; compared apart (`forced_kinds`)."""


def first_release_columns(table: str) -> list[str]:
    return [c for c in FIRST_RELEASE_ROWS[table][0] if c not in KIND_COLUMNS]


def reflected(engine: Engine, name: str) -> Table:
    """Return ``name`` as the database has it now (any revision), with the types it reads."""
    return Table(name, MetaData(), autoload_with=engine)


def stored_table(engine: Engine, name: str) -> Table:
    """Return the model's table as the database has it: before 0004, fills with the flag."""
    table = Base.metadata.tables[name]
    if name != "fills" or "forced" in reflected(engine, name).c:
        return table
    columns = [c._copy() for c in table.columns if c.name != "forced"]
    return Table(name, MetaData(), *columns, Column("is_liquidation", Boolean(), nullable=False))


def as_stored(table: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return first-release rows in ``table``'s columns: the flag as a kind where it is one."""
    if "is_liquidation" in table.c or "forced" not in table.c:
        return rows
    return [
        {k: v for k, v in row.items() if k != "is_liquidation"}
        | {"forced": "liquidation" if row["is_liquidation"] else None}
        for row in rows
    ]


def forced_kinds(engine: Engine) -> list[Any]:
    """Return each fill's flag (before 0004) or kind (since), in key order."""
    fills = reflected(engine, "fills")
    column = fills.c["forced"] if "forced" in fills.c else fills.c["is_liquidation"]
    with engine.connect() as connection:
        return list(connection.scalars(select(column).order_by(fills.c.id)))


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the first release's tables, first-release columns only, in key order."""
    rows = {}
    with engine.connect() as connection:
        for name in FIRST_RELEASE_ROWS:
            table = Base.metadata.tables[name]
            columns = [table.c[column] for column in first_release_columns(name)]
            statement = select(*columns).order_by(*table.primary_key.columns)
            rows[name] = [tuple(row) for row in connection.execute(statement)]
    return rows


def fill_first_release(engine: Engine) -> None:
    with engine.begin() as connection:
        for name, rows in FIRST_RELEASE_ROWS.items():
            table = stored_table(engine, name)
            connection.execute(insert(table), as_stored(table, rows))


def schema_differences(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


@pytest.mark.parametrize("stamped", [True, False], ids=["alembic", "pre-alembic"])
def test_first_release_journal_upgrades_without_losing_a_row(
    engine: Engine, journal_url: str, stamped: bool
) -> None:
    upgrade_to(engine, "0001")
    assert "venue" not in {c["name"] for c in inspect(engine).get_columns("events")}
    fill_first_release(engine)
    if not stamped:  # as made by the first release's create_all: no alembic_version
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE alembic_version"))
    before = dump(engine)
    assert [len(rows) for rows in before.values()] == [2, 2, 2, 2, 2, 4]
    assert forced_kinds(engine) == [False, True]
    engine.dispose()

    with Journal.open(journal_url) as journal:
        assert dump(engine) == before  # every row there, every value equal
        assert forced_kinds(engine) == [None, "liquidation"]
        with engine.connect() as connection:
            assert current_revision(connection) == head_revision()
            venues = connection.scalars(text("SELECT venue FROM events ORDER BY id")).all()
            assert connection.scalar(text("SELECT count(*) FROM leases")) == 0
        assert venues == BACKFILLED_VENUES
        assert schema_differences(engine) == []

        # The journal reads the old rows through its API and writes new ones beside them.
        totals = journal.totals(venue="paper:e2e")
        assert totals.fees == Decimal("3.29966")
        assert totals.funding_net == Decimal("-1.814745")
        assert (totals.fills, totals.orders, totals.rebalances) == (1, 1, 1)
        liquidation = journal.fills(venue="binanceusdm:main")[0]
        assert liquidation.amount == BIG and liquidation.realized_pnl == -BIG
        assert liquidation.price == TINY and liquidation.timestamp == T0 + timedelta(hours=5)
        assert liquidation.forced is ForcedClose.LIQUIDATION
        assert journal.totals(venue="binanceusdm:main").liquidation_count == 1
        (partial,) = journal.rebalances(venue="binanceusdm:main")
        assert partial.status is RebalanceStatus.PARTIAL and partial.mode is RunMode.LIVE
        assert partial.note == "ETH leg rejected: min notional"
        (snapshot,) = journal.latest_snapshots("binanceusdm:main")
        assert snapshot.contracts == -BIG and snapshot.hedged_value is None
        guard = journal.events(kind="margin_guard", venue="binanceusdm:main")
        assert [e.message for e in guard] == [FIRST_RELEASE_ROWS["events"][0]["message"]]
        assert len(journal.events()) == 4
        journal.record_fills(
            [
                Fill(
                    "paper:e2e", "t-3", "BTC/USDT:USDT", Side.BUY, Decimal("0.1"),
                    Decimal(17000), Decimal("0.85"), "USDT", Decimal("-50.17"),
                    T0 + timedelta(days=1),
                )
            ]
        )  # fmt: skip
        journal.record_event("note", T0 + timedelta(days=1), "after the upgrade", venue="x")
        assert journal.totals(venue="paper:e2e").fills == 2
        assert [e.venue for e in journal.events()] == [*BACKFILLED_VENUES, "x"]

    with Journal.open(journal_url) as again:  # already at head: opens as is
        assert len(again.fills()) == 3


def test_journal_made_by_create_all_of_a_later_release_is_stamped_and_upgraded(
    engine: Engine, journal_url: str
) -> None:
    """Releases after the first made ``events.venue`` themselves: 0002 leaves it be."""
    tables = [t for name, t in Base.metadata.tables.items() if name != "leases"]
    Base.metadata.create_all(engine, tables=tables)
    fill_first_release(engine)
    with engine.begin() as connection:
        connection.execute(text("UPDATE events SET venue = 'paper:old' WHERE kind = 'note'"))
    before = dump(engine)
    engine.dispose()
    with Journal.open(journal_url) as journal:
        assert dump(engine) == before
        assert [e.venue for e in journal.events()] == [None, None, None, "paper:old"]
        assert schema_differences(engine) == []
        with journal.lease("binanceusdm:main") as lease:
            assert lease.held


def test_new_journal_has_exactly_the_models_schema(engine: Engine, journal_url: str) -> None:
    Journal.open(journal_url).close()
    assert schema_differences(engine) == []
    names = set(inspect(engine).get_table_names())
    assert names == {*Base.metadata.tables, "alembic_version"}


def schema_of(engine: Engine) -> dict[str, Any]:
    """Return every table's columns, keys, indexes and constraints, in a comparable form."""
    inspector = inspect(engine)
    schema: dict[str, Any] = {}
    for table in sorted(set(inspector.get_table_names()) - {"alembic_version"}):
        columns = inspector.get_columns(table)
        schema[table] = {
            "columns": sorted(
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default"))) for c in columns
            ),
            "primary key": inspector.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table)
            ),
            "unique": sorted(
                (tuple(u["column_names"])) for u in inspector.get_unique_constraints(table)
            ),
            "foreign keys": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"])
                for f in inspector.get_foreign_keys(table)
            ),
        }
    return schema


def test_every_revision_from_nothing_gives_the_schema_a_new_journal_is_made_with(
    engine: Engine, journal_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A new journal is made by create_all and stamped; replaying 0001..head must agree."""
    Journal.open(journal_url).close()
    made = schema_of(engine)
    assert set(made) == set(Base.metadata.tables)
    if engine.dialect.name == "postgresql":
        replayed_url = request.getfixturevalue("postgres").new_database()
    else:
        replayed_url = f"sqlite:///{tmp_path / 'replayed.sqlite'}"
    replayed = create_engine(database_url(replayed_url))
    try:
        upgrade_to(replayed, "head")
        assert schema_differences(replayed) == []
        assert schema_of(replayed) == made
        with replayed.connect() as connection, engine.connect() as original:
            assert current_revision(connection) == current_revision(original) == head_revision()
    finally:
        replayed.dispose()


def test_downgrade_to_the_first_release_and_up_again(engine: Engine, journal_url: str) -> None:
    Journal.open(journal_url).close()
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0001")
    assert set(inspect(engine).get_table_names()) == {*FIRST_RELEASE_TABLES, "alembic_version"}
    Journal.open(journal_url).close()
    assert schema_differences(engine) == []


def test_tables_of_something_else_are_refused_untouched(engine: Engine, journal_url: str) -> None:
    Base.metadata.tables["fills"].create(engine)
    with pytest.raises(JournalError, match="not a hedgebot journal") as refused:
        Journal.open(journal_url)
    assert "funding_payments" in str(refused.value)
    assert set(inspect(engine).get_table_names()) == {"fills"}


def test_a_database_of_something_else_entirely_is_refused_untouched(
    engine: Engine, journal_url: str
) -> None:
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)"))
    with pytest.raises(JournalError, match="holds tables customers, none of a journal") as refused:
        Journal.open(journal_url)
    assert "nothing changed" in str(refused.value)
    assert set(inspect(engine).get_table_names()) == {"customers"}


def test_schema_of_a_newer_hedgebot_is_refused(engine: Engine, journal_url: str) -> None:
    Journal.open(journal_url).close()
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(JournalError, match="revision 9999, unknown to this hedgebot"):
        Journal.open(journal_url)


def test_the_revision_journal_open_expects_is_the_newest_migration() -> None:
    assert head_revision() == HEAD_REVISION


def test_a_journal_stamped_with_an_older_revision_is_migrated_on_open(
    engine: Engine, journal_url: str
) -> None:
    """`Journal.open` loads the migrations only when the stamp is not the head: here it is not."""
    Journal.open(journal_url).close()
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0002")
    with engine.connect() as connection:
        assert current_revision(connection) == "0002"
    Journal.open(journal_url).close()
    with engine.connect() as connection:
        assert current_revision(connection) == HEAD_REVISION
    assert schema_differences(engine) == []


def test_migrations_ship_with_the_package() -> None:
    from importlib.resources import files

    migrations = files("bot.journal") / "migrations"
    assert (migrations / "env.py").is_file() and (migrations / "script.py.mako").is_file()
    revisions = [p.name for p in (migrations / "versions").iterdir() if p.name.endswith(".py")]
    assert sorted(revisions) == [
        "0001_first_release.py",
        "0002_event_venue_and_leases.py",
        "0003_keys_with_symbol.py",
        "0004_forced_fills.py",
    ]


# Rows a 0002 journal holds after live trading: fills without client ids (one claimed by exactly
# one order, one by two orders after an exchange reset reused the id, one by none) and funding
# payments written with 0 for an unknown rate and position.
LIVE = "binanceusdm:main"
ORDERS_0002: list[dict[str, Any]] = [
    {
        **FIRST_RELEASE_ROWS["orders"][1],
        "client_order_id": client_id,
        "venue_order_id": order_id,
        "symbol": symbol,
        "status": "filled",
    }
    for client_id, order_id, symbol in (
        ("hb-eth-1", "7", "ETH/USDT:USDT"),
        ("hb-btc-1", "7", "BTC/USDT:USDT"),  # the same order id on another symbol
        ("hb-ada-1", "9", "ADA/USDT:USDT"),
        ("hb-ada-2", "9", "ADA/USDT:USDT"),  # the id again, after an exchange reset
    )
]
FILLS_0002: list[dict[str, Any]] = [
    {
        **FIRST_RELEASE_ROWS["fills"][0],
        "venue": LIVE,
        "trade_id": trade_id,
        "client_order_id": None,
        "venue_order_id": order_id,
        "symbol": symbol,
    }
    for trade_id, order_id, symbol in (
        ("100", "7", "ETH/USDT:USDT"),
        ("101", "7", "BTC/USDT:USDT"),
        ("102", "9", "ADA/USDT:USDT"),
        ("103", "8", "ADA/USDT:USDT"),
    )
]
FUNDING_0002: list[dict[str, Any]] = [
    {
        **FIRST_RELEASE_ROWS["funding_payments"][0],
        "venue": LIVE,
        "payment_id": payment_id,
        "rate": Decimal(rate),
        "position_contracts": Decimal(position),
        "amount": Decimal(amount),
    }
    for payment_id, rate, position, amount in (
        ("4480321991774044580", "0", "0", "0.00134317"),  # a live row: 0 meant "unknown"
        ("4480321991774044581", "0", "0", "0"),  # nothing paid: zeros may be true
    )
]


def test_journal_at_0002_is_keyed_by_symbol_without_losing_a_row(
    engine: Engine, journal_url: str
) -> None:
    upgrade_to(engine, "0002")
    fill_first_release(engine)
    with engine.begin() as connection:
        connection.execute(insert(stored_table(engine, "orders")), ORDERS_0002)
        connection.execute(insert(stored_table(engine, "fills")), FILLS_0002)
        connection.execute(insert(stored_table(engine, "funding_payments")), FUNDING_0002)
    before = dump(engine)
    engine.dispose()

    with Journal.open(journal_url) as journal:
        after = dump(engine)
        assert schema_differences(engine) == []
        for table in ("rebalances", "orders", "position_snapshots", "events"):
            assert after[table] == before[table]
        # Fills: every row, every value; live ones claimed by their one order (backfill).
        claimed = {"100": "hb-eth-1", "101": "hb-btc-1", "102": None, "103": None}
        expected = [(*row[:2], claimed.get(row[1], row[2]), *row[3:]) for row in before["fills"]]
        assert after["fills"] == expected
        # Funding: a zero rate and position beside a non-zero amount become unknown (NULL).
        columns = first_release_columns("funding_payments")
        rate, position = columns.index("rate"), columns.index("position_contracts")
        unknown = [list(row) for row in before["funding_payments"]]
        unknown[2][rate] = unknown[2][position] = None
        assert after["funding_payments"] == [tuple(row) for row in unknown]
        (paid, nothing) = journal.funding(venue=LIVE)
        assert paid.rate is None and paid.position_contracts is None
        assert nothing.rate == 0 and nothing.position_contracts == 0

        # The same trade id and payment id on two symbols are two records now.
        fill = Fill(
            LIVE, "100", "BTC/USDT:USDT", Side.SELL, Decimal("0.1"), Decimal(17000),
            Decimal("0.85"), "USDT", Decimal(0), T0 + timedelta(days=1), venue_order_id="7",
        )  # fmt: skip
        assert journal.record_fills([fill, fill]) == 1
        assert journal.record_fills([fill]) == 0
        found = {(f.symbol, f.trade_id): f.client_order_id for f in journal.fills(venue=LIVE)}
        assert found[("BTC/USDT:USDT", "100")] == "hb-btc-1"  # joined at insert time
        assert found[("ETH/USDT:USDT", "100")] == "hb-eth-1"
        payment = journal.funding(venue=LIVE)[0]
        moved = replace(payment, symbol="ETH/USDT:USDT", rate=Decimal("0.0001"))
        assert journal.record_funding([moved, payment]) == 1
        assert len(journal.funding(venue=LIVE)) == 3

    with engine.begin() as connection:  # and back (without rows the old keys would refuse)
        connection.execute(text("DELETE FROM fills WHERE symbol = 'BTC/USDT:USDT'"))
        connection.execute(text("DELETE FROM funding_payments WHERE symbol = 'ETH/USDT:USDT'"))
        command.downgrade(alembic_config(connection), "0002")  # unknown is written as 0 again
    with engine.connect() as connection:
        nulls = connection.scalar(text("SELECT count(*) FROM funding_payments WHERE rate IS NULL"))
    assert nulls == 0


# Fills a 0003 journal holds: ours, someone else's, liquidations (an ADL was journaled as one).
FILLS_0003: list[dict[str, Any]] = [
    {
        **FIRST_RELEASE_ROWS["fills"][0],
        "venue": LIVE,
        "trade_id": trade_id,
        "client_order_id": client_id,
        "venue_order_id": order_id,
        "is_liquidation": flagged,
    }
    for trade_id, client_id, order_id, flagged in (
        ("200", "hb-btc-7", "70", False),
        ("201", None, "71", False),  # someone else's
        ("202", "autoclose-1596107620040000020", "72", True),
        ("203", "adl_autoclose", "73", True),  # an ADL, flagged as a liquidation back then
    )
]


def test_journal_at_0003_says_how_fills_were_forced_without_losing_a_row(
    engine: Engine, journal_url: str
) -> None:
    upgrade_to(engine, "0003")
    fill_first_release(engine)
    with engine.begin() as connection:
        connection.execute(insert(stored_table(engine, "fills")), FILLS_0003)
    before = dump(engine)
    assert forced_kinds(engine) == [False, True, False, False, True, True]
    engine.dispose()

    with Journal.open(journal_url) as journal:
        assert dump(engine) == before  # every row, every other value equal
        assert schema_differences(engine) == []
        assert "is_liquidation" not in {c["name"] for c in inspect(engine).get_columns("fills")}
        liquidation = "liquidation"
        assert forced_kinds(engine) == [None, liquidation, None, None, liquidation, liquidation]
        found = {f.trade_id: f.forced for f in journal.fills(venue=LIVE)}
        assert found == {
            "t-2": ForcedClose.LIQUIDATION,
            "200": None,
            "201": None,
            "202": ForcedClose.LIQUIDATION,
            "203": ForcedClose.LIQUIDATION,  # what it was journaled as: no way to tell now
        }
        totals = journal.totals(venue=LIVE)
        assert (totals.liquidation_count, totals.adl_count, totals.fills) == (3, 0, 5)
        adl = Fill(
            LIVE, "204", "BTC/USDT:USDT", Side.BUY, Decimal("0.2"), Decimal(17100), Decimal(0),
            "USDT", Decimal("20"), T0 + timedelta(days=1), "adl_autoclose", "74", ForcedClose.ADL,
        )  # fmt: skip
        assert journal.record_fills([adl]) == 1
        assert journal.fills(venue=LIVE)[-1].forced is ForcedClose.ADL
        totals = journal.totals(venue=LIVE)
        assert (totals.liquidation_count, totals.adl_count) == (3, 1)

    with engine.begin() as connection:  # and back: every forced fill is a liquidation again
        command.downgrade(alembic_config(connection), "0003")
    assert forced_kinds(engine) == [False, True, False, False, True, True, True]
    assert dump(engine)["fills"][:6] == before["fills"]
