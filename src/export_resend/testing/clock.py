"""A clock that moves only when told to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from export_resend.domain.ports import Clock


class ManualClock(Clock):
    """Shows ``moment`` until it is ``advance``d or ``set``."""

    def __init__(self, moment: datetime | None = None) -> None:
        self.moment = moment or datetime(2026, 1, 15, 9, 30, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by ``delta`` and return the new time."""
        self.moment += delta
        return self.moment

    def set(self, moment: datetime) -> None:
        """Jump to ``moment``."""
        self.moment = moment
