"""The reference peer: the resend endpoint on Starlette and asyncpg, as fast as they go.

    python -m bench.peer --dsn postgresql://postgres@127.0.0.1/DB --port 8102 [--variant cte]

What a performance-minded engineer would write for the same work as the service's
``POST /v1/exports/{exportId}/resend-email``, on the same tables and data: the SHA-256 of
``dj-api-key``, then, in one transaction, the key's user (``api_keys`` joined to ``users``),
the export by id (``FOR UPDATE``, as the service locks it), the resend rule (same tenant,
owner, READY and not past expiry), one ``deliveries`` row, and a JSON answer of the
service's shape. Nothing else: no rate limit, no idempotency, no CC validation, no
logging, no metrics.

- ``--variant five`` (default): ``BEGIN``, key, export, insert, ``COMMIT``: 5 round trips.
- ``--variant cte``: the same in one statement (CTEs; its implicit transaction): 1 round trip.

The asyncpg pool holds ``--pool-size`` (20) connections, opened at start, with the reset on
release disabled (asyncpg's default ``reset`` costs a round trip per request; nothing here
leaves session state behind). Statements are prepared once per connection by asyncpg's
statement cache. Served by uvicorn with uvloop and httptools, no access log
(``bench/server.py``).
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
from starlette.responses import Response
from starlette.routing import Route

from bench.server import serve

KEY_QUERY = """
SELECT u.tenant_id, u.id, u.email, u.client_type
FROM api_keys k JOIN users u ON u.tenant_id = k.tenant_id AND u.id = k.user_id
WHERE k.key_sha256 = $1 AND k.revoked_at IS NULL
"""
EXPORT_QUERY = """
SELECT tenant_id, owner_id, status, expires_at, cc, type FROM exports WHERE id = $1 FOR UPDATE
"""
INSERT_DELIVERY = """
INSERT INTO deliveries (id, export_id, kind, to_address, cc, message_id, status, queued_at,
                        next_attempt_at, attempts, results)
VALUES ($1, $2, 'RESEND', $3, $4, $5, 'QUEUED', $6, $6, 0, '[]')
"""
ONE_STATEMENT = """
WITH caller AS (
    SELECT u.tenant_id, u.id, u.email, u.client_type
    FROM api_keys k JOIN users u ON u.tenant_id = k.tenant_id AND u.id = k.user_id
    WHERE k.key_sha256 = $1 AND k.revoked_at IS NULL
), target AS (
    SELECT e.id, e.owner_id, e.status, e.expires_at, e.cc, e.type
    FROM exports e JOIN caller c ON e.tenant_id = c.tenant_id
    WHERE e.id = $2
    FOR UPDATE OF e
), queued AS (
    INSERT INTO deliveries (id, export_id, kind, to_address, cc, message_id, status,
                            queued_at, next_attempt_at, attempts, results)
    SELECT $3, t.id, 'RESEND', c.email, COALESCE($4::jsonb, t.cc), $5, 'QUEUED', $6, $6, 0,
           '[]'::jsonb
    FROM target t JOIN caller c ON t.owner_id = c.id AND c.client_type = $7
    WHERE t.status = 'READY' AND t.expires_at > $6
    RETURNING cc
)
SELECT c.email, c.client_type, t.owner_id = c.id AS owner, t.status, t.type, q.cc
FROM caller c LEFT JOIN target t ON true LEFT JOIN queued q ON true
"""
VARIANTS = ("five", "cte")
JSON_TYPE = "application/json"


def _problem(status: int, title: str) -> Response:
    body = json.dumps({"title": title, "status": status}).encode()
    return Response(body, status, media_type="application/problem+json")


def _answer(
    export_id: UUID, export_type: str, *, to: str, cc_json: str, delivery: UUID, now: datetime
) -> Response:
    body = (
        f'{{"exportId":"{export_id}","exportType":"{export_type}","status":"READY",'
        f'"recipients":{{"to":{json.dumps(to)},"cc":{cc_json}}},'
        f'"delivery":{{"id":"{delivery}","status":"QUEUED",'
        f'"queuedAt":"{now.isoformat().replace("+00:00", "Z")}"}},"warnings":[]}}'
    )
    return Response(body.encode(), media_type=JSON_TYPE)


def _cc(raw: bytes) -> str | None:
    """The body's ``cc`` as JSON text (``None``: keep the export's); ``ValueError`` if the
    body is not ``{}`` or ``{"cc": [at most 20 strings]}``."""
    if not raw:
        return None
    body: Any = json.loads(raw)
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    cc = body.get("cc")
    if cc is None:
        return None
    if not (isinstance(cc, list) and len(cc) <= 20 and all(isinstance(a, str) for a in cc)):
        raise ValueError("cc must be a list of at most 20 addresses")
    return json.dumps(cc)


async def _keep(_connection: asyncpg.Connection[Any]) -> None:
    """The pool's reset on release: nothing (no round trip)."""


