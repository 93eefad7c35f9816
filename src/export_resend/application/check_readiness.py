"""Whether the service can serve now: its database answers, within a time limit."""

from __future__ import annotations

import logging

from export_resend.application.errors import ServiceNotRunning
from export_resend.domain.ports import BoundedCall, DatabaseProbe

__all__ = ["CheckReadiness", "DatabaseProbe", "NotReady"]
"""``DatabaseProbe`` is a port (``domain.ports``), re-exported where it was first published."""

log = logging.getLogger(__name__)


class NotReady(Exception):
    """A dependency the service needs did not answer in time, or failed."""


class CheckReadiness:
    """Ping the database, bounded by ``ping`` (its ``timeout``, one ping at a time).

    Raises ``NotReady`` when the database failed or did not answer in time; the reason
    says which, never what the driver said (it may name hosts and users).
    """

    def __init__(self, *, ping: BoundedCall[None]) -> None:
        self._ping = ping

    async def __call__(self) -> None:
        try:
            await self._ping()
        except ServiceNotRunning:
            raise
        except TimeoutError:
            timeout = self._ping.timeout
            log.warning("not ready: the database did not answer within %g s", timeout)
            raise NotReady(f"the database did not answer within {timeout:g} s") from None
        except Exception as exc:
            log.warning("not ready: the database failed (%s)", type(exc).__name__)
            raise NotReady("the database cannot be reached") from None
