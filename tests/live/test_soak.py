"""The seeded CI slice of the chaos soak (``scripts/soak.py`` runs the long one).

30 in-process trials (the engine's task cancelled at a random request, a new engine, venue and
journal over the same exchange and journal: deterministic per seed, a few seconds in all), and
a few trials in which a real ``hedgebot run`` process is SIGKILLed and restarted. Each trial
draws faults from the emulator's whole set while the targets move, lets the bot settle, and
checks the invariants of ``tests/chaos/invariants.py``: no client order id twice on the
exchange, no short ever beyond its bound, journal equal to the exchange, legs settled in their
bands, leverage and margin mode as configured, no failed cycle without a reason. The table is
printed whatever the outcome; a failing seed replays alone with
``python scripts/soak.py --trials 1 --seed <seed> --kill task``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from tests.chaos.harness import SqliteJournals, format_report, run_trial, run_trials

ACCOUNT_EVENTS = ("liquidation", "external_trade", "reset")
"""What happens to the account besides the bot: the trials in which the journal must still equal
the exchange's trade and income history to the cent, liquidations flagged."""

TASK_SEED = 1000
TASK_TRIALS = 30
PROCESS_SEEDS = (2, 25)
"""One kill each: while a hang holds the answer to an order, with the perp price ten times too
high, then a bigger ADA holding; and right after the exchange accepted an order, with positions
answered empty, a leg switched to cross margin and someone else trading, then new targets."""


@pytest.mark.slow
async def test_chaos_soak_task_slice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seeds = range(TASK_SEED, TASK_SEED + TASK_TRIALS)
    results = await run_trials(seeds, "task", "binanceusdm", SqliteJournals(), tmp_path)
    report = format_report(
        results, f"chaos soak CI slice: {TASK_TRIALS} trials, kill task, seeds {TASK_SEED}.."
    )
    with capsys.disabled():
        print("\n" + report)
    assert len(results) == TASK_TRIALS
    assert sum(r.kills for r in results) >= TASK_TRIALS  # every trial kills at least once
    assert not [r.seed for r in results if r.failed], report


@pytest.mark.slow
@pytest.mark.parametrize(("exchange", "seed"), [("binanceusdm", 3000), ("bybit", 4030)])
async def test_chaos_soak_account_events_slice(
    exchange: str, seed: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trials = 10
    seeds = range(seed, seed + trials)
    results = [
        await run_trial(s, "task", exchange, SqliteJournals(), tmp_path, kinds=ACCOUNT_EVENTS)
        for s in seeds
    ]
    report = format_report(results, f"chaos soak, account events on {exchange}, seeds {seed}..")
    with capsys.disabled():
        print("\n" + report)
    drawn = sum((r.faults for r in results), Counter[str]())
    assert drawn["liquidation"] >= 2 and drawn["external_trade"] + drawn["reset"] >= 2, drawn
    assert not [r.seed for r in results if r.failed], report


ADL_EVENTS = ("adl", "liquidation", "reset", "external_trade")
"""Forced closes of both kinds beside the account's other events: each journaled as its kind."""


@pytest.mark.slow
@pytest.mark.parametrize("exchange", ["binanceusdm", "bybit"])
async def test_chaos_soak_adl_slice(
    exchange: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seeds = range(6000, 6020)
    results = [
        await run_trial(s, "task", exchange, SqliteJournals(), tmp_path, kinds=ADL_EVENTS)
        for s in seeds
    ]
    report = format_report(results, f"chaos soak, ADL and liquidations on {exchange}, seeds 6000..")
    with capsys.disabled():
        print("\n" + report)
    drawn = sum((r.faults for r in results), Counter[str]())
    assert drawn["adl"] >= 2 and drawn["liquidation"] >= 1, drawn
    assert not [r.seed for r in results if r.failed], report


@pytest.mark.slow
async def test_chaos_soak_sigkilled_processes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Independent trials (own emulator, journal and lock directory): run side by side, since
    # they mostly wait (on ccxt's rate limiter, on the settling bot).
    results = await asyncio.gather(
        *(
            run_trial(
                seed, "process", "binanceusdm", SqliteJournals(), tmp_path, settle_seconds=60.0
            )
            for seed in PROCESS_SEEDS
        )
    )
    report = format_report(results, f"chaos soak, SIGKILLed processes, seeds {PROCESS_SEEDS}")
    with capsys.disabled():
        print("\n" + report)
    assert all(r.kills >= 1 for r in results), report
    assert not [r.seed for r in results if r.failed], report
