"""The status page's JSON API over a paper run's journal: the numbers `hedgebot status` and
`hedgebot report` print, the charts' series and their date filter, the events, bad queries, the
token and the login cookie, a backtest's results (aiohttp's test client, no browser)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.cli.commands.report import show_report
from bot.cli.commands.status import show_status
from bot.journal.records import RunMode
from bot.journal.store import Journal
from bot.margin.binance import equity_at
from bot.observability.auth import COOKIE
from bot.observability.page import StatusPage
from bot.observability.server import build_app
from bot.observability.state import journal_state
from bot.reporting.display import money
from bot.runtime.engine import CycleReport, Engine
from bot.runtime.kill_switch import KillSwitch
from bot.settings.config import parse_config
from bot.settings.secrets import remember
from bot.sim.paper_account import build_paper, build_strategy
from tests.cli_inprocess import run_cli
from tests.conftest import paper_config_dict
from tests.tiny_config import CANDLES_HEADER, JAN_2022, candle_rows, tiny_config

CYCLES = 18  # three days of 4h cycles: fills, fees and funding payments
TOKEN = "page-token-for-the-api-test-0123"


@dataclass
class PaperRun:
    journal: Journal
    venue: str
    reports: list[CycleReport]
    switch: KillSwitch


@pytest.fixture(scope="module")
def paper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PaperRun]:
    """A paper account holding BTC and ETH, hedged 40% over `CYCLES` cycles, journaled."""
    where = tmp_path_factory.mktemp("page")
    config = parse_config(
        paper_config_dict(
            paper={
                "holdings": {"BTC": 1, "ETH": 10},
                "simulated_bars": 30,
                "start": "2022-01-10T00:00:00Z",
                "end": "2022-02-10T00:00:00Z",
            },
            journal={"url": f"sqlite:///{where / 'journal.sqlite'}"},
        )
    )
    setup = build_paper(config, None, session="page")
    reports: list[CycleReport] = []
    with Journal.open(config.journal.url) as journal:
        engine = Engine(
            config, setup.venue, journal, build_strategy(config), setup.clock, RunMode.PAPER
        )
        asyncio.run(engine.run(asyncio.Event(), setup.end, reports.append, CYCLES))
        yield PaperRun(journal, setup.venue.name, reports, KillSwitch(where / "halt"))


def page_of(run: PaperRun, backtests: Path | None = None) -> StatusPage:
    state = journal_state(run.journal, run.switch)
    return StatusPage(run.journal, run.venue, 4 * 3600, state, backtests)


async def fetch(
    run: PaperRun,
    path: str,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    backtests: Path | None = None,
) -> tuple[int, Any]:
    """GET ``path`` from the page's app: (status, JSON body or text)."""
    app = build_app(None, token, page_of(run, backtests))
    async with TestClient(TestServer(app)) as client:
        response = await client.get(path, headers=headers, allow_redirects=False)
        if response.content_type == "application/json":
            return response.status, await response.json()
        return response.status, await response.text()


