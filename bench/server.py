"""How every benchmarked HTTP server runs: one uvicorn process, one worker, quiet."""

from __future__ import annotations

import uvicorn
from starlette.applications import Starlette


def serve(app: Starlette, port: int) -> None:
    """Serve ``app`` on 127.0.0.1:``port`` until SIGTERM or SIGINT; the same settings for our
    service and for the peer, so that only the application differs."""
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
