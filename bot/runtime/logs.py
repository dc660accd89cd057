"""Logging: plain or JSON lines, each carrying the rebalance id of the cycle that wrote it.

Every line is masked (`bot.settings.secrets.mask`): URL passwords and known secrets never reach a
log, whichever library wrote the record. JSON lines come from python-json-logger.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any

from pythonjsonlogger.json import JsonFormatter as LibraryJsonFormatter

from bot.settings.secrets import mask

rebalance_id: ContextVar[str] = ContextVar("rebalance_id", default="-")
"""The rebalance the current task works on; set by the engine at the start of each cycle."""

LOG_FILE_MODE = 0o600
"""A log file (and each rotated one) is readable by its owner only: it names the account's legs."""

PLAIN_FORMAT = "%(asctime)s %(levelname)s [%(rebalance_id)s] %(name)s: %(message)s"


class RebalanceIdFilter(logging.Filter):
    """Stamp every record with the current rebalance id."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add ``record.rebalance_id``; never drop a record."""
        record.rebalance_id = rebalance_id.get()
        return True


class MaskingFormatter(logging.Formatter):
    """A plain formatter whose lines (message, exception, stack) are masked."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the formatted line with secrets masked."""
        return mask(super().format(record))


JSON_FIELDS = ("levelname", "name", "rebalance_id", "message")
"""What every JSON line carries besides its ``time`` (and ``exception``, ``stack`` when set)."""
JSON_NAMES = {
    "levelname": "level",
    "name": "logger",
    "exc_info": "exception",
    "stack_info": "stack",
}
"""python-json-logger's names for the fields → the names the lines carry."""


def _masked(value: Any) -> Any:
    """Return ``value`` with every text in it masked; numbers, booleans and times as they are."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, Mapping):
        return {str(key): _masked(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item) for item in value]
    if value is None or isinstance(value, bool | int | float | datetime):
        return value
    return mask(str(value))


class JsonFormatter(LibraryJsonFormatter):
    """One JSON object per line: time, level, logger, rebalance id, message, extras, exception.

    Every text in it is masked, extras passed with ``extra=`` included.
    """

    def __init__(self) -> None:
        """Name the fields; the time in ISO 8601 UTC."""
        super().__init__(
            list(JSON_FIELDS), rename_fields=JSON_NAMES, timestamp="time", json_ensure_ascii=False
        )

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        """Mask every value; put the time first; a record no filter stamped has the id ``-``."""
        masked = {key: _masked(value) for key, value in log_data.items()}
        masked["rebalance_id"] = masked.get("rebalance_id") or "-"
        return {"time": masked.pop("time"), **masked}


class PrivateRotatingFileHandler(RotatingFileHandler):
    """A `RotatingFileHandler` whose files are created with mode `LOG_FILE_MODE` (0600)."""

    def _open(self) -> io.TextIOWrapper:
        """Open (or create, 0600) the current file for appending."""
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, LOG_FILE_MODE)
        return open(fd, "a", encoding=self.encoding, errors=self.errors)


@contextmanager
def log_file(path: Path, max_bytes: int, backups: int, as_json: bool) -> Iterator[None]:
    """Also log to ``path`` for the block, rotated at ``max_bytes``, keeping ``backups`` old files.

    The file takes every record from INFO up, each cycle's line included (old files:
    ``path.1`` … newest first); meanwhile stderr keeps only warnings and errors. Raises
    `OSError` when ``path`` cannot be opened.
    """
    handler = PrivateRotatingFileHandler(
        path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
    )
    handler.addFilter(RebalanceIdFilter())
    handler.setFormatter(JsonFormatter() if as_json else MaskingFormatter(PLAIN_FORMAT))
    root = logging.getLogger()
    root_level = root.level
    others = {other: other.level for other in root.handlers}
    for other in others:
        other.setLevel(max(other.level, logging.WARNING))
    root.setLevel(min(root_level, logging.INFO))
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(root_level)
        for other, level in others.items():
            other.setLevel(level)


def configure_logging(verbose: bool, as_json: bool) -> None:
    """Send logs to stderr at INFO (``verbose``) or WARNING, as text or JSON lines."""
    handler = logging.StreamHandler()
    handler.addFilter(RebalanceIdFilter())
    handler.setFormatter(JsonFormatter() if as_json else MaskingFormatter(PLAIN_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)


def quiet_console() -> None:
    """Keep only errors on stderr (``-q``); a `log_file` still takes everything from INFO up."""
    for handler in logging.getLogger().handlers:
        handler.setLevel(logging.ERROR)
