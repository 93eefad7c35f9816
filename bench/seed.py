"""The data of a benchmark, put in a database by the code under test itself.

    python -m bench.seed --database-url URL --spec FILE

Run as a child process with the code under test's interpreter and ``PYTHONPATH`` (see
``bench.harness.Code``), so that each checkout migrates its own schema (``Database.upgrade``)
and stores users, API keys and READY exports through its own adapters
(``SqlAlchemyApiKeyStore.add``, ``SqlAlchemyUnitOfWork``'s ``exports.add``: both there in
every version). The spec, made by
:func:`make_spec`, holds the keys' text and the exports' ids, so that every database of a run
(this checkout's and a baseline's, PostgreSQL and SQLite) holds the same data and one load
script fits them all. Prints ``SEEDED <users> <exports>``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from export_resend.adapters.sql import Database, SqlAlchemyApiKeyStore, SqlAlchemyUnitOfWork
from export_resend.domain.api_keys import ApiKey, ApiKeyRecord
from export_resend.domain.caller import Caller, ClientType
from export_resend.domain.export import Export, ExportFile, ExportStatus, ExportType

TENANTS = 5
TYPES = ("TRANSACTION_EVENTS", "SUPPLIER_PAYOUTS", "FUNDING_TRANSFERS", "MARKETPLACE_PAYOUTS")


@dataclass(frozen=True, slots=True)
class Resendable:
    """One export that its owner's key may resend."""

    export_id: str
    api_key: str
    client: str


def make_spec(users: int, exports: int, seed: int = 14) -> dict[str, Any]:
    """``users`` operators in a few tenants, each with an API key, owning ``exports`` READY
    exports between them (valid 30 days, a third with one CC)."""
    rng = random.Random(seed)  # noqa: S311 (test data)
    people = []
    for u in range(users):
        tenant = f"bench-{u % TENANTS}"
        people.append(
            {
                "tenant": tenant,
                "user": f"user-{u:03d}",
                "email": f"user-{u:03d}@{tenant}.example.com",
                "client": "OPERATOR",
                "key": ApiKey.generate().text,
            }
        )
    items = []
    for e in range(exports):
        owner = people[e % users]
        items.append(
            {
                "id": str(UUID(int=rng.getrandbits(128), version=4)),
                "owner": e % users,
                "type": TYPES[e % len(TYPES)],
                "cc": [f"finance@{owner['tenant']}.example.com"] if e % 3 == 0 else [],
            }
        )
    return {"users": people, "exports": items}


def resendable(spec: dict[str, Any]) -> list[Resendable]:
    people = spec["users"]
    return [
        Resendable(e["id"], people[e["owner"]]["key"], people[e["owner"]]["client"])
        for e in spec["exports"]
    ]


async def seed(database_url: str, spec: dict[str, Any]) -> tuple[int, int]:
    """Migrate ``database_url`` to this code's head, then store ``spec``."""
    now = datetime.now(UTC)
    database = Database(database_url)
    try:
        await database.upgrade()
        store = SqlAlchemyApiKeyStore(database.engine)
        callers = []
        for person in spec["users"]:
            caller = Caller(
                person["user"], person["email"], person["tenant"], ClientType(person["client"])
            )
            key = ApiKey.parse(person["key"])
            await store.add(key.sha256, ApiKeyRecord(key.key_id, caller, now))
            callers.append(caller)
        async with SqlAlchemyUnitOfWork(database.engine) as uow:
            for item in spec["exports"]:
                owner = callers[item["owner"]]
                await uow.exports.add(
                    Export(
                        id=UUID(item["id"]),
                        tenant_id=owner.tenant_id,
                        type=ExportType(item["type"]),
                        owner_id=owner.user_id,
                        owner_email=owner.email,
                        status=ExportStatus.READY,
                        requested_at=now - timedelta(hours=1),
                        cc=tuple(item["cc"]),
                        ready_at=now - timedelta(minutes=58),
                        expires_at=now + timedelta(days=30),
                        file=ExportFile(f"bench/{item['id']}.csv", 48_213, 1_024, "0" * 64),
                    )
                )
            await uow.commit()
    finally:
        await database.dispose()
    return len(spec["users"]), len(spec["exports"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--spec", required=True, help="a JSON file made by make_spec")
    args = parser.parse_args()
    users, exports = asyncio.run(seed(args.database_url, json.loads(Path(args.spec).read_text())))
    print(f"SEEDED {users} {exports}", flush=True)


if __name__ == "__main__":
    main()
