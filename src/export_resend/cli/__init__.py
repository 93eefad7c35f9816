"""The ``export-resend`` command: ``serve``, ``worker``, ``demo``, ``db upgrade`` and ``keys``.

One module per group of commands; each adds its parser and names the coroutine it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from export_resend.adapters.sql.database import SchemaNotCurrent
from export_resend.cli import database, demo, keys, serving
from export_resend.cli.common import Refused, shown_url
from export_resend.cli.serving import server_config
from export_resend.domain.ports import StorageUnavailable
from export_resend.settings import Settings, UnsupportedSetting


def parser() -> argparse.ArgumentParser:
    """The command line."""
    root = argparse.ArgumentParser(prog="export-resend", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    for group in (serving, demo, database, keys):
        group.add_to(commands)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = parser().parse_args(argv)
    settings = None
    try:
        settings = Settings()
        asyncio.run(args.run(settings, args))
    except (UnsupportedSetting, ValidationError, SchemaNotCurrent) as exc:
        print(f"export-resend: {exc}", file=sys.stderr)
        return 2
    except Refused as exc:
        print(f"export-resend: {exc}", file=sys.stderr)
        return exc.status
    except BrokenPipeError:  # the reader went away (| head): say nothing more to it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except StorageUnavailable as exc:
        where = "" if settings is None else f" {shown_url(settings, user=True)}"
        print(f"export-resend: the database{where} cannot be used: {exc}", file=sys.stderr)
        return 2
    return 0


__all__ = ["main", "parser", "server_config"]
