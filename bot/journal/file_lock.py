"""An exclusive ``flock`` on a file: held while the process lives, dropped by the kernel on a crash.

The file (created 0600) says who holds it; `FileLock.release` removes it while still locked, and
only while the path still names the locked file, so a holder never removes a successor's lock.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

if sys.platform != "win32":
    import fcntl

log = logging.getLogger(__name__)

FILE_MODE = 0o600


class FileLock:
    """An exclusive ``flock`` on ``path``; the file's text names the holder."""

    def __init__(self, path: Path) -> None:
        """Describe the lock; nothing is opened until `acquire`."""
        self.path = path
        self._fd: int | None = None

    def acquire(self, text: str) -> bool | None:
        """Lock and write ``text``; False when another process holds it, None when locks fail."""
        if sys.platform == "win32":  # pragma: no cover
            return None
        for _ in range(10):  # the file may be removed by its releasing holder meanwhile
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
            except OSError as exc:
                log.warning("lock %s unavailable: %s", self.path, exc)
                return None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            except OSError as exc:
                os.close(fd)
                log.warning("lock %s unavailable: %s", self.path, exc)
                return None
            if self._names(fd):
                os.fchmod(fd, FILE_MODE)
                os.ftruncate(fd, 0)
                os.write(fd, text.encode())
                self._fd = fd
                return True
            os.close(fd)
        return False

    def read(self) -> str | None:
        """Return the holder's text as the file has it, or None when it cannot be read."""
        try:
            return self.path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None

    def forget(self) -> None:
        """Unlock without removing the file."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def release(self) -> None:
        """Remove the file while still locked, if the path still names it; then unlock."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if self._names(fd):
                self.path.unlink(missing_ok=True)
        except OSError as exc:  # pragma: no cover - the lock still goes with the descriptor
            log.warning("cannot remove lock %s: %s", self.path, exc)
        finally:
            os.close(fd)

    def _names(self, fd: int) -> bool:
        """Return whether ``self.path`` is the file open as ``fd`` (not removed or replaced)."""
        try:
            return os.path.samestat(os.fstat(fd), os.stat(self.path))
        except FileNotFoundError:
            return False
