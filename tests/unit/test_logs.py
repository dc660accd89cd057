from __future__ import annotations

import json
import logging

import pytest

from bot.runtime.logs import JsonFormatter, RebalanceIdFilter, rebalance_id


def test_json_lines_carry_the_current_rebalance_id() -> None:
    record = logging.LogRecord(
        "bot.runtime.engine", logging.WARNING, __file__, 1, "cut %s", ("ADA",), None
    )
    token = rebalance_id.set("20240105T0800-paper-main")
    try:
        assert RebalanceIdFilter().filter(record)
    finally:
        rebalance_id.reset(token)
    line = json.loads(JsonFormatter().format(record))
    assert line["rebalance_id"] == "20240105T0800-paper-main"
    assert line["message"] == "cut ADA" and line["level"] == "WARNING"
    assert line["logger"] == "bot.runtime.engine" and line["time"].endswith("+00:00")


def test_outside_a_cycle_the_id_is_a_dash(caplog: pytest.LogCaptureFixture) -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", (), None)
    RebalanceIdFilter().filter(record)
    assert json.loads(JsonFormatter().format(record))["rebalance_id"] == "-"
