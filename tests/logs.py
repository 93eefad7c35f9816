"""The service's log configuration, writing into memory for a test, and undone after it.

    with captured_logs() as logs:
        ...  # anything that logs
    for line in logs.lines(): ...  # each a dict parsed from one JSON line

``configure_logging`` changes the process's logging (the root logger's handlers, uvicorn's
loggers, structlog's configuration); this puts all of it back as it was, so that pytest's
own capture and other tests are unaffected.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import structlog

from export_resend.logs import QUIET_LOGGERS, configure_logging
from export_resend.settings import LogFormat, LogLevel

_TOUCHED = (
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "uvicorn.asgi",
    "alembic",
    "py.warnings",
    *QUIET_LOGGERS,
)


@dataclass
class Logs:
    """What was written; ``lines()`` parses each line as JSON (and fails on any other)."""

    stream: io.StringIO = field(default_factory=io.StringIO)

    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text().splitlines()]

    def events(self, logger: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line["logger"] == logger]


@contextmanager
def captured_logs(
    log_format: LogFormat = LogFormat.JSON,
    level: LogLevel = LogLevel.INFO,
    *,
    redact: bool = True,
) -> Iterator[Logs]:
    root = logging.getLogger()
    saved_root = (root.handlers[:], root.level)
    saved = {
        name: (lg.handlers[:], lg.level, lg.propagate, lg.disabled)
        for name in _TOUCHED
        for lg in [logging.getLogger(name)]
    }
    logs = Logs()
    configure_logging(log_format, level, stream=logs.stream, redact=redact)
    try:
        yield logs
    finally:
        root.handlers[:], root.level = saved_root
        for name, (handlers, level_, propagate, disabled) in saved.items():
            logger = logging.getLogger(name)
            logger.handlers[:] = handlers
            logger.setLevel(level_)
            logger.propagate, logger.disabled = propagate, disabled
        logging.captureWarnings(False)
        structlog.reset_defaults()
        structlog.contextvars.clear_contextvars()
