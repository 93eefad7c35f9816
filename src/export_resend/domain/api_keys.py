"""API keys: their text, checked before anything is looked up, and what is stored about them.

A key reads ``erk_<key id>_<secret><checksum>``, 55 characters:

- ``erk_`` ("export-resend key") says what it is, to people and to secret scanners;
- the key id, 12 base62 characters, is public: it names the key in listings and revocations;
- the secret, 32 base62 characters (190 random bits);
- the checksum, the CRC32 of everything before it as 6 base62 characters, so that a key
  mistyped or cut short is refused without a look-up.

Only the SHA-256 digest of the whole key is ever stored.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
import zlib
from dataclasses import dataclass, field
from datetime import datetime

from export_resend.domain.caller import Caller

PREFIX = "erk_"
KEY_ID_LENGTH = 12
SECRET_LENGTH = 32
CHECKSUM_LENGTH = 6
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
KEY_LENGTH = len(PREFIX) + KEY_ID_LENGTH + 1 + SECRET_LENGTH + CHECKSUM_LENGTH

_KEY = re.compile(
    rf"{PREFIX}([0-9A-Za-z]{{{KEY_ID_LENGTH}}})_([0-9A-Za-z]{{{SECRET_LENGTH}}})"
    rf"([0-9A-Za-z]{{{CHECKSUM_LENGTH}}})"
)
_KEY_ID = re.compile(rf"[0-9A-Za-z]{{{KEY_ID_LENGTH}}}")
_SECRET = re.compile(rf"[0-9A-Za-z]{{{SECRET_LENGTH}}}")


class MalformedApiKey(ValueError):
    """Text that is not an API key: wrong shape, or a checksum that does not match."""


def base62(number: int, width: int) -> str:
    """``number`` in base62 (``0-9A-Za-z``), left-padded with ``0`` to ``width`` digits."""
    if number < 0:
        raise ValueError(f"{number} is negative")
    digits, rest = "", number
    while rest:
        rest, digit = divmod(rest, 62)
        digits = BASE62[digit] + digits
    if len(digits) > width:
        raise ValueError(f"{number} needs more than {width} base62 digits")
    return digits.rjust(width, "0")


def _checksum(body: str) -> str:
    return base62(zlib.crc32(body.encode("ascii")), CHECKSUM_LENGTH)


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A key as its holder presents it. ``repr`` and ``str`` show the key id only."""

    key_id: str
    secret: str = field(repr=False)

    def __post_init__(self) -> None:
        if not _KEY_ID.fullmatch(self.key_id) or not _SECRET.fullmatch(self.secret):
            raise MalformedApiKey(
                f"a key id is {KEY_ID_LENGTH} and a secret {SECRET_LENGTH} base62 characters"
            )

    @classmethod
    def generate(cls) -> ApiKey:
        """A new key, its id and secret drawn from ``secrets``."""
        return cls(
            "".join(secrets.choice(BASE62) for _ in range(KEY_ID_LENGTH)),
            "".join(secrets.choice(BASE62) for _ in range(SECRET_LENGTH)),
        )

    @classmethod
    def parse(cls, text: str) -> ApiKey:
        """The key ``text`` spells; ``MalformedApiKey`` unless its shape and checksum are right."""
        match = _KEY.fullmatch(text) if len(text) == KEY_LENGTH else None
        if match is None:
            raise MalformedApiKey(f"an API key is {PREFIX}<key id>_<secret><checksum>")
        key = cls(match[1], match[2])
        if key.text != text:
            raise MalformedApiKey("the API key's checksum does not match: is it mistyped?")
        return key

    @property
    def text(self) -> str:
        """The whole key, checksum included: the secret to hand over, once."""
        body = f"{PREFIX}{self.key_id}_{self.secret}"
        return body + _checksum(body)

    @property
    def sha256(self) -> str:
        """The SHA-256 hex digest of the whole key: all that is stored of it."""
        return hashlib.sha256(self.text.encode("ascii")).hexdigest()


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """What is stored about one key, never the key itself.

    ``key_id`` is ``None`` for a key made before keys had ids; such keys are no longer
    accepted (they have no checksum) and are listed only so that they can be seen.
    """

    key_id: str | None
    caller: Caller
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        """Whether the key has been revoked: it then authenticates nobody."""
        return self.revoked_at is not None
