"""The kill switch: a file whose presence stops new orders (observing and recording go on).

A file works across processes and containers (put it on the journal's volume): `hedgebot halt`
writes it with a reason, `hedgebot resume` removes it, and so can any operator with a shell.

One switch per account: unless ``risk.kill_switch_file`` names a file, the switch of a config is
``var/halt/<exchange>-<account>.halt`` (relative to the working directory), from the config's
``exchange.name`` and ``exchange.account``: ``var/halt/binanceusdm-emulator.halt`` for
`config/emulator.toml`, ``var/halt/paper-demo.halt`` for `config/paper.toml`. Halting the paper
demo therefore never halts an exchange account. A paper config's switch covers every session
(replay) of that config: a session starts after the operator halted, so it cannot be named
beforehand. Two configs on the same exchange account (same name and account) share the switch,
as they share the account.

The file of earlier versions, ``var/hedgebot.halt``, shared by every config, is still obeyed while
it exists (an upgrade never lifts a halt by itself); `hedgebot resume` removes it too.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from bot.core.errors import StorageError
from bot.runtime.private_files import write_private
from bot.settings.config import Config

HALT_DIRECTORY = Path("var/halt")
"""Where each account's switch lives unless ``risk.kill_switch_file`` says otherwise."""
LEGACY_FILE = "var/hedgebot.halt"
"""The one switch of earlier versions (and the config's old default): obeyed while it exists."""


def account_label(config: Config) -> str:
    """Return the account a config trades: ``<exchange>:<account>`` (``paper:demo``)."""
    return f"{config.exchange.name}:{config.exchange.account}"


def default_kill_switch_file(exchange: str, account: str) -> Path:
    """Return the switch of one account when the config names none."""
    return HALT_DIRECTORY / f"{exchange}-{account}.halt"


def kill_switch_file(config: Config) -> Path:
    """Return the config's switch: ``risk.kill_switch_file`` when set, else the account's own.

    An unset field (None, or the legacy default value not written in the file) means the
    per-account default.
    """
    risk = config.risk
    explicit: str | None = risk.kill_switch_file
    if explicit is not None and explicit == LEGACY_FILE:
        explicit = explicit if "kill_switch_file" in risk.model_fields_set else None
    if not explicit:  # None, or an empty string: no file named
        return default_kill_switch_file(config.exchange.name, config.exchange.account)
    return Path(explicit).expanduser()


def with_kill_switch(config: Config) -> Config:
    """Return ``config`` with ``risk.kill_switch_file`` set to its switch (see `kill_switch_file`).

    The engine reads the field: resolved once here, every part of a command uses one file.
    """
    risk = config.risk.model_copy(update={"kill_switch_file": str(kill_switch_file(config))})
    return config.model_copy(update={"risk": risk})


def kill_switch_for(config: Config) -> KillSwitch:
    """Return the config's switch; the per-account default also obeys the legacy shared file."""
    path = kill_switch_file(config)
    default = default_kill_switch_file(config.exchange.name, config.exchange.account)
    also = (Path(LEGACY_FILE),) if path == default else ()
    return KillSwitch(path, account=account_label(config), also=also)


def halted_message(switch: KillSwitch, config_file: str) -> str:
    """Return the one line that says an account is halted, by which file, and how to resume."""
    by = switch.halted_by() or switch.path
    why = switch.reason() or "halted"
    return (
        f"{switch.account} is halted by the kill switch {by}: {why}; no order placed; "
        f"`hedgebot resume --config {config_file}` allows orders again"
    )


class KillSwitch:
    """Reads and flips the halt file."""

    def __init__(
        self, path: str | Path, *, account: str | None = None, also: tuple[Path, ...] = ()
    ) -> None:
        """Watch ``path`` (and, read-only, the ``also`` files) for ``account``."""
        self.path = Path(path)
        self.account = account
        self.also = tuple(p for p in also if p != self.path)

    def _read(self, path: Path) -> str | None:
        try:
            text = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        except OSError as error:  # there but unreadable (a directory, no rights): fail safe
            return f"the kill switch {path} exists but cannot be read ({error.strerror})"
        return " ".join(text.split()) or "halted (no reason given)"

    def reason(self) -> str | None:
        """Return why trading is halted, or None when it is not."""
        for path in (self.path, *self.also):
            text = self._read(path)
            if text is not None:
                return text if path == self.path else f"{text} [shared file {path}]"
        return None

    def halted_by(self) -> Path | None:
        """Return the file that halts trading, or None when none does."""
        for path in (self.path, *self.also):
            if path.exists():
                return path
        return None

    def halt(self, reason: str, now: datetime) -> None:
        """Stop new orders from the next cycle on; raise `StorageError` when it cannot."""
        said = " ".join(reason.split()) or "halted by operator"
        try:
            write_private(self.path, f"{said} (since {now:%Y-%m-%d %H:%M:%S} UTC)\n")
        except OSError as error:
            raise StorageError(
                f"cannot write the kill switch {self.path}: {error.strerror}; fix that path (a "
                "writable directory, no directory of that name), or set risk.kill_switch_file"
            ) from None

    def resume(self) -> bool:
        """Allow orders again; return False when trading was not halted."""
        removed = False
        for path in (self.path, *self.also):
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as error:
                if not os.path.lexists(path):  # a read-only file system says so even then
                    continue
                raise StorageError(
                    f"cannot remove the kill switch {path}: {error.strerror}; "
                    f"remove {path} by hand, or make {path.parent} writable"
                ) from None
            removed = True
        return removed
