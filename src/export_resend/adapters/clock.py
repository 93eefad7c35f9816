"""Time from the operating system."""

from __future__ import annotations

from datetime import UTC, datetime

from export_resend.domain.ports import Clock


class SystemClock(Clock):
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)
