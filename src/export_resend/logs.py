"""Log lines, ours and every library's, as one JSON object per line (or text for people).

``configure_logging`` is called once by the commands that run the service (``serve``,
``worker``), never at import: a host service that embeds the library keeps its own
logging. The code logs with the standard library only (``logging.getLogger(__name__)``),
passing ids as ``extra={"export_id": ..., "delivery_id": ...}``; the HTTP adapter binds the
request's id with structlog's contextvars. Here both become fields of the line, beside
``timestamp`` (ISO 8601 UTC), ``level``, ``logger`` and ``event`` (the message).

No line may carry an email address, a download token, an API key or a password: the log
calls are written so (tests/integration/test_logs.py runs real traffic and reads every
line), and ``redact_secrets`` replaces whatever looks like one anyway, as a last resort.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from export_resend.domain.api_keys import CHECKSUM_LENGTH, KEY_ID_LENGTH, PREFIX, SECRET_LENGTH
from export_resend.settings import LogFormat, LogLevel

SENSITIVE_KEYS = frozenset(
    {
        "api_key",
        "apikey",
        "dj-api-key",
        "dj_api_key",
        "authorization",
        "cookie",
        "password",
        "secret",
        "link_secret",
        "token",
    }
)
"""Fields whose value is never written, whatever it is."""


def _long_key(match: re.Match[str]) -> str:
    tail = match["tail"]
    is_secret = any(c.isdigit() for c in tail) and any(c.isalpha() for c in tail)
    return "[api-key]" if is_secret else match[0]


SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    # our own API keys, exactly, whatever touches them ("req-erk_…" is a valid request id)
    (
        re.compile(
            rf"{PREFIX}[0-9A-Za-z]{{{KEY_ID_LENGTH}}}"
            rf"_[0-9A-Za-z]{{{SECRET_LENGTH + CHECKSUM_LENGTH}}}"
        ),
        "[api-key]",
    ),
    # a credential in a query string or a key=value text: keep the name, drop the value
    (
        re.compile(r"(?i)\b(token|api[_-]?key|password|secret|signature)=[^&\s\"',;]+"),
        r"\1=[redacted]",
    ),
    # an address: local@domain
    (re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@(?:[\w-]+\.)+[\w-]+"), "[email]"),
    # a signed download token (itsdangerous: base64url payload, '.', signature)
    (re.compile(r"(?<![\w.-])[\w-]{12,}\.[\w-]{27,}(?![\w.-])"), "[token]"),
    # API keys: "prefix_" then a long run of letters and digits (both), or words then hex
    (re.compile(r"(?<![\w-])[A-Za-z]{2,12}_(?P<tail>[A-Za-z0-9_]{20,})(?![\w-])"), _long_key),
    (re.compile(r"(?<![\w-])[a-z]+(?:-[a-z]+)*-[0-9a-f]{24,}(?![\w-])"), "[api-key]"),
)
"""What ``redact_secrets`` replaces in every text of a line, in this order."""


def redact_text(text: str) -> str:
    """``text`` with everything that looks like an address or a secret replaced."""
    for pattern, replacement in SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: "[redacted]" if _sensitive(k) else _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redacted(v) for v in value]
    return value


def _sensitive(key: object) -> bool:
    return isinstance(key, str) and key.lower() in SENSITIVE_KEYS


def redact_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """A structlog processor, the last before rendering: sensitive fields are dropped and
    addresses, tokens and key-shaped strings replaced, in every value (a traceback too)."""
    return {
        key: "[redacted]" if _sensitive(key) else _redacted(value)
        for key, value in event_dict.items()
    }


def _drop_color_message(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    event_dict.pop("color_message", None)  # uvicorn's copy of the message, with ANSI codes
    return event_dict


QUIET_LOGGERS = ("aiosqlite", "sqlalchemy.engine", "sqlalchemy.pool")
"""Never below WARNING, whatever the level: their debug lines print statements' parameters
(addresses among them)."""


def _shared() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.stdlib.ExtraAdder(),
        _drop_color_message,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def configure_logging(
    log_format: LogFormat = LogFormat.JSON,
    level: LogLevel = LogLevel.INFO,
    *,
    stream: TextIO | None = None,
    redact: bool = True,
) -> None:
    """Send every log record of the process to ``stream`` (standard error), rendered.

    Replaces the root logger's handlers; uvicorn's loggers and Python's warnings propagate
    to it, and uvicorn's access log is silenced (``adapters/http/access.py`` writes one
    without the query string).
    ``redact=False`` leaves out ``redact_secrets``: tests use it to show that the log calls
    themselves are clean.
    """
    stream = stream if stream is not None else sys.stderr
    renderer: Processor = (
        structlog.processors.JSONRenderer(default=str)
        if log_format is LogFormat.JSON
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    last: list[Processor] = [structlog.processors.format_exc_info]
    if redact:
        last.append(redact_secrets)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *last, renderer],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.value)
    _route_to_root(["uvicorn", "uvicorn.error", "uvicorn.asgi", "alembic", "py.warnings"])
    logging.captureWarnings(True)  # a warning is a line too (logger "py.warnings"), not raw text
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    access.disabled = True
    for name in QUIET_LOGGERS:
        quiet = logging.getLogger(name)
        quiet.setLevel(max(logging.WARNING, logging.getLevelName(level.value)))
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def _route_to_root(names: Iterable[str]) -> None:
    for name in names:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.disabled = False
