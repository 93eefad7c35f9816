"""A mailer that prints, for the embedded default and for trying the service out."""

from export_resend.adapters.console.mailer import ConsoleMailer

__all__ = ["ConsoleMailer"]
