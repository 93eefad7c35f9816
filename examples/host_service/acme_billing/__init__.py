"""acme-billing: a host service that embeds export-resend.

It keeps its own users and sessions, its own supplier payouts, its own mail spool and its own
file volume; export-resend is mounted under ``/exports-api`` of its web app, with its tables
in acme's database (``app.py``).
"""
