"""``export-resend keys create|list|revoke``: API keys, in the configured database."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from export_resend.application.create_api_key import CreateApiKeyCommand
from export_resend.application.errors import ValidationFailed
from export_resend.application.revoke_api_key import ApiKeyNotFound
from export_resend.cli.common import Refused, require_database, service
from export_resend.domain.api_keys import ApiKeyRecord
from export_resend.domain.caller import ClientType
from export_resend.domain.ports import UserMismatch
from export_resend.service import ExportResend
from export_resend.settings import Settings

_OPTIONS = {
    "tenant_id": "--tenant",
    "user_id": "--user",
    "client_type": "--client",
    "supplier_id": "--supplier",
    "body": "",  # the command as a whole (field_path's name for it): no one option
}


def _option(field: str) -> str:
    option = _OPTIONS.get(field, f"--{field}")
    return f"{option}: " if option else ""


def key_command(args: argparse.Namespace) -> CreateApiKeyCommand:
    """The options of ``keys create`` as a command; ``Refused`` naming the bad options."""
    options = {
        "tenant_id": args.tenant,
        "user_id": args.user,
        "email": args.email,
        "client_type": args.client,
        "supplier_id": args.supplier,
    }
    try:
        return CreateApiKeyCommand.model_validate(options)
    except ValidationFailed as exc:
        problems = [f"{_option(issue.field)}{issue.message}" for issue in exc.errors]
        raise Refused("; ".join(problems), status=2) from None


def _moment(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def keys_json(records: Sequence[ApiKeyRecord]) -> list[dict[str, Any]]:
    """Key records as JSON objects (camelCase, ISO 8601 UTC times); never a key."""
    return [
        {
            "keyId": r.key_id,
            "tenant": r.caller.tenant_id,
            "user": r.caller.user_id,
            "email": r.caller.email,
            "client": r.caller.client_type.value,
            "supplier": r.caller.supplier_id,
            "createdAt": r.created_at.isoformat().replace("+00:00", "Z"),
            "lastUsedAt": r.last_used_at and r.last_used_at.isoformat().replace("+00:00", "Z"),
            "revokedAt": r.revoked_at and r.revoked_at.isoformat().replace("+00:00", "Z"),
        }
        for r in records
    ]


def keys_text(records: Sequence[ApiKeyRecord]) -> str:
    """Key records as a table, one key a line; keys made before key ids show ``(legacy)``."""
    rows = [("KEY ID", "TENANT", "USER", "EMAIL", "CLIENT", "CREATED", "LAST USED", "REVOKED")]
    rows += [
        (
            r.key_id or "(legacy)",
            r.caller.tenant_id,
            r.caller.user_id,
            r.caller.email,
            r.caller.client_type.value,
            _moment(r.created_at),
            _moment(r.last_used_at),
            _moment(r.revoked_at) if r.key_id else "refused: no checksum",
        )
        for r in records
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


async def run(settings: Settings, args: argparse.Namespace) -> None:
    """One ``keys`` command."""
    require_database(settings, "keys are kept in the database, and memory:// keeps nothing")
    command = key_command(args) if args.keys_command == "create" else None
    keys = service(settings, background=False)
    async with keys.running():
        if command is not None:
            await _create_key(keys, command)
        elif args.keys_command == "list":
            records = await keys.list_api_keys(args.tenant)
            print(json.dumps(keys_json(records), indent=2) if args.json else keys_text(records))
        else:
            try:
                record = await keys.revoke_api_key(args.key_id)
            except ApiKeyNotFound as exc:
                raise Refused(str(exc)) from None
            print(
                f"API key {record.key_id} of user {record.caller.user_id} of tenant "
                f"{record.caller.tenant_id} is revoked since {_moment(record.revoked_at)}"
            )


async def _create_key(keys: ExportResend, command: CreateApiKeyCommand) -> None:
    try:
        issued = await keys.create_api_key(command)
    except UserMismatch:
        raise Refused(
            f"user {command.user_id} of tenant {command.tenant_id} exists with another email, "
            f"client type or supplier: 'export-resend keys list --tenant {command.tenant_id}' "
            "shows them"
        ) from None
    print(
        f"API key {issued.key.key_id} for {command.user_id} ({command.client_type.value}) "
        f"of tenant {command.tenant_id}. It will not be shown again (only its hash is kept): "
        "store it now.",
        file=sys.stderr,
        flush=True,
    )
    print(issued.key.text, flush=True)


def add_to(commands: Any) -> None:
    """The ``keys`` commands."""
    keys = commands.add_parser("keys", help="API keys in EXPORT_RESEND_DATABASE_URL")
    keys.set_defaults(run=run)
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_commands.add_parser(
        "create", help="create a key (and its user, if new) and print it, once"
    )
    create.add_argument("--tenant", required=True)
    create.add_argument("--user", required=True)
    create.add_argument("--email", required=True, help="where the user's emails go")
    create.add_argument("--client", required=True, choices=[c.value for c in ClientType])
    create.add_argument("--supplier", help="the supplier id: required of a SUPPLIER")
    listing = keys_commands.add_parser("list", help="list the keys, never showing one")
    listing.add_argument("--tenant", help="only this tenant's keys")
    listing.add_argument("--json", action="store_true", help="print a JSON array instead")
    revoke = keys_commands.add_parser("revoke", help="revoke a key: it stops working")
    revoke.add_argument("key_id", metavar="KEY_ID", help="the key id that 'keys list' shows")
