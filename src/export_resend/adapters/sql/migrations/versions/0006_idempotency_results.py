"""An idempotency key keeps its request's result as data (``result``), not the bytes of an answer.

Keys stored before, with the answer's status, headers and body, are converted: their body is
read back into the result the request's use case now records, so that they keep replaying
until they expire (24 hours by default). The warnings of fields a request did not read
(``FIELD_IGNORED``) are left out: they are the HTTP adapter's, made anew from the retry's
body, which is the first one's. A body that cannot be read that way (none can, short of a
hand-made row) is deleted: a retry with its key then runs anew. Downgrading writes the
answers back from the results, without a mount prefix in ``Location`` and without those
warnings.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
_KEYS = sa.table(
    "idempotency_keys",
    sa.column("scope", sa.String),
    sa.column("request", sa.String),
    sa.column("key", sa.String),
    sa.column("response_status", sa.Integer),
    sa.column("response_headers", JSON),
    sa.column("response_body", sa.LargeBinary),
    sa.column("result", JSON),
)
_IGNORED = "FIELD_IGNORED"


def _is_resend(request: str) -> bool:
    return request.endswith("/resend-email")


def _iso(moment: str) -> str:
    return datetime.fromisoformat(moment).isoformat()


def _json_moment(moment: str) -> str:
    """As the answers wrote a UTC moment: ``Z``, not ``+00:00``."""
    return datetime.fromisoformat(moment).isoformat().replace("+00:00", "Z")


def result_of(request: str, body: bytes) -> dict[str, Any] | None:
    """The result a request recorded as ``body``, its 2xx answer; ``None`` if unreadable."""
    try:
        answer = json.loads(body)
        warnings = [w for w in answer["warnings"] if w["code"] != _IGNORED]
        if _is_resend(request):
            recipients, delivery = answer["recipients"], answer["delivery"]
            return {
                "export_id": answer["exportId"],
                "export_type": answer["exportType"],
                "to": recipients["to"],
                "cc": recipients["cc"],
                "delivery_id": delivery["id"],
                "delivery_status": delivery["status"],
                "queued_at": _iso(delivery["queuedAt"]),
                "warnings": warnings,
            }
        return {
            "export_id": answer["exportId"],
            "export_type": answer["exportType"],
            "status": answer["status"],
            "requested_at": _iso(answer["requestedAt"]),
            "cc": answer["cc"],
            "warnings": warnings,
        }
    except (KeyError, TypeError, ValueError):
        return None


def answer_of(request: str, result: dict[str, Any]) -> tuple[int, list[list[str]], bytes]:
    """The status, headers and body revision 0005 stored for ``result``."""
    headers = [["content-type", "application/json"]]
    if _is_resend(request):
        status = 200
        answer: dict[str, Any] = {
            "exportId": result["export_id"],
            "exportType": result["export_type"],
            "status": "READY",
            "recipients": {"to": result["to"], "cc": result["cc"]},
            "delivery": {
                "id": result["delivery_id"],
                "status": result["delivery_status"],
                "queuedAt": _json_moment(result["queued_at"]),
            },
            "warnings": result["warnings"],
        }
    else:
        status = 202
        answer = {
            "exportId": result["export_id"],
            "exportType": result["export_type"],
            "status": result["status"],
            "requestedAt": _json_moment(result["requested_at"]),
            "cc": result["cc"],
            "warnings": result["warnings"],
        }
        headers.append(["location", f"/v1/exports/{result['export_id']}"])
    body = json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return status, headers, body


def _match(row: Any) -> Any:
    return sa.and_(
        _KEYS.c.scope == row.scope, _KEYS.c.request == row.request, _KEYS.c.key == row.key
    )


def upgrade() -> None:
    op.add_column("idempotency_keys", sa.Column("result", JSON))
    connection = op.get_bind()
    answered = connection.execute(
        sa.select(_KEYS.c.scope, _KEYS.c.request, _KEYS.c.key, _KEYS.c.response_body).where(
            _KEYS.c.response_body.is_not(None)
        )
    ).all()
    for row in answered:
        result = result_of(row.request, bytes(row.response_body))
        if result is None:
            connection.execute(_KEYS.delete().where(_match(row)))
        else:
            connection.execute(_KEYS.update().where(_match(row)).values(result=result))
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.drop_column("response_body")
        batch.drop_column("response_headers")
        batch.drop_column("response_status")


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.add_column(sa.Column("response_status", sa.Integer))
        batch.add_column(sa.Column("response_headers", JSON))
        batch.add_column(sa.Column("response_body", sa.LargeBinary))
    connection = op.get_bind()
    # a key in flight may hold a JSON null rather than SQL's NULL: read them all
    rows = connection.execute(
        sa.select(_KEYS.c.scope, _KEYS.c.request, _KEYS.c.key, _KEYS.c.result)
    ).all()
    for row in (row for row in rows if row.result is not None):
        status, headers, body = answer_of(row.request, row.result)
        connection.execute(
            _KEYS.update()
            .where(_match(row))
            .values(response_status=status, response_headers=headers, response_body=body)
        )
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.drop_column("result")
