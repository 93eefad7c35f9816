"""Download links signed with HMAC-SHA512 (itsdangerous)."""

from export_resend.adapters.signing.links import ItsdangerousDownloadLinks

__all__ = ["ItsdangerousDownloadLinks"]
