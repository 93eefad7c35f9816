"""A demo of the host's data: deterministic made-up rows for every export type."""

from export_resend.adapters.demo.row_source import DemoRowSource

__all__ = ["DemoRowSource"]
