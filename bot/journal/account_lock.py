"""Where the per-user account locks live: one ``flock`` file per lease key, apart from the journal.

The lock beside a SQLite journal (or PostgreSQL's advisory lock) goes with the journal: delete
the journal's files and a second bot finds no lock. The account lock lives in a per-user
directory instead, keyed by the lease key (``binanceusdm:main``), so two bots on one host never
run one account, whatever happened to the journal:

1. ``$HEDGEBOT_LOCK_DIR`` when set (tests point it at a temporary directory);
2. else ``$XDG_RUNTIME_DIR/hedgebot``;
3. else ``$XDG_STATE_HOME/hedgebot/locks`` (``~/.local/state/hedgebot/locks``).

Directories it creates are 0700, lock files 0600 (`bot.journal.file_lock`).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from pathlib import Path

LOCK_DIR_ENV = "HEDGEBOT_LOCK_DIR"
DIR_MODE = 0o700
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def lock_directory(environ: Mapping[str, str] | None = None) -> Path:
    """Return the account-lock directory that ``environ`` (default: the process's) names."""
    env = os.environ if environ is None else environ
    explicit = env.get(LOCK_DIR_ENV)
    if explicit:
        return Path(explicit).expanduser()
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "hedgebot"
    state = env.get("XDG_STATE_HOME")
    base = Path(state) if state else Path.home() / ".local" / "state"
    return base / "hedgebot" / "locks"


def account_lock_path(directory: Path, key: str) -> Path:
    """Return the lock file of lease ``key`` in ``directory``: readable name plus a short hash."""
    digest = hashlib.sha256(f"hedgebot account {key}".encode()).hexdigest()[:12]
    return directory / f"{_UNSAFE.sub('_', key).strip('_') or 'account'}-{digest}.lock"


def make_private_directory(directory: Path) -> None:
    """Create ``directory`` and any missing parents, each 0700; existing ones are left as they are.

    Raise OSError when it cannot be created or is not a directory.
    """
    missing = [d for d in (directory, *directory.parents) if not d.exists()]
    for path in reversed(missing):
        try:
            path.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        path.chmod(DIR_MODE)  # mkdir's mode is masked by the umask
    if not directory.is_dir():
        raise NotADirectoryError(f"{directory} is not a directory")
