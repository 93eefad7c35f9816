"""How the peers' HTTP servers run: one uvicorn process and worker, as fast as uvicorn goes.

uvloop for the event loop, httptools for HTTP/1.1, no access log, warnings only: what a
performance-minded deployment of a Starlette or FastAPI app runs (``uvicorn[standard]``).
Our service is not served from here: the benchmarks run ``export-resend serve`` itself, with
its shipped defaults.
"""

from __future__ import annotations

from typing import Literal

import uvicorn
from starlette.types import ASGIApp

Loop = Literal["uvloop", "asyncio"]
Http = Literal["httptools", "h11"]


def serve(app: ASGIApp, port: int, *, loop: Loop = "uvloop", http: Http = "httptools") -> None:
    """Serve ``app`` on 127.0.0.1:``port`` until SIGTERM or SIGINT."""
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop=loop,
        http=http,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