class Peer:
    """The endpoint, on one asyncpg pool."""

    def __init__(self, dsn: str, pool_size: int, variant: str) -> None:
        self._dsn = dsn
        self._pool_size = pool_size
        self._variant = variant
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None

    @asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        self._pool = await asyncpg.create_pool(
            self._dsn, min_size=self._pool_size, max_size=self._pool_size, reset=_keep
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
            cc = _cc(await request.body())
        except ValueError:
            return _problem(400, "bad export id or body")
        digest = hashlib.sha256(key.encode()).hexdigest()
        if self._variant == "cte":
            return await self._one_statement(digest, client, export_id, cc)
        return await self._five_round_trips(digest, client, export_id, cc)

    async def _five_round_trips(
        self, digest: str, client: str, export_id: UUID, cc: str | None
    ) -> Response:
        assert self._pool is not None
        async with self._pool.acquire() as connection, connection.transaction():
            user = await connection.fetchrow(KEY_QUERY, digest)
            if user is None or user["client_type"] != client:
                return _problem(401, "the API key is not valid for this client")
            export = await connection.fetchrow(EXPORT_QUERY, export_id)
            if export is None or export["tenant_id"] != user["tenant_id"]:
                return _problem(404, "no such export")
            if export["owner_id"] != user["id"]:
                return _problem(403, "not your export")
            now = datetime.now(UTC)
            if export["status"] != "READY" or export["expires_at"] <= now:
                return _problem(409, "the export is not READY")
            recipients = export["cc"] if cc is None else cc
            delivery = uuid4()
            message_id = f"<{delivery.hex}@bench.example.com>"
            await connection.execute(
                INSERT_DELIVERY, delivery, export_id, user["email"], recipients, message_id, now
            )
        return _answer(
            export_id,
            export["type"],
            to=user["email"],
            cc_json=recipients,
            delivery=delivery,
            now=now,
        )

    async def _one_statement(
        self, digest: str, client: str, export_id: UUID, cc: str | None
    ) -> Response:
        assert self._pool is not None
        now, delivery = datetime.now(UTC), uuid4()
        message_id = f"<{delivery.hex}@bench.example.com>"
        async with self._pool.acquire() as connection:
            row = await connection.fetchrow(
                ONE_STATEMENT, digest, export_id, delivery, cc, message_id, now, client
            )
        if row is None or row["client_type"] != client:
            return _problem(401, "the API key is not valid for this client")
        if row["owner"] is None:
            return _problem(404, "no such export")
        if not row["owner"]:
            return _problem(403, "not your export")
        if row["cc"] is None:
            return _problem(409, "the export is not READY")
        return _answer(
            export_id, row["type"], to=row["email"], cc_json=row["cc"], delivery=delivery, now=now
        )

    def app(self) -> Starlette:
        route = Route("/v1/exports/{export_id}/resend-email", self.resend_email, methods=["POST"])
        return Starlette(routes=[route], lifespan=self.lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", required=True, help="postgresql://USER@HOST:PORT/DB")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pool-size", type=int, default=20)
    parser.add_argument("--variant", choices=VARIANTS, default="five")
    args = parser.parse_args()
    serve(Peer(args.dsn, args.pool_size, args.variant).app(), args.port)


if __name__ == "__main__":
    main()
