"""The log configuration: one JSON object per line, context merged, secrets never written."""

from __future__ import annotations

import json
import logging
import warnings
from uuid import uuid4

import structlog

from export_resend.adapters.demo import demo_api_key
from export_resend.adapters.signing import ItsdangerousDownloadLinks
from export_resend.logs import redact_text
from export_resend.settings import LogFormat, LogLevel
from tests.factories import export
from tests.logs import captured_logs

log = logging.getLogger("export_resend.test")


def test_a_standard_library_line_is_one_json_object_with_its_fields_and_context() -> None:
    export_id = str(uuid4())
    with captured_logs() as logs, structlog.contextvars.bound_contextvars(request_id="r-1"):
        log.info("export %s requested", export_id, extra={"export_id": export_id})
    [line] = logs.lines()
    assert line == {
        "event": f"export {export_id} requested",
        "export_id": export_id,
        "request_id": "r-1",
        "logger": "export_resend.test",
        "level": "info",
        "timestamp": line["timestamp"],
    }
    assert line["timestamp"].endswith("Z")


def test_an_exception_is_rendered_inside_its_line() -> None:
    with captured_logs() as logs:
        try:
            raise ValueError("bad thing")
        except ValueError:
            log.exception("it failed")
    [line] = logs.lines()
    assert line["level"] == "error"
    assert "Traceback" in line["exception"]
    assert "ValueError: bad thing" in line["exception"]


def test_uvicorn_lines_go_through_and_its_access_log_is_silenced() -> None:
    with captured_logs() as logs:
        logging.getLogger("uvicorn.error").info(
            "Started server process [%d]", 1, extra={"color_message": "\x1b[1mStarted\x1b[0m"}
        )
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "1.2.3.4", "GET", "/download?token=abc", "1.1", 200
        )
    [line] = logs.lines()
    assert line["logger"] == "uvicorn.error"
    assert line["event"] == "Started server process [1]"
    assert "color_message" not in line


def test_the_level_is_honoured_and_driver_debug_lines_stay_quiet_even_at_debug() -> None:
    with captured_logs(level=LogLevel.WARNING) as logs:
        log.info("not written")
        log.warning("written")
    assert [line["event"] for line in logs.lines()] == ["written"]
    with captured_logs(level=LogLevel.DEBUG) as logs:
        logging.getLogger("aiosqlite").debug("executing ('olivia@acme.example.com',)")
        log.debug("ours")
    assert [line["event"] for line in logs.lines()] == ["ours"]


def test_the_console_format_is_text_for_people() -> None:
    with captured_logs(LogFormat.CONSOLE) as logs:
        log.info("hello", extra={"export_id": "e-1"})
    assert "hello" in logs.text()
    assert "export_id=e-1" in logs.text()
    assert not logs.text().startswith("{")


def test_the_last_resort_replaces_addresses_tokens_and_keys_wherever_they_are() -> None:
    token = ItsdangerousDownloadLinks(secret="s" * 32, public_base_url="https://x.io").url_for(
        export()
    )
    key = demo_api_key("olivia").text
    with captured_logs() as logs:
        log.warning(
            "relay said 550 <olivia@acme.example.com>: no; link %s; key %s; prefixed %s",
            token,
            key,
            "erk_live_7f3kP9qL2mN8xR4tV6wY1zB5",
            extra={"token": "abc", "cc": ["finance@acme.example.com"], "password": "hunter2"},
        )
    [line] = logs.lines()
    written = json.dumps(line)
    for secret in ("olivia@", "finance@", key, "hunter2", "7f3kP9qL2mN8", token.split("=")[1]):
        assert secret not in written
    assert line["token"] == line["password"] == "[redacted]"
    assert line["cc"] == ["[email]"]
    assert "token=[redacted]" in line["event"]


def test_the_last_resort_leaves_ids_names_and_file_keys_alone() -> None:
    export_id, lease = uuid4(), uuid4().hex
    kept = (
        f"export {export_id} file {export_id}.{lease}.csv request {uuid4().hex} "
        "logger export_resend.adapters.http.access metric export_resend_send_attempts_total "
        "route /v1/exports/{export_id}/resend-email code EXPORT_NOT_FOUND"
    )
    assert redact_text(kept) == kept


def test_without_the_last_resort_nothing_is_replaced() -> None:
    with captured_logs(redact=False) as logs:
        log.info("to olivia@acme.example.com")
    assert logs.lines()[0]["event"] == "to olivia@acme.example.com"


def test_the_last_resort_knows_our_own_keys_whatever_touches_them() -> None:
    # a request id is any run of letters, digits and ". _ : -": a client may build one from
    # its key, and it is written on every line of the request
    key = demo_api_key("olivia").text
    for text in (f"req-{key}", f"{key}-retry-2", f"a-{key}-b", f"{key}:1"):
        assert key not in redact_text(text), text
        assert "[api-key]" in redact_text(text)


def test_python_warnings_are_lines_of_the_log_too() -> None:
    # SQLAlchemy warns, for one, when it finds a connection nobody gave back (a cancelled
    # ping): such a line goes through the same handler, as JSON and through the last resort
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        with captured_logs() as logs:
            warnings.warn("connection of olivia@acme.example.com not checked in", stacklevel=1)
    [line] = logs.lines()
    assert line["logger"] == "py.warnings"
    assert "not checked in" in line["event"]
    assert "olivia@" not in line["event"]
