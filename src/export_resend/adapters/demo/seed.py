"""Demo users, keys and exports, so that every outcome of the API can be tried at once."""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID, uuid5

from export_resend.application.generation import ExportFileWriter
from export_resend.domain.api_keys import (
    KEY_ID_LENGTH,
    SECRET_LENGTH,
    ApiKey,
    ApiKeyRecord,
    base62,
)
from export_resend.domain.caller import Caller, ClientType
from export_resend.domain.export import Export, ExportFile, ExportStatus, ExportType
from export_resend.domain.ports import ApiKeyStore, Clock, DuplicateId, UnitOfWorkFactory

_NAMESPACE = UUID("6f1e2b0c-5d8a-4c57-9a53-0e2f4d1c7b90")


@dataclass(frozen=True, slots=True)
class DemoUser:
    """A demo user and the API key it calls with."""

    name: str
    caller: Caller
    api_key: str


@dataclass(frozen=True, slots=True)
class DemoExport:
    """A demo export, with a name that says what it is for."""

    name: str
    owner: str
    export: Export


@dataclass(frozen=True, slots=True)
class DemoData:
    """What ``SeedDemo`` put in place."""

    users: tuple[DemoUser, ...]
    exports: tuple[DemoExport, ...]

    def user(self, name: str) -> DemoUser:
        """The demo user called ``name``."""
        return next(u for u in self.users if u.name == name)

    def export(self, name: str) -> DemoExport:
        """The demo export called ``name``."""
        return next(e for e in self.exports if e.name == name)


def demo_api_key(name: str) -> ApiKey:
    """The fixed key of a demo user (key id ``demo<name>`` padded with ``0``): the same on
    every run, so that docs can quote it.

    Demo keys are public; never seed the demo into a database that real users share.
    """
    digest = hashlib.sha256(f"export-resend demo {name}".encode()).digest()
    secret = base62(int.from_bytes(digest), 43)[-SECRET_LENGTH:]
    return ApiKey(f"demo{name}".ljust(KEY_ID_LENGTH, "0"), secret)


def _user(name: str, tenant: str, client: ClientType, supplier: str | None = None) -> DemoUser:
    caller = Caller(name, f"{name}@{tenant}.example.com", tenant, client, supplier)
    return DemoUser(name, caller, demo_api_key(name).text)


USERS = (
    _user("olivia", "demo", ClientType.OPERATOR),
    _user("oscar", "demo", ClientType.OPERATOR),
    _user("sam", "demo", ClientType.SUPPLIER, supplier="supplier-sam"),
    _user("otto", "other", ClientType.OPERATOR),
)

_EXPORTS = (
    # name, owner, type, status, cc
    ("olivia-ready", "olivia", ExportType.TRANSACTION_EVENTS, ExportStatus.READY, ()),
    (
        "olivia-ready-cc",
        "olivia",
        ExportType.SUPPLIER_PAYOUTS,
        ExportStatus.READY,
        ("finance@demo.example.com", "audit@demo.example.com"),
    ),
    ("olivia-pending", "olivia", ExportType.FUNDING_TRANSFERS, ExportStatus.PENDING, ()),
    ("olivia-failed", "olivia", ExportType.MARKETPLACE_PAYOUTS, ExportStatus.FAILED, ()),
    ("olivia-expired", "olivia", ExportType.TRANSACTION_EVENTS, ExportStatus.EXPIRED, ()),
    ("sam-ready", "sam", ExportType.TRANSACTION_EVENTS, ExportStatus.READY, ()),
    ("otto-ready", "otto", ExportType.FUNDING_TRANSFERS, ExportStatus.READY, ()),
)


class SeedDemo:
    """Put the demo users, keys and exports in place; what already exists is left as it is."""

    def __init__(
        self,
        *,
        unit_of_work: UnitOfWorkFactory,
        api_keys: ApiKeyStore,
        clock: Clock,
        link_ttl: timedelta,
        writer: ExportFileWriter,
    ) -> None:
        self._writer = writer
        self._unit_of_work = unit_of_work
        self._api_keys = api_keys
        self._clock = clock
        self._link_ttl = link_ttl

    async def __call__(self) -> DemoData:
        users = {user.name: user for user in USERS}
        for user in USERS:
            key = ApiKey.parse(user.api_key)
            if await self._api_keys.find_caller(key.sha256) is None:
                # another process may seed at the same moment; a revoked demo key stays so
                with contextlib.suppress(DuplicateId):
                    record = ApiKeyRecord(key.key_id, user.caller, self._clock.now())
                    await self._api_keys.add(key.sha256, record)
        exports = []
        async with self._unit_of_work() as uow:
            for name, owner, export_type, status, cc in _EXPORTS:
                export_id = uuid5(_NAMESPACE, name)
                export = await uow.exports.get(export_id, lock=True)
                if export is None:
                    export = await self._export(
                        export_id, users[owner].caller, export_type, status, cc
                    )
                    await uow.exports.add(export)
                exports.append(DemoExport(name, owner, export))
            await uow.commit()
        return DemoData(USERS, tuple(exports))

    async def _export(
        self,
        export_id: UUID,
        owner: Caller,
        export_type: ExportType,
        status: ExportStatus,
        cc: tuple[str, ...],
    ) -> Export:
        now = self._clock.now()
        age = timedelta(days=10) if status is ExportStatus.EXPIRED else timedelta(hours=1)
        pending = Export(
            id=export_id,
            tenant_id=owner.tenant_id,
            type=export_type,
            owner_id=owner.user_id,
            owner_email=owner.email,
            status=ExportStatus.PENDING,
            requested_at=now - age,
            cc=cc,
            supplier_scope=owner.supplier_id if owner.client_type is ClientType.SUPPLIER else None,
        )
        if status is ExportStatus.PENDING:
            return pending
        if status is ExportStatus.FAILED:
            return pending.mark_failed("the demo row source was unavailable")
        ready_at = now - age + timedelta(minutes=2)
        if status is ExportStatus.EXPIRED:  # its file is long gone
            gone = ExportFile(f"demo-{export_id}.csv", 0, 0, hashlib.sha256().hexdigest())
            return pending.mark_ready(gone, ready_at, timedelta(days=7)).expire(now)
        file = await self._writer(pending, f"demo-{export_id}.csv")
        return pending.mark_ready(file, ready_at, self._link_ttl)
