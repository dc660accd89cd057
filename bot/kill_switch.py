"""The kill switch: a file whose presence stops new orders (observing and recording go on).

A file works across processes and containers (put it on the journal's volume): `hedgebot halt`
writes it with a reason, `hedgebot resume` removes it, and so can any operator with a shell.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path


class KillSwitch:
    """Reads and flips the halt file."""

    def __init__(self, path: str | Path) -> None:
        """Watch ``path``."""
        self.path = Path(path)

    def reason(self) -> str | None:
        """Return why trading is halted, or None when it is not."""
        try:
            text = self.path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return text or "halted (no reason given)"

    def halt(self, reason: str, now: datetime) -> None:
        """Stop new orders from the next cycle on."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(f"{reason} (since {now:%Y-%m-%d %H:%M:%S} UTC)\n", encoding="utf-8")

    def resume(self) -> bool:
        """Allow orders again; return False when trading was not halted."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True