def cells(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def table_rows(text: str, *names: str) -> dict[str, list[str]]:
    """Return the rows of a printed table whose first cell is one of ``names``."""
    return {row[0]: row for row in map(cells, text.splitlines()) if row[0] in names}


async def test_status_shows_what_hedgebot_status_prints_to_the_cent(paper: PaperRun) -> None:
    code, status = await fetch(paper, "/api/status")
    assert code == 200
    printed = show_status(paper.journal, paper.venue)
    rows = table_rows(printed, "BTC/USDT:USDT", "ETH/USDT:USDT")
    assert sorted(rows) == [leg["symbol"] for leg in status["legs"]]
    for leg in status["legs"]:
        shown = leg["shown"]
        row = rows[leg["symbol"]]
        assert row[:11] == list(shown.values())  # every cell as the terminal prints it
        ratio = Decimal(leg["hedge_ratio"]) * 100
        assert f"{ratio:.1f}%" == shown["hedge_ratio"] == row[5]
        assert Decimal(shown["liquidation_price"].replace(",", "")) == Decimal(
            leg["liquidation_price"]
        ).quantize(Decimal("0.0001"))
    carry = re.search(
        r"carry cost\s+(\S+) \((.+?)/yr of (\S+) protected\); hedge net (\S+)", printed
    )
    assert carry is not None
    assert status["carry"] == dict(
        zip(["carry_cost", "per_year", "protected", "net"], carry.groups(), strict=True)
    )
    fees = re.search(r"fees paid\s+(\S+)", printed)
    assert fees is not None and status["totals"]["shown"]["fees"] == fees[1]
    assert Decimal(status["totals"]["fees"]) > 0 and status["totals"]["funding_payments"] > 0
    assert status["holdings_total"] == money(paper.reports[-1].spot_value)
    assert status["state"]["last_cycle"]["id"] == paper.reports[-1].rebalance_id
    assert status["state"]["running"] is False and status["state"]["next_cycle"] is None


async def test_cost_of_insurance_is_the_table_hedgebot_report_prints(paper: PaperRun) -> None:
    _, status = await fetch(paper, "/api/status")
    printed = show_report(paper.journal, paper.venue, None, None)
    rows = table_rows(printed, "BTC/USDT:USDT", "ETH/USDT:USDT", "total")
    insurance = status["insurance"]
    for leg in [*insurance["legs"], insurance["total"]]:
        assert list(leg.values()) == rows[leg["symbol"]]
    carry = Decimal(insurance["total"]["carry_cost"].replace(",", ""))
    totals = paper.journal.totals(venue=paper.venue)
    assert carry == (totals.fees - totals.funding_net).quantize(Decimal("0.01"))


async def test_a_halted_account_says_so_with_the_kill_switch_reason(paper: PaperRun) -> None:
    paper.switch.halt("ops test halt", datetime(2024, 5, 1, tzinfo=UTC))
    try:
        _, status = await fetch(paper, "/api/status")
    finally:
        paper.switch.resume()
    assert status["state"]["halted"] == "ops test halt (since 2024-05-01 00:00:00 UTC)"


async def test_the_charts_series_follow_the_journal_and_its_date_filter(paper: PaperRun) -> None:
    code, series = await fetch(paper, "/api/snapshots")
    assert code == 200
    cycles = paper.journal.rebalances(venue=paper.venue)
    assert [p["time"] for p in series["portfolio"]] == [r.time.isoformat() for r in cycles]
    first, last = series["portfolio"][0], series["portfolio"][-1]
    assert first["hedged"] == first["unhedged"]  # both start from the same portfolio
    seen = paper.reports[-1].observation  # what the last cycle saw, before it acted
    equity = seen.collateral + sum(
        equity_at(
            p.side, p.contracts, p.entry_price, p.isolated_margin, seen.quotes[s].mark_or_last
        )
        for s, p in seen.positions.items()
    )
    assert Decimal(last["hedged"]) - Decimal(last["spot"]) == equity
    assert Decimal(last["spot"]) == paper.reports[-1].spot_value

    since, until = cycles[4].time, cycles[10].time
    query = f"/api/snapshots?from={since:%Y-%m-%dT%H:%M}&to={until:%Y-%m-%dT%H:%M}"
    code, window = await fetch(paper, query)
    assert code == 200
    assert [p["time"] for p in window["portfolio"]] == [r.time.isoformat() for r in cycles[4:10]]
    assert set(window["hedge_ratio"]) == {"BTC/USDT:USDT", "ETH/USDT:USDT"}
    for points in window["hedge_ratio"].values():
        assert [p["time"] for p in points] == [r.time.isoformat() for r in cycles[4:10]]
        assert all(Decimal(p["target"]) == Decimal("0.4") for p in points)
    totals = paper.journal.totals(venue=paper.venue, until=until)
    assert window["costs"], "fills or funding in the window"
    assert Decimal(window["costs"][-1]["fees"]) == totals.fees
    assert Decimal(window["costs"][-1]["funding"]) == totals.funding_net


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("/api/snapshots?from=2022-13-01", "from='2022-13-01' is not a date"),
        ("/api/snapshots?to=yesterday", "to='yesterday' is not a date"),
        ("/api/snapshots?from=2022-02-01&to=2022-01-01", "to=2022-01-01 must be after"),
        ("/api/events?limit=0", "limit='0': write a whole number from 1 to 5000"),
        ("/api/events?from=2022-01-01&limit=many", "limit='many'"),
        ("/api/snapshots?from=0001-01-01T00:00%2B05:00", "from='0001-01-01T00:00+05:00' is not"),
        ("/api/snapshots?to=9999-12-31T23:00-05:00", "to='9999-12-31T23:00-05:00' is not a date"),
        ("/api/events?from=0001-01-01T00:00%2B05:00", "from='0001-01-01T00:00+05:00' is not"),
    ],
)
async def test_a_bad_query_is_a_400_with_one_line(paper: PaperRun, query: str, said: str) -> None:
    code, text = await fetch(paper, query)
    assert code == 400
    assert text.startswith("bad query: ") and said in text
    assert text.count("\n") == 1


