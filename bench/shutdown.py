"""Ctrl-C and SIGTERM end a benchmark through its cleanup, never around it."""

from __future__ import annotations

import asyncio
import signal


def cancel_on_signals() -> None:
    """Cancel the running task on SIGINT or SIGTERM, so that its ``finally`` blocks stop the
    processes it started and drop its database. Installed explicitly, because a process
    started in the background inherits SIGINT ignored and Python then never raises
    ``KeyboardInterrupt``."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, task.cancel)
