"""Logging: plain or JSON lines, each carrying the rebalance id of the cycle that wrote it.

Every line is masked (`bot.settings.secrets.mask`): URL passwords and known secrets never reach a
log, whichever library wrote the record.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from logging.handlers import RotatingFileHandler
from pathlib import Path

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


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, rebalance id, message (and exception)."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as a JSON line, secrets masked."""
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "rebalance_id": getattr(record, "rebalance_id", "-"),
            "message": mask(record.getMessage()),
        }
        if record.exc_info:
            entry["exception"] = mask(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = mask(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False)


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
