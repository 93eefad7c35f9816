"""Signed delivery events for tests, made as the providers make them.

``SnsSigner`` holds a key and a self-signed certificate of its own (no CA) and signs SNS
messages with it, as SNS does (signature versions 1 and 2); give a receiver its
``fetcher()`` to serve that certificate at an SNS URL. ``standard_webhook_headers`` signs a
body with the ``standardwebhooks`` library's own signer::

    signer = SnsSigner()
    receiver = SesDeliveryEventReceiver(
        topic_arns=[TOPIC], certificates=signer.fetcher(), confirmer=..., clock=clock
    )
    body = signer.body(signer.notification(json.dumps(ses_event), TOPIC, clock.now()))
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode
from uuid import uuid4

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.x509.oid import NameOID
from standardwebhooks import Webhook

from export_resend.adapters.memory import InMemoryCertificateFetcher
from export_resend.adapters.ses.signature import HASHES, canonical_string

_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def self_signed_certificate(
    key: rsa.RSAPrivateKey,
    *,
    not_before: datetime = _EPOCH,
    not_after: datetime = _EPOCH + timedelta(days=365 * 20),
    common_name: str = "sns.amazonaws.com",
) -> bytes:
    """A PEM certificate of ``key``'s public key, signed by ``key`` itself."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


class SnsSigner:
    """Signs SNS messages with a key of its own, whose certificate it serves at
    ``certificate_url`` (``https://sns.<region>.amazonaws.com/SimpleNotificationService-….pem``).
    """

    def __init__(
        self,
        *,
        region: str = "us-east-1",
        key: rsa.RSAPrivateKey | None = None,
        certificate: bytes | None = None,
        host: str | None = None,
    ) -> None:
        self.key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.certificate = certificate or self_signed_certificate(self.key)
        self.host = host or f"sns.{region}.amazonaws.com"
        self.certificate_url = f"https://{self.host}/SimpleNotificationService-{uuid4().hex}.pem"

    def fetcher(self) -> InMemoryCertificateFetcher:
        """A certificate fetcher that serves this signer's certificate at its URL."""
        return InMemoryCertificateFetcher({self.certificate_url: self.certificate})

    def sign(self, message: Mapping[str, str], version: str = "2") -> dict[str, str]:
        """``message`` with ``SignatureVersion``, ``SigningCertURL`` and ``Signature`` set."""
        signature = self.key.sign(canonical_string(message), PKCS1v15(), HASHES[version]())
        return {
            **message,
            "SignatureVersion": version,
            "SigningCertURL": self.certificate_url,
            "Signature": base64.b64encode(signature).decode("ascii"),
        }

    def notification(
        self,
        message: str,
        topic_arn: str,
        timestamp: datetime,
        *,
        subject: str | None = None,
        version: str = "2",
    ) -> dict[str, str]:
        """A signed SNS Notification carrying ``message``."""
        fields = {
            "Type": "Notification",
            "MessageId": str(uuid4()),
            "TopicArn": topic_arn,
            "Message": message,
            "Timestamp": sns_timestamp(timestamp),
            "UnsubscribeURL": f"https://{self.host}/?Action=Unsubscribe&SubscriptionArn="
            f"{topic_arn}:{uuid4()}",
        }
        if subject is not None:
            fields["Subject"] = subject
        return self.sign(fields, version)

    def confirmation(
        self,
        topic_arn: str,
        timestamp: datetime,
        *,
        kind: str = "SubscriptionConfirmation",
        subscribe_url: str | None = None,
        version: str = "2",
    ) -> dict[str, str]:
        """A signed SubscriptionConfirmation (or, with ``kind``, UnsubscribeConfirmation)
        whose SubscribeURL confirms ``topic_arn`` at this signer's host, unless given."""
        token = secrets.token_hex(64)
        query = urlencode({"Action": "ConfirmSubscription", "TopicArn": topic_arn, "Token": token})
        fields = {
            "Type": kind,
            "MessageId": str(uuid4()),
            "Token": token,
            "TopicArn": topic_arn,
            "Message": f"You have chosen to subscribe to the topic {topic_arn}.",
            "SubscribeURL": subscribe_url or f"https://{self.host}/?{query}",
            "Timestamp": sns_timestamp(timestamp),
        }
        return self.sign(fields, version)

    @staticmethod
    def body(message: Mapping[str, str]) -> bytes:
        """The HTTP body SNS posts for ``message``."""
        return json.dumps(message, indent=2).encode("utf-8")


def sns_timestamp(moment: datetime) -> str:
    """``moment`` as SNS writes a Timestamp: ``2026-01-15T09:30:00.000Z``."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def standard_webhook_headers(
    secret: str, body: bytes, timestamp: datetime, webhook_id: str | None = None
) -> dict[str, str]:
    """The ``webhook-*`` headers of ``body`` signed with ``secret`` at ``timestamp``, by the
    ``standardwebhooks`` library."""
    webhook_id = webhook_id or f"msg_{uuid4().hex}"
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": Webhook(secret).sign(webhook_id, timestamp, body),
    }


def new_webhook_secret() -> str:
    """A fresh Standard Webhooks secret: ``whsec_`` and the base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")
