"""`hedgebot run --http`: the metrics after a paper run equal the journal's, health, the token."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from bot.cli.commands.status import show_status
from bot.core.errors import ConfigError
from bot.journal.records import RebalanceStatus, RunMode
from bot.journal.store import Journal
from bot.observability.access import http_access, is_loopback, parse_address
from bot.observability.metrics import BotMetrics
from bot.observability.server import build_app
from bot.runtime.engine import CycleReport, Engine
from bot.settings.config import parse_config
from bot.settings.secrets import mask
from bot.sim.paper_account import PaperSetup, build_paper, build_strategy
from tests.conftest import paper_config_dict

INTERVAL = 4 * 3600
START = 1_700_000_000.0


@dataclass
class Run:
    journal: Journal
    setup: PaperSetup
    metrics: BotMetrics
    reports: list[CycleReport]
    wall: list[float]


@pytest.fixture()
def run(tmp_path: Path) -> Iterator[Run]:
    """Three cycles of a paper account on the simulated market, with the metrics as on_cycle."""
    config = parse_config(
        paper_config_dict(
            paper={
                "simulated_bars": 30,
                "start": "2022-01-10T00:00:00Z",
                "end": "2022-02-10T00:00:00Z",
            },
            journal={"url": f"sqlite:///{tmp_path / 'j.sqlite'}"},
        )
    )
    setup = build_paper(config, None, session="m")
    wall = [START]
    with Journal.open(config.journal.url) as journal:
        engine = Engine(
            config, setup.venue, journal, build_strategy(config), setup.clock, RunMode.PAPER
        )
        metrics = BotMetrics(journal, setup.venue.name, config.interval_seconds, lambda: wall[0])
        reports: list[CycleReport] = []

        def on_cycle(report: CycleReport) -> None:
            reports.append(report)
            metrics.observe(report, engine.last_cycle_seconds)

        asyncio.run(engine.run(asyncio.Event(), setup.end, on_cycle, 3))
        yield Run(journal, setup, metrics, reports, wall)


def fetch(
    metrics: BotMetrics,
    path: str,
    headers: dict[str, str] | None = None,
    token: str | None = None,
) -> tuple[int, str]:
    """GET ``path`` from the app serving ``metrics`` on a local test server: (status, body)."""

    async def get() -> tuple[int, str]:
        async with TestClient(TestServer(build_app(metrics, token))) as client:
            response = await client.get(path, headers=headers)
            return response.status, await response.text()

    return asyncio.run(get())


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Parse an exposition with prometheus-client's own parser: (name, labels) -> value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def status_cells(journal: Journal, venue: str) -> dict[str, tuple[str, str]]:
    """Return leg -> (hedge ratio, liq. distance) as `hedgebot status` prints them."""
    cells = {}
    for line in show_status(journal, venue).splitlines():
        if line.startswith("BTC/USDT:USDT"):
            row = re.split(r"\s{2,}", line.strip())
            cells[row[0]] = (row[5], row[7])
    return cells


def test_metrics_after_a_paper_run_equal_the_journal_and_status(run: Run) -> None:
    status, text = fetch(run.metrics, "/metrics")
    assert status == 200
    values = samples(text)
    venue = run.setup.venue.name
    leg = (("symbol", "BTC/USDT:USDT"),)
    ratio, distance = status_cells(run.journal, venue)["BTC/USDT:USDT"]
    assert f"{values[('hedgebot_hedge_ratio', leg)] * 100:.1f}%" == ratio
    assert f"{values[('hedgebot_liquidation_distance_ratio', leg)] * 100:.1f}%" == distance
    snap = run.journal.latest_snapshots(venue)[0]
    assert snap.target_notional is not None and snap.hedged_value
    target = float(snap.target_notional / snap.hedged_value)
    assert values[("hedgebot_hedge_target_ratio", leg)] == pytest.approx(target)
    assert values[("hedgebot_hedge_target_ratio", leg)] == pytest.approx(0.4)
    totals = run.journal.totals(venue=venue)
    assert values[("hedgebot_fees_usdt", ())] == pytest.approx(float(totals.fees))
    assert values[("hedgebot_funding_net_usdt", ())] == pytest.approx(float(totals.funding_net))
    last = run.reports[-1].observation
    assert values[("hedgebot_free_collateral_usdt", ())] == pytest.approx(float(last.collateral))
    equity = run.setup.venue.hedge_account().equity
    assert values[("hedgebot_equity_usdt", ())] == pytest.approx(float(equity), abs=1.0)
    assert values[("hedgebot_orders_total", (("outcome", "filled"),))] == 1
    assert values[("hedgebot_cycle_duration_seconds_count", ())] == 3
    assert values[("hedgebot_last_successful_cycle_timestamp_seconds", ())] == START
    assert sum(v for (n, _), v in values.items() if n == "hedgebot_cycles_total") == 3


def test_health_turns_503_after_two_intervals_without_a_successful_cycle(run: Run) -> None:
    """A fake wall clock (the engine's failed cycles never reach on_cycle: time alone tells)."""
    app = run.metrics
    assert fetch(app, "/healthz")[0] == 200
    run.wall[0] = START + 2 * INTERVAL
    assert fetch(app, "/healthz")[0] == 200
    failed = replace(run.reports[-1], status=RebalanceStatus.FAILED, reason="venue down")
    run.metrics.observe(failed)  # a failed cycle does not refresh the last success
    run.wall[0] = START + 2 * INTERVAL + 1
    status, body = fetch(app, "/healthz")
    assert status == 503
    age, limit = 2 * INTERVAL + 1, 2 * INTERVAL
    why = "last cycle failed: venue down"
    assert body == f"last successful cycle {age} s ago (limit {limit} s); {why}\n"
    run.metrics.observe(run.reports[-1])
    assert fetch(app, "/healthz")[0] == 200


def test_health_is_503_while_halted_and_before_any_cycle(run: Run) -> None:
    halted = replace(
        run.reports[-1], status=RebalanceStatus.HALTED, reason="kill switch on: ops\nx"
    )
    run.metrics.observe(halted)
    assert fetch(run.metrics, "/healthz") == (503, "halted: kill switch on: ops x\n")
    fresh = BotMetrics(run.journal, run.setup.venue.name, INTERVAL)
    assert fetch(fresh, "/healthz") == (503, "no successful cycle yet\n")


def test_a_token_is_required_when_given(run: Run) -> None:
    token = "s3cret-token-for-metrics"
    assert fetch(run.metrics, "/metrics", token=token)[0] == 401
    wrong = {"Authorization": "Bearer wrong"}
    assert fetch(run.metrics, "/healthz", wrong, token)[0] == 401
    good = {"Authorization": f"Bearer {token}"}
    assert fetch(run.metrics, "/metrics", good, token)[0] == 200
    assert fetch(run.metrics, "/healthz", good, token)[0] == 200


def test_a_non_loopback_bind_needs_a_token_and_the_token_is_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert parse_address("9108") == ("127.0.0.1", 9108)
    assert parse_address("[::1]:9108") == ("::1", 9108)
    assert is_loopback("localhost") and is_loopback("::1") and not is_loopback("0.0.0.0")
    with pytest.raises(ConfigError, match="not a loopback address"):
        http_access(("0.0.0.0", 9108), None)
    assert http_access(("127.0.0.1", 9108), None).token is None
    monkeypatch.setenv("HEDGEBOT_HTTP_TOKEN", "env-token-value-1234")
    access = http_access(("0.0.0.0", 9108), None)
    assert access.token == "env-token-value-1234"
    assert "env-token-value-1234" not in mask("token env-token-value-1234 leaked")
