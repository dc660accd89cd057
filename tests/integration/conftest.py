"""Fixtures of the CLI tests: a working directory holding the tiny paper config."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tiny_config import TINY_JOURNAL, tiny_config


@pytest.fixture()
def tiny_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work in ``tmp_path`` with ``tiny.toml`` (journal ``var/tiny.sqlite``), no data dir set."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HEDGEBOT_DATA_DIR", raising=False)
    (tmp_path / "tiny.toml").write_text(tiny_config(journal=TINY_JOURNAL), encoding="utf-8")
    return tmp_path
