"""``export-resend demo``: seed the demo data, print keys, exports and commands to try."""

from __future__ import annotations

import argparse
import json
from typing import Any

from export_resend.application.seed_demo import DemoData
from export_resend.cli.common import service
from export_resend.settings import Settings


def demo_json(data: DemoData) -> dict[str, Any]:
    """The demo as one JSON object: users with their keys, exports with their ids."""
    return {
        "users": [
            {
                "name": u.name,
                "tenant": u.caller.tenant_id,
                "client": u.caller.client_type.value,
                "email": u.caller.email,
                "apiKey": u.api_key,
            }
            for u in data.users
        ],
        "exports": [
            {
                "id": str(e.export.id),
                "name": e.name,
                "tenant": e.export.tenant_id,
                "owner": e.owner,
                "type": e.export.type.value,
                "status": e.export.status.value,
                "cc": list(e.export.cc),
            }
            for e in data.exports
        ],
    }


def demo_text(data: DemoData, base_url: str) -> str:
    """The demo for people: keys, exports, and one curl command per outcome."""

    def curl(user: str, export: str, body: str | None = None) -> str:
        u, e = data.user(user), data.export(export)
        line = (
            f"curl -i -X POST {base_url}/v1/exports/{e.export.id}/resend-email "
            f"-H 'dj-client: {u.caller.client_type.value}' -H 'dj-api-key: {u.api_key}'"
        )
        return line if body is None else f"{line} -H 'content-type: application/json' -d '{body}'"

    lines = ["Demo users (API keys are public: demo only):"]
    lines += [
        f"  {u.name:<7}{u.caller.client_type.value:<9}{u.caller.tenant_id:<6} {u.api_key}"
        for u in data.users
    ]
    lines.append("Demo exports:")
    lines += [
        f"  {e.name:<16}{e.export.id}  {e.export.status.value:<8}{e.export.type.value}"
        for e in data.exports
    ]
    new_cc = '{"cc":["ceo@demo.example.com"]}'
    bad_cc = '{"cc":["Boss <boss@example.com>"]}'
    olivia = data.user("olivia")
    request = (
        f"curl -i -X POST {base_url}/v1/payments/funding-transfers/export "
        f"-H 'dj-client: OPERATOR' -H 'dj-api-key: {olivia.api_key}' "
        """-H 'content-type: application/json' -d '{"cc":["finance@demo.example.com"]}'"""
    )
    lines += [
        "Try:",
        f"  200 resend, new CC:    {curl('olivia', 'olivia-ready-cc', new_cc)}",
        f"  403 not the owner:     {curl('oscar', 'olivia-ready')}",
        f"  404 other tenant:      {curl('otto', 'olivia-ready')}",
        f"  409 not READY:         {curl('olivia', 'olivia-pending')}",
        f"  400 bad CC:            {curl('olivia', 'olivia-ready', bad_cc)}",
        "And a new export, generated and emailed within seconds:",
        f"  202 request an export: {request}",
    ]
    return "\n".join(lines)


async def run(settings: Settings, args: argparse.Namespace) -> None:
    """Seed the demo (idempotently) and print it."""
    demo = service(settings, background=False)
    async with demo.running():
        data = await demo.container.seed_demo()()
    if args.json:
        print(json.dumps(demo_json(data), indent=2))
    else:
        print(demo_text(data, settings.public_base_url))


def add_to(commands: Any) -> None:
    """The ``demo`` command."""
    demo = commands.add_parser("demo", help="seed the demo data and print keys and curl commands")
    demo.add_argument("--json", action="store_true", help="print one JSON object instead")
    demo.set_defaults(run=run)
