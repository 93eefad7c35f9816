"""The delivery benchmark's peers: bare aiosmtplib senders, each run as its own process.

    python -m bench.smtp_peer --port 2525 --mode raw --connections 1 --messages 2000

What a Python sender does at best with the same message the service sends (a
multipart/alternative "your export is ready" email, text and HTML, a signed download link,
To + 2 Cc, ~2.4 KB) and the same SMTP commands (MAIL FROM with BODY=8BITMIME, one RCPT per
recipient, DATA), on connections opened once and reused:

- ``--mode raw``: each message built from a raw template (``str.format`` of the headers and
  both parts, a fresh Message-ID, Date, boundary and HMAC-signed link), sent with
  ``mail``/``rcpt``/``data``;
- ``--mode email``: each message an ``email.message.EmailMessage`` built the usual way
  (headers, ``set_content``, ``add_alternative``), sent with ``send_message``.

``--connections`` share the messages, concurrently. After ``--warmup`` messages per
connection it prints ``WARM`` and waits for a line on stdin (the benchmark resets the
sink's counters meanwhile), then sends ``--messages`` and prints ``BENCH-JSON`` with the
wall and CPU seconds of that part.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import sys
import time
import uuid
from email.message import EmailMessage
from email.utils import formatdate

from aiosmtplib import SMTP

MODES = ("raw", "email")
MAIL_FROM = "exports@bench.example.com"
OWNER = "olivia@bench.example.com"
SECRET = b"bench-only-link-secret"
SUBJECT = "Your transaction events export is ready"
TEXT = """Hello,

Your transaction events export is ready to download.

  Requested:   2026-12-07 21:55 UTC
  Ready:       2026-12-07 21:58 UTC
  Rows:        4,321
  Size:        1.2 MB

Download it here (the link works until 2026-12-14 21:58 UTC):

  {link}

Anyone with this link can download the file: do not forward it.

This message was sent automatically; replies are not read.
Export {export_id}
"""
HTML = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Your transaction events export is ready</title></head>
<body style="font-family: sans-serif; line-height: 1.4;">
<p>Hello,</p>
<p>Your <strong>transaction events</strong> export is ready to download.</p>
<table cellpadding="4">
  <tr><td>Requested</td><td>2026-12-07 21:55 UTC</td></tr>
  <tr><td>Ready</td><td>2026-12-07 21:58 UTC</td></tr>
  <tr><td>Rows</td><td>4,321</td></tr>
  <tr><td>Size</td><td>1.2 MB</td></tr>
</table>
<p><a href="{link}">Download the file</a> (the link works until 2026-12-14 21:58 UTC).</p>
<p>Anyone with this link can download the file: do not forward it.</p>
<p style="color: #666; font-size: smaller;">This message was sent automatically; replies \
are not read.<br>
Export {export_id}</p>
</body>
</html>
"""
RAW = (
    "From: {sender}\r\nTo: {to}\r\nCc: {cc}\r\nSubject: {subject}\r\nDate: {date}\r\n"
    "Message-ID: {message_id}\r\nAuto-Submitted: auto-generated\r\nMIME-Version: 1.0\r\n"
    'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n\r\n'
    "--{boundary}\r\n"
    'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n'
    "{text}\r\n"
    "--{boundary}\r\n"
    'Content-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n'
    "{html}\r\n"
    "--{boundary}--\r\n"
)


def _link(export_id: str) -> str:
    payload = base64.urlsafe_b64encode(json.dumps([export_id]).encode()).rstrip(b"=")
    signature = base64.urlsafe_b64encode(hmac.new(SECRET, payload, hashlib.sha256).digest())
    token = f"{payload.decode()}.{signature.rstrip(b'=').decode()}"
    return f"http://127.0.0.1:8000/v1/exports/{export_id}/download?token={token}"


def recipients(index: int) -> tuple[str, ...]:
    """To the owner, CC two others."""
    return (OWNER, f"finance{index}@bench.example.com", f"audit{index}@bench.example.com")


def raw_message(index: int) -> bytes:
    export_id = str(uuid.uuid4())
    link = _link(export_id)
    to, *cc = recipients(index)
    text = TEXT.format(link=link, export_id=export_id).replace("\n", "\r\n")
    html = HTML.format(link=link, export_id=export_id).replace("\n", "\r\n")
    return RAW.format(
        sender=MAIL_FROM,
        to=to,
        cc=", ".join(cc),
        subject=SUBJECT,
        date=formatdate(),
        message_id=f"<{uuid.uuid4().hex}@bench.example.com>",
        boundary=f"=============={uuid.uuid4().int:020d}==",
        text=text,
        html=html,
    ).encode()


def email_message(index: int) -> EmailMessage:
    export_id = str(uuid.uuid4())
    link = _link(export_id)
    to, *cc = recipients(index)
    message = EmailMessage()
    message["From"] = MAIL_FROM
    message["To"] = to
    message["Cc"] = ", ".join(cc)
    message["Subject"] = SUBJECT
    message["Date"] = formatdate()
    message["Message-ID"] = f"<{uuid.uuid4().hex}@bench.example.com>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(TEXT.format(link=link, export_id=export_id))
    message.add_alternative(HTML.format(link=link, export_id=export_id), subtype="html")
    return message


async def _send(smtp: SMTP, mode: str, first: int, count: int) -> None:
    options = ["BODY=8BITMIME"] if smtp.supports_extension("8bitmime") else []
    for index in range(first, first + count):
        if mode == "email":
            await smtp.send_message(email_message(index))
            continue
        await smtp.mail(MAIL_FROM, options=options)
        for address in recipients(index):
            await smtp.rcpt(address)
        await smtp.data(raw_message(index))


async def run(args: argparse.Namespace) -> dict[str, float]:
    clients = [
        SMTP(hostname=args.host, port=args.port, start_tls=False, timeout=30)
        for _ in range(args.connections)
    ]
    try:
        for smtp in clients:
            await smtp.connect()
            if smtp.is_ehlo_or_helo_needed:
                await smtp.ehlo()
        await asyncio.gather(*(_send(c, args.mode, 0, args.warmup) for c in clients))
        print("WARM", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        total, k = args.messages, args.connections
        shares = [total // k + (i < total % k) for i in range(k)]
        starts = [sum(shares[:i]) for i in range(k)]
        wall, cpu = time.monotonic(), time.process_time()
        await asyncio.gather(
            *(
                _send(client, args.mode, start, share)
                for client, start, share in zip(clients, starts, shares, strict=True)
            )
        )
        return {
            "messages": total,
            "seconds": time.monotonic() - wall,
            "cpu_s": time.process_time() - cpu,
            "started": wall,
        }
    finally:
        for smtp in clients:
            if smtp.is_connected:
                await smtp.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=MODES, default="raw")
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=50, help="messages per connection")
    args = parser.parse_args()
    print("BENCH-JSON " + json.dumps(asyncio.run(run(args))), flush=True)


if __name__ == "__main__":
    main()
