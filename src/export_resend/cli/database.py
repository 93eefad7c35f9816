"""``export-resend db upgrade``: apply the migrations to the configured database."""

from __future__ import annotations

import argparse
from typing import Any

from export_resend.adapters.sql import Database
from export_resend.cli.common import require_database
from export_resend.settings import Settings


async def run(settings: Settings, args: argparse.Namespace) -> None:
    """Upgrade the schema to the latest migration, saying from what to what."""
    require_database(settings, "there is no schema to upgrade in memory://")
    database = Database(settings.database_url)
    try:
        before = await database.revision()
        await database.upgrade()
        print(f"database schema: {before or 'empty'} -> {await database.revision()}")
    finally:
        await database.dispose()


def add_to(commands: Any) -> None:
    """The ``db`` commands."""
    db = commands.add_parser("db", help="the database schema")
    db.set_defaults(run=run)
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply the migrations to EXPORT_RESEND_DATABASE_URL")
