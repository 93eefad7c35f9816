"""Email addresses as the API accepts them: bare, valid, and safe in a header."""

from __future__ import annotations

from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, Field, StrictStr
from pydantic_core import PydanticCustomError

from export_resend.domain.recipients import MAX_CC_RECIPIENTS

_FORBIDDEN = {"\r": "a carriage return", "\n": "a line feed", "\0": "a NUL character"}


def bare_address(value: str) -> str:
    """Return the address in its normal ASCII form, or refuse it with the reason.

    Refused: a display name or angle brackets, CR, LF, NUL, an RFC 2047 encoded word
    (``=?``), anything ``email-validator`` rejects (no DNS look-up), and addresses whose
    local part needs SMTPUTF8. An internationalised domain is kept in its IDNA form.
    """
    for char, name in _FORBIDDEN.items():
        if char in value:
            raise PydanticCustomError("email_address", f"must not contain {name}")
    if "=?" in value:
        raise PydanticCustomError("email_address", "must not contain an encoded word (=?)")
    if "<" in value or ">" in value:
        raise PydanticCustomError(
            "email_address", "must be a bare address, without a display name or angle brackets"
        )
    try:
        valid = validate_email(
            value, check_deliverability=False, allow_smtputf8=False, allow_display_name=False
        )
    except EmailNotValidError as exc:
        raise PydanticCustomError(
            "email_address", "is not a valid email address: {reason}", {"reason": str(exc)}
        ) from exc
    return valid.ascii_email or valid.normalized


EmailAddress = Annotated[
    StrictStr,
    AfterValidator(bare_address),
    Field(json_schema_extra={"format": "email", "maxLength": 254}),
]
"""A bare email address, validated and normalised by ``bare_address``."""

CcList = Annotated[tuple[EmailAddress, ...], Field(max_length=MAX_CC_RECIPIENTS)]
"""At most ``MAX_CC_RECIPIENTS`` bare addresses, as given (duplicates are the domain's)."""
