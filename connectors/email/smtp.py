"""SMTP out: every reply is kept in the outbox before the first attempt and retried with backoff
until the server takes it, so a wrong password or an unreachable server never loses a reply.

smtplib is blocking: each attempt runs in a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import smtplib
import ssl
from dataclasses import dataclass
from datetime import timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from connectors.core.inbox import Inbox, OutboundRecord
from connectors.email.mailbox import MailboxStore, PendingEmail
from misybot.db.types import utc_now
from misybot.enums import Channel, DeliveryStatus

logger = logging.getLogger(__name__)

SECURITY_MODES = ("starttls", "ssl", "none")


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to hand replies over."""

    host: str
    port: int
    security: str = "starttls"  # "starttls", "ssl" (implicit TLS, port 465) or "none"
    user: str | None = None
    password: str | None = None
    ca_file: str | None = None  # a private CA or self-signed server certificate
    timeout_s: float = 30.0

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)


class PermanentSmtpError(Exception):
    """The server refused the message itself (5xx for every recipient): retrying cannot help."""


def smtp_send(settings: SmtpSettings, sender: str, recipients: list[str], raw: bytes) -> None:
    """Hand one message to the SMTP server (blocking). Raises on any failure."""
    if settings.security == "ssl":
        client = smtplib.SMTP_SSL(
            settings.host, settings.port, timeout=settings.timeout_s, context=settings.tls_context()
        )
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s)
    with client:
        client.ehlo()
        if settings.security == "starttls":
            client.starttls(context=settings.tls_context())
            client.ehlo()
        if settings.user:
            client.login(settings.user, settings.password or "")
        try:
            client.sendmail(sender, recipients, raw)
        except smtplib.SMTPRecipientsRefused as error:
            codes = {code for code, _ in error.recipients.values()}
            if all(code >= 500 for code in codes):
                raise PermanentSmtpError(f"recipients refused: {error.recipients}") from error
            raise
        except smtplib.SMTPDataError as error:
            if error.smtp_code >= 500:
                raise PermanentSmtpError(f"message refused: {error.smtp_code} {error}") from error
            raise


def describe_error(error: BaseException) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        text = (
            error.smtp_error.decode(errors="replace")
            if isinstance(error.smtp_error, bytes)
            else str(error.smtp_error)
        )
        return f"{type(error).__name__}: {error.smtp_code} {text}"
    return f"{type(error).__name__}: {error}"


