"""Run a module with some packages made unimportable, as if they were not installed.

    python -m bench.without uvloop,httptools export_resend.cli serve --port 8101

``sys.modules[name] = None`` makes ``import name`` raise ImportError, so that uvicorn's
``loop="auto"`` and ``http="auto"`` fall back to asyncio and h11: what a service installed
without ``uvicorn[standard]`` runs.
"""

from __future__ import annotations

import runpy
import sys


def main() -> None:
    if len(sys.argv) < 3:
        raise SystemExit("usage: python -m bench.without PKG[,PKG…] MODULE [ARGS…]")
    for name in sys.argv[1].split(","):
        sys.modules[name] = None  # type: ignore[assignment]
    module = sys.argv[2]
    sys.argv = [module, *sys.argv[3:]]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
