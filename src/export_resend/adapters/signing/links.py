"""Signed download links: the token in the link is the only credential a download needs."""

from __future__ import annotations

import hashlib
import secrets
from uuid import UUID

from itsdangerous import BadSignature, URLSafeSerializer

from export_resend.domain.export import Export
from export_resend.domain.ports import DownloadLinks


class ItsdangerousDownloadLinks(DownloadLinks):
    """Mint and read download tokens signed with HMAC-SHA512 (itsdangerous).

    A token names one export and carries a random nonce, so that every email gets a fresh
    link to the same file. It holds no expiry of its own: a link is valid exactly while the
    export it names is READY, that is until its ``expires_at``.
    """

    _SALT = "export-resend.download"

    def __init__(self, *, secret: str, public_base_url: str) -> None:
        self._serializer = URLSafeSerializer(
            secret, salt=self._SALT, signer_kwargs={"digest_method": hashlib.sha512}
        )
        self._base_url = public_base_url.rstrip("/")

    def url_for(self, export: Export) -> str:
        """A new link to the export's file."""
        token = self._serializer.dumps([export.id.hex, secrets.token_urlsafe(8)])
        return f"{self._base_url}/v1/exports/{export.id}/download?token={token}"

    def export_id(self, token: str) -> UUID | None:
        """The export a token names, or ``None`` when it was not signed by this secret."""
        try:
            payload = self._serializer.loads(token)
        except BadSignature:
            return None
        match payload:
            case [str(export_hex), str()]:
                return UUID(hex=export_hex)
            case _:
                return None
