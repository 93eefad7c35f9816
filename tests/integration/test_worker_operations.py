"""``export-resend worker --metrics-port``: a worker shows its health and metrics, and logs
one JSON object per line."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.processes import free_port


async def test_a_worker_serves_livez_readyz_and_metrics_and_logs_json(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "EXPORT_RESEND_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'worker.db'}",
        "EXPORT_RESEND_FILES_DIR": str(tmp_path / "files"),
        "EXPORT_RESEND_MAILER": "console",
    }
    command = [sys.executable, "-m", "export_resend.cli", "worker", "--metrics-port", str(port)]
    with (tmp_path / "stderr").open("wb") as stderr:
        worker = await asyncio.create_subprocess_exec(
            *command, env=env, stdout=subprocess.DEVNULL, stderr=stderr
        )
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                async with asyncio.timeout(30):
                    while True:
                        try:
                            live = await client.get("/livez")
                            break
                        except httpx.ConnectError:
                            await asyncio.sleep(0.1)
                ready = await client.get("/readyz")
                metrics = await client.get("/metrics")
            worker.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(worker.wait(), 20)
        finally:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()
    assert (live.status_code, ready.status_code, metrics.status_code) == (200, 200, 200)
    assert 'export_resend_queue_depth{queue="outbox"} 0.0' in metrics.text
    assert code == 0
    lines = [json.loads(line) for line in (tmp_path / "stderr").read_text().splitlines()]
    [started] = [line for line in lines if line["logger"] == "export_resend.worker"]
    assert started["event"].startswith("sending emails and generating exports from sqlite")
    access = [line for line in lines if line["logger"] == "export_resend.adapters.http.access"]
    assert [line["route"] for line in access] == ["/livez", "/readyz", "/metrics"]
