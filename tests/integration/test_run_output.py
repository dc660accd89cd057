"""What `hedgebot run` says per cycle, what it keeps in memory, and which session `report` shows."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bot.cli.commands.run import PROBLEMS, RunTally, note_lines, progress_line
from bot.cli.main import main
from bot.journal.records import RebalanceStatus
from bot.journal.store import Journal
from bot.runtime.engine import CycleReport

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HEDGEBOT_DATA_DIR", raising=False)
    (tmp_path / "config").mkdir()
    paper = (REPO / "config" / "paper.toml").read_text()
    (tmp_path / "config" / "paper.toml").write_text(paper)
    later = paper.replace("start = 2022-01-01T00:00:00Z", "start = 2024-01-01T00:00:00Z")
    later = later.replace("end = 2023-01-01T00:00:00Z", "end = 2025-01-01T00:00:00Z")
    assert later != paper
    (tmp_path / "config" / "later.toml").write_text(later)
    return tmp_path


def hedgebot(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().out


def test_a_halted_run_says_why(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = hedgebot(capsys, "halt", "--reason", "exchange incident")
    assert code == 0
    code, out = hedgebot(capsys, "run", "--max-cycles", "3")
    assert code == 0
    halted = [line for line in out.splitlines() if " halted " in line]
    assert halted, out
    assert all("— kill switch on: exchange incident" in line for line in halted)
    assert len(halted) == 1  # said when the halt begins, not on every cycle


def test_every_problem_line_carries_its_reason(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[CycleReport] = []
    import bot.cli.commands.run as run_command

    tally_add = RunTally.add

    def keep(self: RunTally, report: CycleReport) -> None:
        seen.append(report)
        tally_add(self, report)

    monkeypatch.setattr(run_command.RunTally, "add", keep)
    code, _ = hedgebot(capsys, "run", "--max-cycles", "1", "-q")
    assert code == 0 and seen
    report = seen[0]
    for status in PROBLEMS:
        why = f"because of {status.value}"
        line = progress_line(replace(report, status=status, reason=why, notes=(why, "other")))
        assert line.endswith(f"— {why}") and status.value in line
        assert note_lines(replace(report, status=status, reason=why, notes=(why, "other"))) == [
            "  note: other"
        ]
    quiet = progress_line(replace(report, status=RebalanceStatus.HELD, reason="all within band"))
    assert "all within band" not in quiet
    unexplained = progress_line(replace(report, status=RebalanceStatus.SKIPPED, reason=" "))
    assert unexplained.endswith("— no reason recorded")


def test_the_tally_keeps_two_reports_however_long_the_run(workdir: Path) -> None:
    tally = RunTally()
    marker = object()
    for n in range(10_000):
        tally.add(marker if n == 0 else object())  # type: ignore[arg-type]
    assert tally.cycles == 10_000 and tally.first is marker and tally.last is not marker
    assert not hasattr(tally, "__dict__")  # slots: nothing else can accumulate on it


def test_report_after_run_shows_the_run_just_made(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = f"sqlite:///{workdir / 'var' / 'shared.sqlite'}"
    later = ["--config", "config/later.toml", "--journal", journal]
    code, _ = hedgebot(capsys, "run", "-q", "--max-cycles", "2", *later)
    assert code == 0
    code, earlier = hedgebot(capsys, "run", "-q", "--max-cycles", "2", "--journal", journal)
    assert code == 0
    with Journal.open(journal) as opened:
        venues = {r.venue: r.time for r in opened.rebalances()}
        assert len(venues) == 2
        newest_by_time = max(venues, key=lambda v: venues[v])
        just_made = next(v for v in venues if f"(venue {v})" in earlier)
        assert newest_by_time != just_made  # the run just made replayed earlier dates
        assert opened.latest_venue() == just_made
    code, report = hedgebot(capsys, "report", "--journal", journal)
    assert code == 0
    assert f"cost of insurance, venue {just_made}" in report
    assert "2022-01-0" in report and "2024" not in report.splitlines()[1]
