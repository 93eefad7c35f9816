"""Send and re-send the "your export is ready" email of a payments platform.

``ExportResend`` is the library a host service embeds: its HTTP app (``.asgi``), its
background work (``.running()``) and its use cases. Layers, innermost first: ``domain``
(rules, standard library only), ``application`` (use cases), ``adapters`` (one package per
technology), and the composition root (``container``, ``service``, ``main``, ``cli``).
"""

from __future__ import annotations

import importlib
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from export_resend.domain.caller import Caller, ClientType
    from export_resend.service import ExportResend
    from export_resend.settings import Settings

__version__ = version("export-resend")
__all__ = ["Caller", "ClientType", "ExportResend", "Settings", "__version__"]

_LAZY = {
    "Caller": "export_resend.domain.caller",
    "ClientType": "export_resend.domain.caller",
    "ExportResend": "export_resend.service",
    "Settings": "export_resend.settings",
}


def __getattr__(name: str) -> Any:
    # imported on first use, so that `import export_resend.domain` stays standard-library only
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'export_resend' has no attribute {name!r}")
