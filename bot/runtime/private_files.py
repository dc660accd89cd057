"""Files hedgebot writes are its user's alone: files 0600, the directories it creates 0700.

The modes are set explicitly, whatever the umask, as the journal's locks set theirs
(`bot.journal.file_lock`, `bot.journal.account_lock`): a kill switch names the account, a backtest
or stress report the holdings. An existing file written again is made 0600 too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

from bot.journal.account_lock import make_private_directory
from bot.journal.file_lock import FILE_MODE


def _private(path: str, flags: int) -> int:
    """Open ``path`` for `open`'s ``opener``: created 0600, an existing file made 0600."""
    fd = os.open(path, flags, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    except OSError:
        os.close(fd)
        raise
    return fd


def open_private(path: Path, binary: bool = False) -> IO[Any]:
    """Open ``path`` for writing (text: UTF-8, no newline translation), mode 0600.

    Missing directories above it are created 0700. Raise `OSError` when it cannot be written.
    """
    make_private_directory(path.parent)
    if binary:
        return open(path, "wb", opener=_private)
    return open(path, "w", encoding="utf-8", newline="", opener=_private)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (UTF-8, mode 0600; missing directories 0700)."""
    with open_private(path) as file:
        file.write(text)
