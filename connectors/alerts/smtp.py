"""E-mail over SMTP: `email.message.EmailMessage` (UTF-8 text, so Japanese needs no
encoding by hand) sent with `smtplib`, over STARTTLS (port 587, RFC 3207), implicit TLS
(port 465, RFC 8314) or plain (a relay on the same host).

Replies map to outcomes by RFC 5321's reply classes: 4yz is a transient failure (retried),
5yz a permanent one (the alert is dead), as is a refused login (535). A dropped connection or
a timeout is transient. The Message-ID is derived from the outbox key, so a resend after a
crash carries the same id and mail systems that drop duplicate Message-IDs drop it.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Literal

from connectors.alerts.message import Alert, AlertText
from core.errors import FatalAPIError, RetriableAPIError
from core.retry import RetryPolicy, call_with_retry

Security = Literal["starttls", "ssl", "none"]


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    security: Security
    sender: str
    recipients: tuple[str, ...]
    username: str | None = None
    password: str | None = None  # never logged, never in an error
    ca_file: str | None = None


def message_id(key: str) -> str:
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@lead-scoring-connector.invalid>"


def build_email(
    alert: Alert, text: AlertText, sender: str, recipients: Sequence[str]
) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = text.title
    mail["From"] = sender
    mail["To"] = ", ".join(recipients)
    mail["Message-ID"] = message_id(alert.key)
    mail["Date"] = format_datetime(alert.qualified_at)
    mail["X-Connector-Alert-Key"] = alert.key
    mail.set_content(text.plain(alert.record_url))
    return mail


def _classify(exc: Exception) -> Exception:
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return FatalAPIError(f"email: login refused ({exc.smtp_code})", status=exc.smtp_code)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in exc.recipients.values()})
        if all(400 <= c < 500 for c in codes):
            return RetriableAPIError(f"email: recipients deferred {codes}")
        return FatalAPIError(f"email: recipients refused {codes}")
    if isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
        if 400 <= code < 500:
            return RetriableAPIError(f"email: server answered {code}", status=code)
        return FatalAPIError(f"email: server answered {code}", status=code)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return FatalAPIError("email: the server does not offer STARTTLS or AUTH as configured")
    if isinstance(exc, ssl.SSLError):
        return FatalAPIError(f"email: TLS failed ({exc.reason or type(exc).__name__})")
    return RetriableAPIError(f"email: connection failed ({type(exc).__name__})")


class EmailChannel:
    name = "email"

    def __init__(
        self,
        target: SmtpTarget,
        timeout: float,
        policy: RetryPolicy,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._target = target
        self._timeout = timeout
        self._policy = policy
        self._sleep = sleep

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self._target.ca_file)

    def _deliver(self, mail: EmailMessage) -> None:
        t = self._target
        client: smtplib.SMTP
        if t.security == "ssl":
            client = smtplib.SMTP_SSL(t.host, t.port, timeout=self._timeout,
                                      context=self._context())
        else:
            client = smtplib.SMTP(t.host, t.port, timeout=self._timeout)
        with client:
            if t.security == "starttls":
                client.starttls(context=self._context())
            if t.username and t.password is not None:
                client.login(t.username, t.password)
            client.send_message(mail, from_addr=t.sender, to_addrs=list(t.recipients))

    def send(self, alert: Alert, text: AlertText) -> None:
        mail = build_email(alert, text, self._target.sender, self._target.recipients)

        def once() -> None:
            try:
                self._deliver(mail)
            except (TimeoutError, smtplib.SMTPException, OSError) as exc:
                raise _classify(exc) from None

        if self._sleep is None:
            call_with_retry(once, self._policy)
        else:
            call_with_retry(once, self._policy, sleep=self._sleep)
