"""A mailer that hands each email to an SMTP relay (aiosmtplib)."""

from export_resend.adapters.smtp.mailer import SmtpMailer, SmtpTls

__all__ = ["SmtpMailer", "SmtpTls"]
