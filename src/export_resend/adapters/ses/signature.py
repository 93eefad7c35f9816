"""SNS message signatures: the string SNS signs, the certificates it signs with, and the check.

Signature version 1 is SHA1withRSA, version 2 SHA256withRSA, both PKCS #1 v1.5, over the
canonical string of the message's signed fields (``canonical_string``).
"""

from __future__ import annotations

import asyncio
import base64
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from export_resend.adapters.ses.hosts import check_certificate_url
from export_resend.domain.delivery_events import (
    CertificateFetcher,
    EventNotAuthentic,
    ProviderUnavailable,
)

SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
"""The fields SNS signs, in the order it signs them, by message ``Type``; only a
Notification's ``Subject`` may be absent (then it is left out)."""
SIGNED_FIELDS["UnsubscribeConfirmation"] = SIGNED_FIELDS["SubscriptionConfirmation"]

HASHES: Mapping[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
"""The digest of each ``SignatureVersion``."""

MIN_KEY_BITS = 2048


def canonical_string(message: Mapping[str, str]) -> bytes:
    """What SNS signs: each signed field present in ``message``, as its name, a newline, its
    value and a newline, in SNS's order. ``KeyError`` if a required field is missing."""
    lines: list[str] = []
    for name in SIGNED_FIELDS[message["Type"]]:
        if name == "Subject" and name not in message:
            continue
        lines += (name, message[name])
    return "".join(f"{line}\n" for line in lines).encode("utf-8")


class SnsCertificates:
    """The signing certificates of SNS by URL, fetched through ``fetcher`` the first time each
    is needed and kept (the ``capacity`` most recently used). One fetch at a time: a burst of
    messages naming certificates we do not hold costs one request to AWS after another, never
    a flood."""

    def __init__(self, fetcher: CertificateFetcher, capacity: int = 16) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._fetcher = fetcher
        self._capacity = capacity
        self._kept: OrderedDict[str, x509.Certificate] = OrderedDict()
        self._fetching = asyncio.Lock()

    async def key(self, url: str, now: datetime) -> RSAPublicKey:
        """The RSA key of the certificate at ``url`` (an SNS certificate URL), if it is valid
        at ``now``. ``EventNotAuthentic`` for a URL off SNS, an expired certificate or a weak
        key; ``ProviderUnavailable`` when it cannot be had."""
        try:
            check_certificate_url(url)
        except ValueError as exc:
            raise EventNotAuthentic(str(exc)) from None
        certificate = self._kept.get(url)
        if certificate is None:
            async with self._fetching:
                certificate = self._kept.get(url) or await self._fetch(url)
        self._kept.move_to_end(url)
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise EventNotAuthentic("the signing certificate is not valid now")
        key = certificate.public_key()
        if not isinstance(key, RSAPublicKey) or key.key_size < MIN_KEY_BITS:
            raise EventNotAuthentic(
                f"the signing certificate has no RSA key of {MIN_KEY_BITS}+ bits"
            )
        return key

    def __len__(self) -> int:
        return len(self._kept)

    async def _fetch(self, url: str) -> x509.Certificate:
        pem = await self._fetcher.fetch(url)
        try:
            certificate = x509.load_pem_x509_certificate(pem)
        except ValueError:
            raise ProviderUnavailable(
                "the SigningCertURL did not serve a PEM certificate"
            ) from None
        self._kept[url] = certificate
        while len(self._kept) > self._capacity:
            self._kept.popitem(last=False)
        return certificate


def verify_signature(message: Mapping[str, str], key: RSAPublicKey) -> None:
    """Check ``message["Signature"]`` (base64) is ``key``'s signature of the message's
    canonical string with the digest of its ``SignatureVersion``; ``EventNotAuthentic`` if not."""
    digest = HASHES.get(message["SignatureVersion"])
    if digest is None:
        raise EventNotAuthentic("SignatureVersion is neither 1 nor 2")
    try:
        signature = base64.b64decode(message["Signature"], validate=True)
    except ValueError:  # binascii.Error, or a character outside ASCII
        raise EventNotAuthentic("the Signature is not base64") from None
    try:
        key.verify(signature, canonical_string(message), PKCS1v15(), digest())
    except InvalidSignature:
        raise EventNotAuthentic("the signature does not match the message") from None
