"""The Jinja2 email: headers from validated data only, the signed link given, both
alternatives."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from export_resend.adapters.jinja import JinjaEmailComposer, default_templates
from export_resend.adapters.jinja.composer import human_size
from export_resend.adapters.signing import ItsdangerousDownloadLinks
from export_resend.domain.delivery import Delivery, DeliveryKind
from export_resend.domain.export import ExportType
from export_resend.domain.recipients import Recipients
from tests.conftest import LINK_SECRET
from tests.factories import EMAIL_HEADERS, NOW, caller, export

OLIVIA = caller("olivia", "acme")
LINKS = ItsdangerousDownloadLinks(
    secret=LINK_SECRET, public_base_url="https://exports.example.com/"
)
COMPOSER = JinjaEmailComposer(sender="exports@example.com", templates=default_templates())


def _compose(cc: tuple[str, ...] = ("a@x.io", "b@x.io")) -> tuple[EmailMessage, Delivery]:
    target = export(OLIVIA, export_type=ExportType.SUPPLIER_PAYOUTS)
    delivery = Delivery.queue(
        target.id, DeliveryKind.RESEND, Recipients(OLIVIA.email, cc), NOW, "example.com"
    )
    return COMPOSER.compose(target, delivery, LINKS.url_for(target), NOW).message, delivery


def _part(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert isinstance(part, EmailMessage)
    content = part.get_content()
    assert isinstance(content, str)
    return content


def test_headers_are_exactly_the_expected_set() -> None:
    message, delivery = _compose()
    assert list(message.keys()) == list(EMAIL_HEADERS)
    assert message["From"] == "exports@example.com"
    assert message["To"] == OLIVIA.email
    assert message["Cc"] == "a@x.io, b@x.io"
    assert message["Subject"] == "Your supplier payouts export is ready"
    assert message["Message-ID"] == delivery.message_id
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Date"] == "Thu, 15 Jan 2026 09:30:00 +0000"


def test_no_cc_header_without_cc() -> None:
    message, _ = _compose(cc=())
    assert "Cc" not in message


def test_plain_text_and_html_carry_the_facts_and_a_working_link() -> None:
    message, _ = _compose()
    assert message.get_content_type() == "multipart/alternative"
    assert not any(part.is_attachment() for part in message.iter_parts())
    text, html = _part(message, "plain"), _part(message, "html")
    for body in (text, html):
        assert "supplier payouts" in body
        assert "4,321" in body
        assert "1.2 MB" in body
        assert "2026-01-22 08:30 UTC" in body  # expires_at: ready an hour ago + 7 days
    [link] = [word for word in text.split() if word.startswith("https://")]
    target_id = link.split("/v1/exports/")[1].split("/")[0]
    assert link.startswith(f"https://exports.example.com/v1/exports/{target_id}/download?token=")
    assert str(LINKS.export_id(link.split("token=")[1])) == target_id
    assert f'href="{link}"' in html


def test_the_message_survives_the_wire_unchanged() -> None:
    message, _ = _compose()
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    assert dict(parsed.items()) == dict(message.items())
    assert all(len(line) <= 998 for line in message.as_bytes().split(b"\r\n"))


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 bytes"),
        (999, "999 bytes"),
        (1_000, "1.0 KB"),
        (1_234_567, "1.2 MB"),
        (5 * 10**12, "5000.0 GB"),
    ],
)
def test_sizes_read_like_people_write_them(size: int, text: str) -> None:
    assert human_size(size) == text
