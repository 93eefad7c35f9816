"""Who is calling: the connected user, as authenticated by an API key."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from export_resend.domain.recipients import check_bare_address


class ClientType(StrEnum):
    """The platform's kinds of client; the ``dj-client`` header names one."""

    OPERATOR = "OPERATOR"
    SUPPLIER = "SUPPLIER"
    ACCOUNT = "ACCOUNT"


@dataclass(frozen=True, slots=True)
class Caller:
    """The connected user. ``email`` is where their own emails go: always the To."""

    user_id: str
    email: str
    tenant_id: str
    client_type: ClientType
    supplier_id: str | None = None
    credential: str | None = field(default=None, compare=False)
    """The SHA-256 hex digest of the API key this caller authenticated with (``None`` for a
    caller a host service made from its own identity): it scopes idempotency keys."""

    def __post_init__(self) -> None:
        check_bare_address(self.email)
