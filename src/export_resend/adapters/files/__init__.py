"""Export files on a local disk."""

from export_resend.adapters.files.local import LocalFileStore

__all__ = ["LocalFileStore"]
