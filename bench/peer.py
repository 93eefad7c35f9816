"""The bare peer of the throughput benchmark: the resend endpoint on Starlette and asyncpg only.

    .venv/bin/python -m bench.peer --dsn postgresql://postgres@127.0.0.1/DB --port 8102

Per request, the same work as our service, with nothing in between: the key's user by the
SHA-256 digest of ``dj-api-key`` (same ``api_keys``/``users`` tables), then ``BEGIN``, the
export by id ``FOR SHARE``, the resend rule (same tenant, owner, READY and not past expiry),
one ``deliveries`` row, ``COMMIT``, and a small JSON answer. Five round trips; asyncpg caches
the prepared statements per connection.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.server import serve

KEY_QUERY = """
SELECT users.tenant_id, users.id, users.email, users.client_type
FROM api_keys JOIN users
  ON users.tenant_id = api_keys.tenant_id AND users.id = api_keys.user_id
WHERE api_keys.key_sha256 = $1 AND api_keys.revoked_at IS NULL
"""
EXPORT_QUERY = """
SELECT tenant_id, owner_id, status, expires_at, cc FROM exports WHERE id = $1 FOR SHARE
"""
INSERT_DELIVERY = """
INSERT INTO deliveries
  (id, export_id, kind, to_address, cc, message_id, status, queued_at, attempts, results)
VALUES ($1, $2, 'RESEND', $3, $4, $5, 'QUEUED', $6, 0, '[]')
"""


def _problem(status: int, title: str) -> Response:
    return JSONResponse({"title": title, "status": status}, status)


def _cc(body: Any) -> list[str] | None:
    """The ``cc`` of the body (``None``: keep the export's); ``ValueError`` if malformed."""
    cc = body.get("cc") if isinstance(body, dict) else None
    if cc is not None and not (isinstance(cc, list) and all(isinstance(a, str) for a in cc)):
        raise ValueError("cc must be a list of addresses")
    return cc


def _refusal(export: asyncpg.Record | None, user: asyncpg.Record, now: datetime) -> Response | None:
    """The resend rule: found in the caller's tenant, owned by the caller, READY."""
    if export is None or export["tenant_id"] != user["tenant_id"]:
        return _problem(404, "no such export")
    if export["owner_id"] != user["id"]:
        return _problem(403, "not your export")
    if export["status"] != "READY" or export["expires_at"] <= now:
        return _problem(409, "the export is not READY")
    return None


class Peer:
    """The endpoint, on one asyncpg pool."""

    def __init__(self, dsn: str, pool_size: int) -> None:
        self._dsn = dsn
        self._pool_size = pool_size
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None

    @asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        self._pool = await asyncpg.create_pool(
            self._dsn, min_size=self._pool_size, max_size=self._pool_size
        )
        try:
            yield
        finally:
            await self._pool.close()

    async def resend_email(self, request: Request) -> Response:
        key, client = request.headers.get("dj-api-key"), request.headers.get("dj-client")
        if not key or not client:
            return _problem(401, "the dj-api-key and dj-client headers are required")
        try:
            export_id = UUID(request.path_params["export_id"])
            cc = _cc(json.loads(await request.body() or b"{}"))
        except ValueError:
            return _problem(400, "bad export id or body")
        assert self._pool is not None
        digest = hashlib.sha256(key.encode()).hexdigest()
        async with self._pool.acquire() as connection:
            user = await connection.fetchrow(KEY_QUERY, digest)
            if user is None or user["client_type"] != client:
                return _problem(401, "the API key is not valid for this client")
            now = datetime.now(UTC)
            async with connection.transaction():
                export = await connection.fetchrow(EXPORT_QUERY, export_id)
                if refusal := _refusal(export, user, now):
                    return refusal
                assert export is not None
                recipients = export["cc"] if cc is None else json.dumps(cc)
                delivery_id = uuid4()
                await connection.execute(
                    INSERT_DELIVERY,
                    delivery_id,
                    export_id,
                    user["email"],
                    recipients,
                    f"<{delivery_id.hex}@bench.example.com>",
                    now,
                )
        return JSONResponse(
            {"deliveryId": str(delivery_id), "to": user["email"], "cc": json.loads(recipients)}
        )

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/exports/{export_id}/resend-email", self.resend_email, methods=["POST"])
            ],
            lifespan=self.lifespan,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the bare peer for a benchmark.")
    parser.add_argument("--dsn", required=True, help="postgresql://USER@HOST:PORT/DB")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pool-size", type=int, default=10)
    args = parser.parse_args()
    serve(Peer(args.dsn, args.pool_size).app(), args.port)


if __name__ == "__main__":
    main()
