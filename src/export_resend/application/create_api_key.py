"""Issue a new API key to a user, creating the user with their first key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Self

from pydantic import AfterValidator, ConfigDict, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from export_resend.application.addresses import EmailAddress
from export_resend.application.validation import Command
from export_resend.domain.api_keys import ApiKey, ApiKeyRecord
from export_resend.domain.caller import Caller, ClientType
from export_resend.domain.ports import ApiKeyStore, Clock


def _printable_ascii(value: str) -> str:
    if not (value.isascii() and value.isprintable()) or " " in value:
        raise PydanticCustomError("identifier", "must be printable ASCII without spaces")
    return value


def _identifier(max_length: int) -> tuple[StringConstraints, AfterValidator]:
    return (
        StringConstraints(min_length=1, max_length=max_length, strict=True),
        AfterValidator(_printable_ascii),
    )


TenantId = Annotated[str, *_identifier(64)]
UserId = Annotated[str, *_identifier(128)]
SupplierId = Annotated[str, *_identifier(128)]


class CreateApiKeyCommand(Command):
    """Whose key: the user (tenant and user id, printable ASCII without spaces), where their
    emails go, their client type, and their supplier id (required of a SUPPLIER, refused
    otherwise). A user already stored must be named with the same details."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant_id: TenantId
    user_id: UserId
    email: EmailAddress
    client_type: ClientType
    supplier_id: SupplierId | None = None

    @model_validator(mode="after")
    def _supplier_only_for_suppliers(self) -> Self:
        if self.client_type is ClientType.SUPPLIER and self.supplier_id is None:
            raise PydanticCustomError("supplier", "a SUPPLIER needs a supplier id")
        if self.client_type is not ClientType.SUPPLIER and self.supplier_id is not None:
            raise PydanticCustomError(
                "supplier", "an {client} has no supplier id", {"client": self.client_type.value}
            )
        return self

    @property
    def caller(self) -> Caller:
        """The user the key will authenticate."""
        return Caller(self.user_id, self.email, self.tenant_id, self.client_type, self.supplier_id)


@dataclass(frozen=True, slots=True)
class IssuedApiKey:
    """A new key and its record. Hand ``key.text`` over now: it is not stored."""

    key: ApiKey
    record: ApiKeyRecord


class CreateApiKey:
    """Store a new key for the command's user. Raises ``UserMismatch`` when that user is
    stored with another email, client type or supplier."""

    def __init__(self, *, api_keys: ApiKeyStore, clock: Clock) -> None:
        self._api_keys = api_keys
        self._clock = clock

    async def __call__(self, command: CreateApiKeyCommand) -> IssuedApiKey:
        key = ApiKey.generate()
        record = ApiKeyRecord(key.key_id, command.caller, self._clock.now())
        await self._api_keys.add(key.sha256, record)
        return IssuedApiKey(key, record)
