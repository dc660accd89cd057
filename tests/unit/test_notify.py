"""Alerts: messages from journal rows, targets, severity floors, dedup and the rate limit (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from bot.core.errors import ConfigError
from bot.journal.records import EventRecord, RebalanceRecord, RebalanceStatus, RunMode
from bot.notify.alerts import (
    Alert,
    Digest,
    LegLine,
    Severity,
    alert_for_event,
    alert_for_rebalance,
    digest_alert,
    lifecycle_alert,
)
from bot.notify.gate import Gate
from bot.notify.targets import parse_targets
from bot.settings import secrets
from bot.settings.secrets import NOTIFY_ENV, load_notify_urls, mask

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def event(kind: str, message: str, **data: object) -> EventRecord:
    return EventRecord(kind, NOW, message, dict(data), "binanceusdm:main")


def rebalance(status: str, reason: str = "BTC: order rejected: margin") -> RebalanceRecord:
    return RebalanceRecord(
        "2026-03-01T12:00",
        NOW,
        RunMode.LIVE,
        "v",
        "static",
        {},
        {},
        reason,
        RebalanceStatus(status),
    )


def alert(key: str = "k", severity: Severity = Severity.WARNING) -> Alert:
    return Alert("kind", severity, "title", "body", key)


# -- messages -------------------------------------------------------------------------------------
def test_a_guard_cut_is_an_error_with_its_figures() -> None:
    found = alert_for_event(
        event(
            "margin_guard",
            "BTC/USDT:USDT: 8% from liquidation, no collateral left",
            symbol="BTC/USDT:USDT",
            action="cut",
            contracts="0.25",
            distance="0.08",
            mark="60000",
            liquidation_price="64800",
            outcome="cut 0.25 contracts",
            rebalance_id="r1",
        )
    )
    assert found is not None and found.severity is Severity.ERROR and found.kind == "guard_cut"
    assert "cut the hedge on BTC/USDT:USDT" in found.title
    assert "8.0%" in found.body and "64,800" in found.body and "0.25" in found.body


def test_a_top_up_is_a_warning() -> None:
    found = alert_for_event(
        event("margin_guard", "m", symbol="ETH/USDT:USDT", action="add_margin", margin="120.5")
    )
    assert found is not None and found.severity is Severity.WARNING
    assert "added margin" in found.title and "120.50" in found.body


@pytest.mark.parametrize(
    ("kind", "data", "expected", "severity"),
    [
        ("liquidation", {"forced": "liquidation"}, "liquidation", Severity.CRITICAL),
        ("adl", {"forced": "adl"}, "adl", Severity.CRITICAL),
        ("liquidation", {"forced": None}, "position_changed", Severity.WARNING),
        ("position_mismatch", {}, "position_changed", Severity.WARNING),
        ("implausible_price", {}, "implausible_price", Severity.WARNING),
    ],
)
def test_forced_closes_and_foreign_changes(
    kind: str, data: dict[str, object], expected: str, severity: Severity
) -> None:
    found = alert_for_event(event(kind, "BTC: 0.5 → 0", symbol="BTC", before=-0.5, after=0, **data))
    assert found is not None and (found.kind, found.severity) == (expected, severity)


def test_kill_switch_on_and_off_and_quiet_kinds() -> None:
    on = alert_for_event(event("kill_switch", "halted main: drill"))
    off = alert_for_event(event("kill_switch", "resumed main"))
    assert on is not None and on.severity is Severity.WARNING and "ON" in on.title
    assert off is not None and off.severity is Severity.INFO
    assert alert_for_event(event("reconcile", "settled")) is None


def test_failed_and_partial_rebalances_alert_done_does_not() -> None:
    failed = alert_for_rebalance(rebalance("failed"))
    assert failed is not None and failed.severity is Severity.ERROR
    assert "order rejected: margin" in failed.body
    partial = alert_for_rebalance(rebalance("partial"))
    assert partial is not None and partial.severity is Severity.WARNING
    assert alert_for_rebalance(rebalance("done")) is None


def test_the_digest_lists_legs_against_targets_and_costs() -> None:
    digest = Digest(
        "v",
        NOW,
        (LegLine("BTC/USDT:USDT", Decimal("0.39"), Decimal("0.4"), Decimal("0.55")),),
        Decimal("12.5"),
        Decimal("3"),
        Decimal("1.25"),
        Decimal("10.75"),
    )
    found = digest_alert(digest)
    assert found.severity is Severity.INFO and "2026-03-01" in found.title
    assert "BTC/USDT:USDT: hedge 39.0% vs target 40.0%, liquidation 55.0% away" in found.body
    assert "carry cost so far +12.50" in found.body
    assert "funding received 1.25, paid 10.75" in found.body


def test_lifecycle_severities() -> None:
    assert lifecycle_alert("crashed", "a", "boom").severity is Severity.CRITICAL
    assert lifecycle_alert("auth_failed", "a").severity is Severity.CRITICAL
    assert lifecycle_alert("started", "a").severity is Severity.INFO


# -- targets --------------------------------------------------------------------------------------
def test_targets_take_a_level_prefix_and_are_named_without_their_url() -> None:
    one, two = parse_targets(
        ["tgram://123456:ABCDEF/42", "Error=json://127.0.0.1:9/x"], Severity.WARNING
    )
    assert (one.min_severity, one.label) == (Severity.WARNING, "#1 tgram")
    assert (two.min_severity, two.label) == (Severity.ERROR, "#2 json")
    assert "ABCDEF" not in repr(one)


@pytest.mark.parametrize(
    ("entry", "says"),
    [("loud=json://h/x", "unknown severity 'loud'"), ("no-scheme-here", "is not a URL")],
)
def test_a_bad_target_is_one_clear_error(entry: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_targets([entry], Severity.INFO)


def test_unknown_severity_name() -> None:
    with pytest.raises(ValueError, match="use one of info, warning, error, critical"):
        Severity.named("urgent")


# -- the gate -------------------------------------------------------------------------------------
def gate(floor: Severity = Severity.WARNING, limit: int = 3) -> Gate:
    return Gate(floor, dedup_seconds=60, rate_limit=limit, rate_window=100)


def test_below_the_floor_nothing_passes() -> None:
    g = gate(Severity.ERROR)
    assert not g.admit(alert(severity=Severity.WARNING), 0)
    assert g.admit(alert(severity=Severity.ERROR), 0)


def test_the_same_key_passes_once_per_window() -> None:
    g = gate()
    assert g.admit(alert("a"), 0)
    assert not g.admit(alert("a"), 59)
    assert g.admit(alert("b"), 59)
    assert g.admit(alert("a"), 60)


def test_the_rate_limit_holds_back_and_counts_but_never_a_critical() -> None:
    g = gate(limit=2)
    assert g.admit(alert("1"), 0) and g.admit(alert("2"), 1)
    assert not g.admit(alert("3"), 2)
    assert g.admit(alert("4", Severity.CRITICAL), 3)
    assert g.take_held_back() == 1 and g.take_held_back() == 0
    assert g.admit(alert("5"), 103)  # all three sent have left the window


# -- secrets --------------------------------------------------------------------------------------
@pytest.fixture
def forget_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "_known", set())


@pytest.mark.usefixtures("forget_secrets")
def test_notify_urls_from_the_environment_are_masked_whole_and_by_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = "tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/-100200300"
    monkeypatch.setenv(NOTIFY_ENV, f"  {url}\n error=json://127.0.0.1:8/hook/s3cretHookToken42 ")
    assert load_notify_urls(None) == [url, "error=json://127.0.0.1:8/hook/s3cretHookToken42"]
    said = mask(
        f"sent to {url}; apprise: token AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw, s3cretHookToken42"
    )
    assert "AAHdq" not in said and "s3cret" not in said and "127.0.0.1" not in mask(url)


@pytest.mark.usefixtures("forget_secrets")
def test_notify_urls_from_the_secrets_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(NOTIFY_ENV, raising=False)
    path = tmp_path / "secrets.toml"
    path.write_text('notify_urls = ["json://127.0.0.1:8/a/tokenTOKEN123"]\n', encoding="utf-8")
    path.chmod(0o600)
    assert load_notify_urls(str(path)) == ["json://127.0.0.1:8/a/tokenTOKEN123"]
    assert "tokenTOKEN123" not in mask("x tokenTOKEN123 y")