class SmtpOutbox:
    """Sends composed replies through SMTP; what fails stays pending and is retried with
    exponential backoff (``backoff_s`` doubling up to ``backoff_max_s``), also after a restart."""

    def __init__(
        self,
        settings: SmtpSettings,
        envelope_from: str,
        store: MailboxStore,
        inbox: Inbox,
        *,
        backoff_s: float = 5.0,
        backoff_max_s: float = 1800.0,
        max_attempts: int = 20,
    ) -> None:
        self.settings = settings
        self.envelope_from = envelope_from
        self.store = store
        self.inbox = inbox
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.max_attempts = max(1, max_attempts)
        self._in_flight: set[int] = set()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None  # the retry loop's (``run``)

    def retry_delay(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self.backoff_max_s, self.backoff_s * 2 ** (attempts - 1)))

    async def submit(
        self,
        message: EmailMessage,
        *,
        recipient: str,
        body: str,
        conversation_message_id: int | None,
    ) -> bool:
        """Keep ``message`` in the outbox, then try to send it now; True when it was accepted."""
        raw = bytes(message)
        outbox_id = await asyncio.to_thread(
            self.store.enqueue,
            message_id=str(message["Message-ID"]),
            recipient=recipient,
            body=body,
            raw=raw,
            conversation_message_id=conversation_message_id,
        )
        pending = PendingEmail(
            outbox_id, str(message["Message-ID"]), recipient, raw, 0, conversation_message_id
        )
        return await self._attempt(pending)

    async def _attempt(self, pending: PendingEmail) -> bool:
        if pending.id in self._in_flight:
            return False
        self._in_flight.add(pending.id)
        attempts = pending.attempts + 1
        try:
            try:
                await asyncio.to_thread(
                    smtp_send, self.settings, self.envelope_from, [pending.recipient], pending.raw
                )
            except (smtplib.SMTPException, OSError, PermanentSmtpError) as error:
                await self._failed(pending, attempts, error)
                return False
            await asyncio.to_thread(self.store.mark_sent, pending.id, attempts)
            await self._record(pending, attempts, DeliveryStatus.SENT)
            logger.info(
                "email.smtp.sent message_id=%s to=%s attempts=%d",
                pending.message_id,
                pending.recipient,
                attempts,
            )
            return True
        finally:
            self._in_flight.discard(pending.id)

    async def _failed(self, pending: PendingEmail, attempts: int, error: BaseException) -> None:
        reason = describe_error(error)
        give_up = isinstance(error, PermanentSmtpError) or attempts >= self.max_attempts
        retry_in = None if give_up else self.retry_delay(attempts)
        await asyncio.to_thread(
            self.store.mark_failed_attempt, pending.id, attempts, reason, retry_in
        )
        if give_up:
            logger.error(
                "email.smtp.gave_up message_id=%s to=%s attempts=%d error=%s",
                pending.message_id,
                pending.recipient,
                attempts,
                reason,
            )
            code = str(getattr(error, "smtp_code", "") or type(error).__name__)
            await self._record(pending, attempts, DeliveryStatus.FAILED, code[:32], reason)
            return
        logger.error(
            "email.smtp.failed message_id=%s to=%s attempt=%d retry_in_s=%.0f error=%s",
            pending.message_id,
            pending.recipient,
            attempts,
            retry_in.total_seconds(),
            reason,
        )
        self._wake_retry_loop()  # it recomputes when the next attempt is due

    def _wake_retry_loop(self) -> None:
        """Set ``_wake`` on the retry loop's own loop: a failed send is usually a turn's, on the
        turn loop's thread, and an asyncio event set from another thread does not wake its loop
        (the retry then waited for ``idle_s``)."""
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # that loop has closed
            loop.call_soon_threadsafe(self._wake.set)

    async def _record(
        self,
        pending: PendingEmail,
        attempts: int,
        status: DeliveryStatus,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> None:
        """The final outcome in ``outbound_messages``, like every channel's sends."""
        text, files = _summary(pending.raw)
        await asyncio.to_thread(
            self.inbox.record_outbound,
            OutboundRecord(
                channel=Channel.EMAIL,
                recipient=pending.recipient,
                body=text,
                status=status,
                attempts=attempts,
                provider_message_id=pending.message_id[:128],
                media=files or None,
                conversation_message_id=pending.conversation_message_id,
                error_code=error_code,
                error_message=error_message,
            ),
        )

    async def run(self, stop: asyncio.Event, idle_s: float = 60.0) -> None:
        """Retry due replies until ``stop``: right away at start (replies kept over a restart),
        then whenever the earliest pending reply is due."""
        self._loop = asyncio.get_running_loop()
        while not stop.is_set():
            try:
                for pending in await asyncio.to_thread(self.store.due):
                    if stop.is_set():
                        return
                    await self._attempt(pending)
                next_due = await asyncio.to_thread(self.store.next_due_at)
            except Exception:  # the database may be briefly unavailable: keep the loop alive
                logger.exception("email.outbox.retry_failed")
                next_due = None
            wait = idle_s
            if next_due is not None:
                wait = max(0.05, min(idle_s, (next_due - utc_now()).total_seconds()))
            self._wake.clear()
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()


def _summary(raw: bytes) -> tuple[str, list[str]]:
    """The text/plain part and the attachment names of a composed message."""
    message = BytesParser(policy=policy.default).parsebytes(raw)
    part = message.get_body(preferencelist=("plain",))
    text = part.get_content().strip() if part is not None else ""
    return text, [a.get_filename() or a.get_content_type() for a in message.iter_attachments()]
