"""The demo: deterministic made-up rows for every export type, and demo users, keys and
exports to try every outcome of the API with."""

from export_resend.adapters.demo.row_source import DemoRowSource
from export_resend.adapters.demo.seed import (
    DemoData,
    DemoExport,
    DemoUser,
    SeedDemo,
    demo_api_key,
)

__all__ = ["DemoData", "DemoExport", "DemoRowSource", "DemoUser", "SeedDemo", "demo_api_key"]
