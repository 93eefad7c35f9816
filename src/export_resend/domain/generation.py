"""The generation job of a PENDING export: claimed under a lease, started over after a crash."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID


@dataclass(frozen=True, slots=True)
class GenerationJob:
    """The work of turning one PENDING export into a file, queued with the export.

    A generator claims the job with a lease (``claimed``): ``attempts`` counts the claims,
    and ``next_attempt_at`` becomes the lease's end, after which another generator may
    claim it again (the first one is presumed dead) and start the file over. The job is
    removed in the transaction that makes its export READY or FAILED.
    """

    export_id: UUID
    queued_at: datetime
    next_attempt_at: datetime
    attempts: int = 0
    lease_id: UUID | None = None

    @classmethod
    def queue(cls, export_id: UUID, now: datetime) -> GenerationJob:
        """A new job, due at once."""
        return cls(export_id=export_id, queued_at=now, next_attempt_at=now)

    def is_due(self, now: datetime) -> bool:
        """Whether a claim at ``now`` may take it: never claimed, or its lease has ended."""
        return self.next_attempt_at <= now

    def claimed(self, lease_id: UUID, now: datetime, lease: timedelta) -> GenerationJob:
        """Held by ``lease_id`` until ``now + lease``; one more attempt counted."""
        return dataclasses.replace(
            self, lease_id=lease_id, next_attempt_at=now + lease, attempts=self.attempts + 1
        )

    def renewed(self, now: datetime, lease: timedelta) -> GenerationJob:
        """Still held by its generator, which is alive: the lease now ends at ``now + lease``."""
        return dataclasses.replace(self, next_attempt_at=now + lease)

    def released(self, now: datetime) -> GenerationJob:
        """Given back unstarted (its generator is stopping): due at once, not counted."""
        return dataclasses.replace(
            self, lease_id=None, next_attempt_at=now, attempts=max(self.attempts - 1, 0)
        )

    def held_by(self, lease_id: UUID | None) -> bool:
        """Whether ``lease_id`` still holds this job."""
        return self.lease_id is not None and self.lease_id == lease_id
