"""The "your export is ready" email, rendered from templates into one MIME message."""

from __future__ import annotations

import email.policy
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

import jinja2

from export_resend.domain.delivery import Delivery
from export_resend.domain.export import Export
from export_resend.domain.ports import EmailComposer, OutgoingEmail


def default_templates() -> jinja2.Environment:
    """The templates shipped beside this module; HTML is escaped, text is not, nothing
    undefined."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("export_resend.adapters.jinja", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def human_size(size_bytes: int) -> str:
    """``1536`` → ``1.5 KB``: decimal units, one decimal place past bytes."""
    size = float(size_bytes)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size_bytes} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def _transfer_encoding(body: str) -> str:
    # 7bit keeps the link readable and clickable in any client; QP only when it must.
    fits = body.isascii() and all(len(line) <= 998 for line in body.splitlines())
    return "7bit" if fits else "quoted-printable"


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


class JinjaEmailComposer(EmailComposer):
    """Build the email of one delivery: headers from validated data only, body from templates.

    The subject and bodies are filled with the export's type, dates, row count, size and the
    download link given. No text a user typed reaches a header, except the addresses, which
    were validated before they were queued.
    """

    def __init__(self, *, sender: str, templates: jinja2.Environment) -> None:
        self._sender = sender
        self._templates = templates

    def compose(
        self, export: Export, delivery: Delivery, link: str, now: datetime
    ) -> OutgoingEmail:
        """The message for ``delivery``, dated ``now``, carrying ``link``, with its stored
        Message-ID."""
        file = export.file
        context = {
            "export_id": str(export.id),
            "export_type": export.type.label,
            "requested_at": _when(export.requested_at),
            "ready_at": _when(export.ready_at),
            "expires_at": _when(export.expires_at),
            "row_count": "-" if file is None else f"{file.row_count:,}",
            "size": "-" if file is None else human_size(file.size_bytes),
            "link": link,
        }
        subject = " ".join(
            self._templates.get_template("export_ready.subject.txt").render(context).split()
        )
        recipients = delivery.recipients
        message = EmailMessage(policy=email.policy.SMTP)
        message["From"] = self._sender
        message["To"] = recipients.to
        if recipients.cc:
            message["Cc"] = ", ".join(recipients.cc)
        message["Subject"] = subject
        message["Date"] = format_datetime(now)
        message["Message-ID"] = delivery.message_id
        message["Auto-Submitted"] = "auto-generated"
        text = self._templates.get_template("export_ready.txt").render(context)
        html = self._templates.get_template("export_ready.html").render(context)
        message.set_content(text, cte=_transfer_encoding(text))
        message.add_alternative(html, subtype="html", cte=_transfer_encoding(html))
        return OutgoingEmail(self._sender, recipients.envelope, message)
