"""E-mail: IMAP (or a Mailgun-style webhook) in, SMTP out. ``credentials.yml`` key:
``connectors.email.EmailInput``."""

from connectors.email.channel import EmailConfig, EmailInput, EmailOutput

__all__ = ["EmailConfig", "EmailInput", "EmailOutput"]
