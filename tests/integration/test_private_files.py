"""Files hedgebot creates are 0600 and its directories 0700, whatever the umask (022 here).

The kill switch (`halt`), a backtest's ``--out`` directory and everything in it, a stress
``--plot``. And `resume` on a read-only file system where nothing is halted has nothing to do.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli.main import main
from tests.tiny_config import CANDLES_HEADER, JAN_2022, candle_rows

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    """Run each test under the usual umask, which leaves new files readable by everyone."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_halt_creates_the_kill_switch_0600_in_a_0700_directory(tiny_dir: Path) -> None:
    assert main(["halt", "-c", "tiny.toml", "--reason", "drill"]) == 0

    switch = tiny_dir / "var" / "halt" / "paper-tiny.halt"
    assert "drill" in switch.read_text(encoding="utf-8")
    assert mode(switch) == 0o600
    assert mode(switch.parent) == 0o700


def test_backtest_out_is_a_0700_directory_of_0600_files(tiny_dir: Path) -> None:
    data = tiny_dir / "data"
    data.mkdir()
    for market in ("spot", "perp"):
        rows = candle_rows(JAN_2022, [40_000.0 + 100 * (n % 7) for n in range(60)])
        (data / f"binance_{market}_BTCUSDT_4h.csv").write_text(CANDLES_HEADER + rows)
    argv = ["backtest", "-c", "tiny.toml", "--data-dir", "data", "-q", "--plots"]

    assert main([*argv, "--from", "2022-01-02", "--to", "2022-01-10", "--out", "out/run"]) == 0

    out = tiny_dir / "out" / "run"
    written = sorted(p.name for p in out.iterdir())
    assert {"metrics.json", "metrics.csv", "curves.csv", "comparison.png"} <= set(written)
    assert {p.name: mode(p) for p in out.iterdir()} == dict.fromkeys(written, 0o600)
    assert mode(out) == mode(out.parent) == 0o700


def test_stress_plot_is_written_0600(tiny_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tiny_dir / "old.png").write_bytes(b"an earlier figure")
    (tiny_dir / "old.png").chmod(0o644)

    assert main(["stress", "-c", "tiny.toml", "--plot", "new.png"]) == 0
    assert main(["stress", "-c", "tiny.toml", "--plot", "old.png"]) == 0

    assert "wrote new.png" in capsys.readouterr().out
    assert mode(tiny_dir / "new.png") == mode(tiny_dir / "old.png") == 0o600


def _read_only_mounts() -> bool:
    """Return True when this user may mount in a namespace of its own (``unshare -Urm``)."""
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-Urm", "true"], capture_output=True, timeout=10)
    return probe.returncode == 0


@pytest.mark.skipif(not _read_only_mounts(), reason="needs unshare -Urm to mount read-only")
def test_resume_on_a_read_only_file_system_with_nothing_halted_has_nothing_to_do(
    tiny_dir: Path,
) -> None:
    here = str(tiny_dir)
    script = (
        f'mount --bind "{here}" "{here}" && mount -o remount,bind,ro "{here}" && '
        f'exec "{sys.executable}" -m bot resume -c tiny.toml'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEDGEBOT_")}

    done = subprocess.run(
        ["unshare", "-Urm", "sh", "-c", script],
        cwd=tiny_dir,
        env=env | {"PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "paper:tiny was not halted" in done.stdout and "nothing to do" in done.stdout
