"""Sending e-mail through the SMTP server of the settings (nothing is sent without one)."""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage

from lti_tool.config import MailSettings


class MailError(Exception):
    """The SMTP server refused or could not be reached; ``temporary`` suggests a retry."""

    def __init__(self, message: str, *, temporary: bool) -> None:
        super().__init__(message)
        self.temporary = temporary


def mail_enabled(settings: MailSettings) -> bool:
    return bool(settings.host)


# One bare address (local@domain): no display name, no list, no spaces or line breaks.
_ATOM = r'[^@\s,;:<>()\[\]\\"]+'
_ADDRESS = re.compile(f"{_ATOM}@{_ATOM}")


def single_address(value: str | None) -> str | None:
    """``value`` when it is one plain e-mail address, else None. An address from an LMS may
    hold anything: "a@x.org, b@y.org" in a To header would send one member's e-mail to both."""
    if not value:
        return None
    value = value.strip()
    return value if _ADDRESS.fullmatch(value) else None


def send_mail(
    settings: MailSettings,
    to: str,
    subject: str,
    text: str,
    headers: Mapping[str, str] | None = None,
) -> None:
    """Send one plain-text message (with extra ``headers``); raises MailError."""
    if not settings.host:
        raise MailError("no SMTP_HOST configured", temporary=False)
    if single_address(to) is None:
        raise MailError("the recipient is not one e-mail address", temporary=False)
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = to.strip()
    # One line: a course title from an LMS may hold line breaks, which a header may not.
    message["Subject"] = " ".join(subject.split())
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text)
    try:
        with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.username and settings.password:
                smtp.login(settings.username, settings.password)
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        raise MailError(f"recipient refused: {exc.recipients}", temporary=False) from exc
    except smtplib.SMTPNotSupportedError as exc:  # an address in Unicode, a server without it
        raise MailError(f"not supported by the SMTP server: {exc}", temporary=False) from exc
    except smtplib.SMTPResponseException as exc:
        raise MailError(
            f"SMTP {exc.smtp_code}", temporary=exc.smtp_code >= 400 and exc.smtp_code < 500
        ) from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"SMTP server unreachable: {exc}", temporary=True) from exc
