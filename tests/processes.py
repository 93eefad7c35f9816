"""Real ``export-resend`` processes for tests: started, read, and stopped."""

from __future__ import annotations

import contextlib
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

STARTED = "Application startup complete"


class Output:
    """Lines a process prints, read in the background so that nothing blocks."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        self._stream = stream
        self._reader = threading.Thread(target=self._pump, daemon=True)
        self._reader.start()

    def _pump(self) -> None:
        for line in self._stream:
            self._queue.put(line)

    def close(self) -> None:
        """After the process has ended: finish reading and close the pipe."""
        self._reader.join(timeout=10)
        self._stream.close()

    def until(self, marker: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            self.lines.append(line)
            if marker in line:
                return "".join(self.lines)
        raise AssertionError(f"{marker!r} not printed in {timeout}s:\n{''.join(self.lines)}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def environment(**settings: str) -> dict[str, str]:
    """This process's environment without any ``EXPORT_RESEND_*`` variable, plus
    ``settings`` as ``EXPORT_RESEND_<NAME>``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXPORT_RESEND_")}
    return env | {f"EXPORT_RESEND_{name.upper()}": value for name, value in settings.items()}


@contextlib.contextmanager
def serving(
    env: Mapping[str, str],
    *,
    port: int | None = None,
    cwd: Path | None = None,
    args: Sequence[str] = (),
) -> Iterator[tuple[Output, str]]:
    """``export-resend serve`` with ``args``, once it has started: its output and base URL."""
    port = port or free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "export_resend.cli", "serve", *args, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(env),
        cwd=cwd,
    )
    assert process.stdout is not None
    output = Output(process.stdout)
    try:
        output.until(STARTED)
        yield output, f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        output.close()
