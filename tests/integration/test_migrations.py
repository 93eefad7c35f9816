"""Migrations go up, down and up again, and agree with the tables the code declares."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from pydantic import BaseModel
from sqlalchemy import Connection, inspect, text
from sqlalchemy.dialects.postgresql import JSONB

from export_resend.adapters.http.schemas import ExportRequestedResponse, ResendEmailResponse
from export_resend.adapters.sql import Database, SqlAlchemyUnitOfWork
from export_resend.adapters.sql.database import (
    HEAD_REVISION,
    SHARED_VERSION_TABLE,
    alembic_config,
)
from export_resend.adapters.sql.schema import VERSION_TABLE, exports, metadata
from export_resend.application.errors import FieldIssue
from export_resend.application.request_export import ExportRequestSummary
from export_resend.application.resend_export_email import ResendSummary
from export_resend.domain.delivery import DeliveryStatus
from export_resend.domain.export import ExportStatus, ExportType
from export_resend.domain.idempotency import IdempotencyKey
from export_resend.domain.recipients import Recipients
from tests.postgres import scratch_database

PENDING_ID = UUID("1a2b3c4d-0000-4000-8000-000000000004")
LEASE = timedelta(minutes=5)

TABLES = {
    "generation_jobs",
    "idempotency_keys",
    VERSION_TABLE,
    "api_keys",
    "deliveries",
    "exports",
    "tenants",
    "users",
    "ui_sessions",
}


@pytest.fixture(params=["sqlite", "postgresql"])
async def empty(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'migrations.db'}")
        yield database
        await database.dispose()
        return
    async with scratch_database() as url:
        database = Database(url)
        yield database
        await database.dispose()


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return list(compare_metadata(context, metadata))


def test_the_head_revision_named_in_code_is_the_head_of_the_scripts() -> None:
    assert ScriptDirectory.from_config(alembic_config()).get_heads() == [HEAD_REVISION]


async def test_upgrade_downgrade_upgrade(empty: Database) -> None:
    assert await empty.revision() is None
    await empty.upgrade()
    assert await empty.revision() == HEAD_REVISION
    async with empty.engine.connect() as connection:
        assert await connection.run_sync(_tables) == TABLES
    await empty.downgrade("base")
    assert await empty.revision() is None
    async with empty.engine.connect() as connection:
        assert await connection.run_sync(_tables) == {VERSION_TABLE}
    await empty.upgrade()
    assert await empty.revision() == HEAD_REVISION


async def test_the_migrated_schema_is_the_declared_one(empty: Database) -> None:
    await empty.upgrade()
    async with empty.engine.connect() as connection:
        assert await connection.run_sync(_differences) == []


async def test_exports_left_pending_before_generation_existed_are_failed_not_generated(
    empty: Database,
) -> None:
    await empty.upgrade("0003")
    async with empty.engine.begin() as connection:
        await connection.execute(  # only the columns 0003 has
            exports.insert().values(
                id=PENDING_ID,
                tenant_id="acme",
                type="FUNDING_TRANSFERS",
                owner_id="sam",
                owner_email="sam@acme.example.com",
                cc=[],
                status="PENDING",
                requested_at=datetime(2026, 1, 1, tzinfo=UTC),
                version=0,
            )
        )
    await empty.upgrade()
    async with SqlAlchemyUnitOfWork(empty.engine, empty.writers) as uow:
        export = await uow.exports.get(PENDING_ID)
        assert await uow.jobs.claim(datetime(2030, 1, 1, tzinfo=UTC), uuid4(), LEASE, 10) == []
    assert export is not None
    assert export.status is ExportStatus.FAILED
    assert export.failure_reason is not None
    assert "request it again" in export.failure_reason


_LEGACY_KEYS = sa.table(
    "idempotency_keys",
    *(sa.column(name) for name in ("scope", "request", "key", "fingerprint", "response_status")),
    *(sa.column(name, sa.DateTime(timezone=True)) for name in ("created_at", "expires_at")),
    sa.column("response_headers", sa.JSON().with_variant(JSONB(), "postgresql")),
    sa.column("response_body", sa.LargeBinary),
)
"""``idempotency_keys`` as revision 0005 made it: answers stored as bytes."""
_T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_IGNORED = [FieldIssue("FIELD_IGNORED", "to", "not a field of this request; ignored")]
_RESENT = ResendSummary(
    export_id=PENDING_ID,
    export_type=ExportType.SUPPLIER_PAYOUTS,
    recipients=Recipients("olivia@acme.example.com", ("ceo@acme.example.com",)),
    delivery_id=uuid4(),
    delivery_status=DeliveryStatus.QUEUED,
    queued_at=datetime(2026, 3, 1, 11, 59, 1, 234567, tzinfo=UTC),
    warnings=(FieldIssue("CC_DUPLICATE_REMOVED", "cc[1]", "ceo@acme.example.com appears"),),
)
_QUEUED = ExportRequestSummary(
    export_id=uuid4(),
    export_type=ExportType.FUNDING_TRANSFERS,
    status=ExportStatus.PENDING,
    requested_at=datetime(2026, 3, 1, 11, 59, tzinfo=UTC),
    cc=("cfo@acme.example.com",),
    warnings=(),
)


def _answered(model: BaseModel) -> bytes:
    return model.model_dump_json(by_alias=True).encode()  # as the HTTP adapter writes it


def _legacy(key: str, request: str, status: int | None, body: bytes | None) -> dict[str, object]:
    headers = [["content-type", "application/json"]]
    if status == 202:
        headers.append(["location", f"/v1/exports/{_QUEUED.export_id}"])
    return {
        "scope": "digest",
        "request": request,
        "key": key,
        "fingerprint": "f" * 64,
        "created_at": _T0,
        "expires_at": _T0 + timedelta(hours=24),
        "response_status": status,
        "response_headers": None if status is None else headers,
        "response_body": body,
    }


async def test_keys_answered_before_results_were_data_keep_replaying_the_same_answer(
    empty: Database,
) -> None:
    resend = f"POST /v1/exports/{PENDING_ID}/resend-email"
    request = "POST /v1/payments/funding-transfers/export"
    first_resend = _answered(ResendEmailResponse.of(_RESENT, _IGNORED))
    first_request = _answered(ExportRequestedResponse.of(_QUEUED, []))
    await empty.upgrade("0005")
    async with empty.engine.begin() as connection:
        await connection.execute(
            _LEGACY_KEYS.insert(),
            [
                _legacy("resent", resend, 200, first_resend),
                _legacy("queued", request, 202, first_request),
                _legacy("in-flight", request, None, None),
                _legacy("unreadable", request, 202, b"not json"),
            ],
        )

    await empty.upgrade()

    async with SqlAlchemyUnitOfWork(empty.engine, empty.writers) as uow:
        found = {
            key: await uow.idempotency.get(IdempotencyKey("digest", name, key))
            for key, name in [
                ("resent", resend),
                ("queued", request),
                ("in-flight", request),
                ("unreadable", request),
            ]
        }
    resent, queued, in_flight = found["resent"], found["queued"], found["in-flight"]
    assert resent is not None
    assert resent.result is not None
    assert queued is not None
    assert queued.result is not None
    # the replay is answered by the function that answers a first request: the same bytes
    replayed = ResendSummary.from_data(resent.result)
    assert replayed == _RESENT
    assert _answered(ResendEmailResponse.of(replayed, _IGNORED)) == first_resend
    assert ExportRequestSummary.from_data(queued.result) == _QUEUED
    assert in_flight is not None
    assert in_flight.result is None
    assert found["unreadable"] is None

    await empty.downgrade("0005")
    async with empty.engine.connect() as connection:
        rows = (await connection.execute(sa.select(_LEGACY_KEYS))).mappings().all()
    answers = {row["key"]: row for row in rows}
    assert bytes(answers["resent"]["response_body"]) == _answered(
        ResendEmailResponse.of(_RESENT, [])  # the warnings of HTTP's own are not data
    )
    assert bytes(answers["queued"]["response_body"]) == first_request
    assert (
        answers["queued"]["response_headers"] == _legacy("", request, 202, None)["response_headers"]
    )
    assert answers["in-flight"]["response_body"] is None


async def _versions(database: Database, table: str) -> list[str] | None:
    """The revisions in ``table``, or ``None`` if there is no such table."""
    async with database.engine.connect() as connection:
        if table not in await connection.run_sync(_tables):
            return None
        rows = await connection.execute(text(f"SELECT version_num FROM {table}"))  # noqa: S608
        return sorted(rows.scalars())


@pytest.mark.parametrize("hosts", [[], ["1f2e3d4c5b6a", "host_0003"]])
async def test_a_revision_of_ours_in_alembic_version_moves_to_our_own_table(
    empty: Database, hosts: list[str]
) -> None:
    """Versions before this one kept our revision in Alembic's default table, which a host's
    own Alembic in the same database uses too: the next upgrade moves ours out, leaves the
    host's there, and drops the table if nothing is left in it."""
    await empty.upgrade("0003")
    async with empty.engine.begin() as connection:  # what an older version left behind
        await connection.execute(text(f"DROP TABLE {VERSION_TABLE}"))
        await connection.execute(
            text(
                f"CREATE TABLE {SHARED_VERSION_TABLE} (version_num VARCHAR(32) NOT NULL,"
                " CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
            )
        )
        for revision in ["0003", *hosts]:
            await connection.execute(
                text(f"INSERT INTO {SHARED_VERSION_TABLE} VALUES (:revision)"),  # noqa: S608
                {"revision": revision},
            )
    assert await empty.revision() == "0003"  # before the move: a server starts as it did
    await empty.upgrade()
    assert await empty.revision() == HEAD_REVISION
    assert await _versions(empty, VERSION_TABLE) == [HEAD_REVISION]
    assert await _versions(empty, SHARED_VERSION_TABLE) == (sorted(hosts) or None)
    if not hosts:  # a host's version table is not ours to declare
        async with empty.engine.connect() as connection:
            assert await connection.run_sync(_differences) == []


async def test_a_hosts_own_alembic_version_is_left_alone(empty: Database) -> None:
    async with empty.engine.begin() as connection:
        await connection.execute(
            text(f"CREATE TABLE {SHARED_VERSION_TABLE} (version_num VARCHAR(32) NOT NULL)")
        )
        await connection.execute(
            text(f"INSERT INTO {SHARED_VERSION_TABLE} VALUES ('0001')")  # noqa: S608
        )
    assert await empty.revision() is None  # no table of ours: the host's '0001' is not ours
    await empty.upgrade()
    await empty.downgrade("0004")
    await empty.upgrade()
    assert await _versions(empty, VERSION_TABLE) == [HEAD_REVISION]
    assert await _versions(empty, SHARED_VERSION_TABLE) == ["0001"]
