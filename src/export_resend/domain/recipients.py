"""Who an export email goes to, and how a CC list is cleaned before it is used."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from export_resend.domain.errors import TooManyCcRecipients

MAX_CC_RECIPIENTS = 20

_NOT_IN_A_BARE_ADDRESS = frozenset(' \t,;:<>()[]\\"')


def check_bare_address(value: str) -> str:
    """Return ``value`` if it has the shape of a bare address that is safe in a header.

    This is the domain's invariant, not full validation (the application validates with
    email-validator): exactly one ``@`` with text on both sides, and no control character,
    white space, separator, bracket, quote or encoded word (``=?``). Raises ``ValueError``.
    """
    local, at, domain = value.partition("@")
    if (
        not (local and at and domain)
        or "@" in domain
        or "=?" in value
        or any(c in _NOT_IN_A_BARE_ADDRESS or c < " " or c == "\x7f" for c in value)
    ):
        raise ValueError(f"not a bare email address: {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Recipients:
    """The To (always the connected user) and the CC list of one email."""

    to: str
    cc: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for address in (self.to, *self.cc):
            check_bare_address(address)

    @property
    def envelope(self) -> tuple[str, ...]:
        """Every address the message is delivered to, To first; there is never a Bcc."""
        return (self.to, *self.cc)


class CcRemoval(StrEnum):
    """Why an address was taken out of a CC list."""

    DUPLICATE = "CC_DUPLICATE_REMOVED"
    PRIMARY_RECIPIENT = "CC_PRIMARY_RECIPIENT_REMOVED"


@dataclass(frozen=True, slots=True)
class CcWarning:
    """One address dropped from the requested CC list, at ``index`` in that list."""

    index: int
    address: str
    reason: CcRemoval


@dataclass(frozen=True, slots=True)
class NormalizedCc:
    """A CC list ready to use, and what was dropped on the way."""

    cc: tuple[str, ...]
    warnings: tuple[CcWarning, ...]


def normalize_cc(to: str, cc: Sequence[str]) -> NormalizedCc:
    """Keep the first of each address (compared case-insensitively) and drop the To.

    Raises ``TooManyCcRecipients`` when the list given has more than ``MAX_CC_RECIPIENTS``
    entries, whatever would be left after removals.
    """
    if len(cc) > MAX_CC_RECIPIENTS:
        raise TooManyCcRecipients(len(cc), MAX_CC_RECIPIENTS)
    seen = {to.casefold()}
    kept: list[str] = []
    warnings: list[CcWarning] = []
    for index, address in enumerate(cc):
        key = address.casefold()
        if key == to.casefold():
            warnings.append(CcWarning(index, address, CcRemoval.PRIMARY_RECIPIENT))
        elif key in seen:
            warnings.append(CcWarning(index, address, CcRemoval.DUPLICATE))
        else:
            seen.add(key)
            kept.append(address)
    return NormalizedCc(tuple(kept), tuple(warnings))
