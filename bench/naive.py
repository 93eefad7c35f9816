"""The naive peer: the resend endpoint as people write it, FastAPI and the SQLAlchemy ORM.

    python -m bench.naive --database-url postgresql+asyncpg://postgres@127.0.0.1/DB --port 8103
    python -m bench.naive --database-url sqlite+aiosqlite:////tmp/x.db --port 8104

The tutorial way, on the same tables and data as the service: declarative models of the
tables it touches, an ``AsyncSession`` per request from a FastAPI dependency, a pydantic
model for the body and one for the answer, the key looked up with its user
(``joinedload``), ``session.get(Export, id, with_for_update=True)``, the resend rule, a new
``Delivery`` added and committed. ``create_async_engine`` with its defaults (a pool of 5
plus 10 overflow). Served like the reference peer (uvloop, httptools, no access log), so
that the application is what differs. Like the reference peer: no rate limit, no
idempotency, no CC validation, no logging.
"""

# no "from __future__ import annotations": FastAPI reads the route's annotations at run time

import argparse
import hashlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import JSON, DateTime, ForeignKey, ForeignKeyConstraint, String, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, joinedload, mapped_column, relationship

from bench.server import serve

Json = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True), Any: Json}  # noqa: RUF012


class User(Base):
    __tablename__ = "users"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    email: Mapped[str]
    client_type: Mapped[str]
    supplier_id: Mapped[str | None]
    created_at: Mapped[datetime]


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "user_id"], ["users.tenant_id", "users.id"]),
    )

    key_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str]
    user_id: Mapped[str]
    key_id: Mapped[str | None]
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    user: Mapped[User] = relationship()


class Export(Base):
    __tablename__ = "exports"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    tenant_id: Mapped[str]
    type: Mapped[str]
    owner_id: Mapped[str]
    owner_email: Mapped[str]
    cc: Mapped[Any]
    status: Mapped[str]
    requested_at: Mapped[datetime]
    ready_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    storage_key: Mapped[str | None]
    size_bytes: Mapped[int | None]
    row_count: Mapped[int | None]
    sha256: Mapped[str | None]
    failure_reason: Mapped[str | None]
    version: Mapped[int]
    filters: Mapped[Any | None]
    supplier_scope: Mapped[str | None]


class Delivery(Base):
    __tablename__ = "deliveries"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    export_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("exports.id"))
    kind: Mapped[str]
    to_address: Mapped[str]
    cc: Mapped[Any]
    message_id: Mapped[str]
    status: Mapped[str]
    queued_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    last_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None]
    results: Mapped[Any] = mapped_column(default=list)
    lease_id: Mapped[uuid.UUID | None]


class ResendBody(BaseModel):
    cc: list[str] | None = Field(default=None, max_length=20)


class Recipients(BaseModel):
    to: str
    cc: list[str]


class DeliveryOut(BaseModel):
    id: uuid.UUID
    status: str
    queuedAt: datetime  # noqa: N815 (the service's field name)


class ResendAnswer(BaseModel):
    exportId: uuid.UUID  # noqa: N815
    exportType: str  # noqa: N815
    status: str
    recipients: Recipients
    delivery: DeliveryOut
    warnings: list[str]


def _utc(moment: datetime) -> datetime:
    # SQLite keeps no zone: the service stores UTC there
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def build(database_url: str) -> FastAPI:
    engine = create_async_engine(database_url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    async def session() -> AsyncIterator[AsyncSession]:
        async with sessions() as s:
            yield s

    app = FastAPI(lifespan=lifespan)

    @app.post("/v1/exports/{export_id}/resend-email", response_model=ResendAnswer)
    async def resend_email(
        export_id: uuid.UUID,
        db: Annotated[AsyncSession, Depends(session)],
        dj_api_key: Annotated[str, Header()],
        dj_client: Annotated[str, Header()],
        body: ResendBody | None = None,
    ) -> ResendAnswer:
        digest = hashlib.sha256(dj_api_key.encode()).hexdigest()
        key = await db.scalar(
            select(ApiKey)
            .options(joinedload(ApiKey.user))
            .where(ApiKey.key_sha256 == digest, ApiKey.revoked_at.is_(None))
        )
        if key is None or key.user.client_type != dj_client:
            raise HTTPException(401, "the API key is not valid for this client")
        export = await db.get(Export, export_id, with_for_update=True)
        if export is None or export.tenant_id != key.user.tenant_id:
            raise HTTPException(404, "no such export")
        if export.owner_id != key.user.id:
            raise HTTPException(403, "not your export")
        now = datetime.now(UTC)
        if export.status != "READY" or export.expires_at is None or _utc(export.expires_at) <= now:
            raise HTTPException(409, "the export is not READY")
        cc = export.cc if body is None or body.cc is None else body.cc
        delivery = Delivery(
            id=uuid.uuid4(),
            export_id=export.id,
            kind="RESEND",
            to_address=key.user.email,
            cc=cc,
            message_id=f"<{uuid.uuid4().hex}@bench.example.com>",
            status="QUEUED",
            queued_at=now,
            next_attempt_at=now,
            attempts=0,
            results=[],
        )
        db.add(delivery)
        await db.commit()
        return ResendAnswer(
            exportId=export.id,
            exportType=export.type,
            status="READY",
            recipients=Recipients(to=key.user.email, cc=cc),
            delivery=DeliveryOut(id=delivery.id, status="QUEUED", queuedAt=now),
            warnings=[],
        )

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a SQLAlchemy async URL")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    serve(build(args.database_url), args.port)


if __name__ == "__main__":
    main()