async def test_events_are_the_venues_and_the_kill_switchs_newest_first(paper: PaperRun) -> None:
    secret = "sk-live-event-secret-42"
    remember(secret)
    base = paper.reports[-1].time + timedelta(hours=1)
    journal = paper.journal
    journal.record_event(
        "margin_guard",
        base,
        f"cut BTC/USDT:USDT by 0.1 (api key {secret})",
        {"symbol": "BTC/USDT:USDT", "action": "cut", "outcome": "filled"},
        venue=paper.venue,
    )
    journal.record_event("kill_switch", base + timedelta(hours=1), "halted: ops", {})
    journal.record_event("adl", base + timedelta(hours=2), "elsewhere", {}, venue="paper:other")
    code, events = await fetch(paper, "/api/events?limit=2")
    assert code == 200
    assert [(e["kind"], e["severity"]) for e in events] == [
        ("kill_switch", "warning"),
        ("margin_guard", "error"),
    ]
    assert events[1]["title"] == "margin guard cut the hedge on BTC/USDT:USDT"
    assert secret not in str(events) and "api key ***" in events[1]["message"]
    _, window = await fetch(paper, f"/api/events?to={base:%Y-%m-%dT%H:%M}")
    assert all(datetime.fromisoformat(e["time"]) < base for e in window)


async def test_with_a_token_only_the_bearer_or_the_login_cookie_read(paper: PaperRun) -> None:
    app = build_app(None, TOKEN, page_of(paper))
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/api/status")).status == 401
        wrong = {"Authorization": "Bearer not-the-token"}
        assert (await client.get("/api/events", headers=wrong)).status == 401
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert (await client.get("/api/status", headers=bearer)).status == 200
        page = await client.get("/", allow_redirects=False)
        assert (page.status, page.headers["Location"]) == (303, "/login")
        assert (await client.get("/static/status.css")).status == 200  # the form's style
        refused = await client.post("/login", data={"token": "guess"}, allow_redirects=False)
        assert refused.status == 401 and "wrong token" in await refused.text()
        assert COOKIE not in refused.cookies
        login = await client.post("/login", data={"token": TOKEN}, allow_redirects=False)
        assert (login.status, login.headers["Location"]) == (303, "/")
        set_cookie = login.headers["Set-Cookie"]
        assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
        assert "Secure" not in set_cookie  # plain HTTP here; TLS or the proxy's word add it
        assert TOKEN not in set_cookie
        assert (await client.get("/api/status")).status == 200  # the client keeps the cookie
        assert (await client.get("/")).status == 200
        proxied = await client.post(
            "/login",
            data={"token": TOKEN},
            headers={"X-Forwarded-Proto": "https"},
            allow_redirects=False,
        )
        assert "Secure" in proxied.headers["Set-Cookie"]
        client.session.cookie_jar.clear()
        assert (await client.get("/api/status")).status == 401


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (f"bearer {TOKEN}", 200),
        (f"BEARER {TOKEN}", 200),
        (f"Bearer {TOKEN}x", 401),
        (f"Basic {TOKEN}", 401),
        (TOKEN, 401),
    ],
)
async def test_the_bearer_scheme_is_read_in_any_case(
    paper: PaperRun, header: str, code: int
) -> None:
    got, _ = await fetch(paper, "/api/status", token=TOKEN, headers={"Authorization": header})
    assert got == code


async def test_without_a_token_the_login_form_sends_the_browser_to_the_page(
    paper: PaperRun,
) -> None:
    code, _ = await fetch(paper, "/login")
    assert code == 303
    code, html = await fetch(paper, "/")
    assert code == 200 and '<script src="/static/status.js"' in html
    assert (await fetch(paper, "/api/backtest")) == (200, None)


def test_backtest_results_are_the_table_the_backtest_printed(
    paper: PaperRun, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    prices = [40_000 + 400 * (i % 24) for i in range(360)]
    for kind in ("spot", "perp"):
        (data / f"binance_{kind}_BTCUSDT_4h.csv").write_text(
            CANDLES_HEADER + candle_rows(JAN_2022, prices), encoding="utf-8"
        )
    (tmp_path / "tiny.toml").write_text(tiny_config(), encoding="utf-8")
    argv = ["backtest", "-c", "tiny.toml", "--data-dir", "data", "--out", "out", "-q"]
    done = run_cli(argv, capfd, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    code, results = asyncio.run(fetch(paper, "/api/backtest", backtests=tmp_path / "out"))
    assert code == 200
    assert results["table"] in done.stdout
    assert list(results["curves"]) == ["static 40%"]
    curve = results["curves"]["static 40%"]
    assert curve[0]["time"] == "2022-01-10T04:00:00+00:00" and len(curve) > 100
