"""The ``email`` input channel: IMAP poller and signed Mailgun-style webhook in, SMTP out.

Both ways in end in the channel core (``ChannelRuntime.accept``): stored before anything else,
deduplicated on the Message-ID, processed in order per sender. Each turn's messages go out as one
threaded reply (text + HTML, report files attached) through the SMTP outbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors.core import notices
from connectors.core.inbox import Inbox, StoredMessage, is_outage
from connectors.core.media import report_file
from connectors.core.messages import InboundMessage
from connectors.core.output import InboxOutput
from connectors.core.runtime import ChannelRuntime
from connectors.core.sanitize import MAX_NAME_CHARS, bounded_json, clean_text
from connectors.core.settings import ChannelTuning, provider_secrets
from connectors.email.compose import (
    Thread,
    compose_reply,
    mention_attachments,
    references_for,
    report_files,
)
from connectors.email.imap import ImapPoller, ImapSettings
from connectors.email.mailbox import MailboxStore
from connectors.email.mailgun import WebhookRefused, form_to_message, verify_mailgun
from connectors.email.parsing import ParsedEmail, parse_email, parse_message, reply_subject
from connectors.email.smtp import SECURITY_MODES, SmtpOutbox, SmtpSettings
from misybot.db.types import utc_now
from misybot.enums import Channel
from misybot.settings import get_settings

logger = logging.getLogger(__name__)

CHANNEL_NAME = "email"
IMAP_PORTS = {"ssl": 993, "starttls": 143, "none": 143}
SMTP_PORTS = {"ssl": 465, "starttls": 587, "none": 25}
FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}
EMAIL_TUNING = {"send_attempts": 20, "send_backoff_s": 5.0, "max_body_bytes": 25 * 1024 * 1024}
MAX_TEXT_CHARS = 4000  # what is read of a mail's new text (a command is a sentence or two)
MAX_REFERENCES = 20  # thread ids, recipients, attachment names kept per mail
TRUNCATED_NOTE = (
    "_(I read the first {limit:,} characters of your mail; send anything after that in a new"
    " mail.)_"
)


@dataclass
class EmailConfig:
    """The mailbox, the SMTP server and the webhook key (passwords from the environment)."""

    address: str
    display_name: str | None = "MisyBot"
    imap: ImapSettings | None = None
    smtp: SmtpSettings | None = None
    mailgun_signing_key: str | None = None
    webhook_max_age_s: float = 900.0
    reports_dir: Path = Path("var/reports")
    # SMTP sends are retried for longer than an API call: send_attempts 20 from send_backoff_s
    # 5 s, doubling up to send_backoff_max_s. Mailgun forwards attachments up to 25 MB.
    tuning: ChannelTuning = field(default_factory=lambda: ChannelTuning(**EMAIL_TUNING))
    send_backoff_max_s: float = 1800.0
    push_delay_s: float = 1.0  # results pushed later: messages this close together share a mail

    @classmethod
    def from_credentials(cls, credentials: Mapping[str, Any] | None) -> EmailConfig:
        c = dict(credentials or {})
        env = provider_secrets()
        address = str(c.get("address") or "").strip().lower()
        imap = None
        if c.get("imap_host"):
            security = _security(c.get("imap_security") or "ssl", ("ssl", "starttls", "none"))
            imap = ImapSettings(
                host=str(c["imap_host"]),
                port=int(c.get("imap_port") or IMAP_PORTS[security]),
                user=str(c.get("imap_user") or address),
                password=env.email_imap_password or str(c.get("imap_password") or ""),
                security=security,
                folder=str(c.get("imap_folder") or "INBOX"),
                ca_file=c.get("ca_file") or None,
                use_idle=_flag(c.get("imap_idle", True)),
                poll_interval_s=float(c.get("poll_interval_s") or 60.0),
                idle_refresh_s=float(c.get("idle_refresh_s") or 600.0),
            )
        smtp = None
        if c.get("smtp_host"):
            security = _security(c.get("smtp_security") or "starttls", SECURITY_MODES)
            smtp = SmtpSettings(
                host=str(c["smtp_host"]),
                port=int(c.get("smtp_port") or SMTP_PORTS[security]),
                security=security,
                user=(str(c["smtp_user"]) if c.get("smtp_user") else address) or None,
                password=env.email_smtp_password or str(c.get("smtp_password") or "") or None,
                ca_file=c.get("ca_file") or None,
                timeout_s=float(c.get("smtp_timeout_s") or 30.0),
            )
        config = cls(
            address=address,
            display_name=c.get("display_name", "MisyBot") or None,
            imap=imap,
            smtp=smtp,
            mailgun_signing_key=env.mailgun_signing_key or c.get("mailgun_signing_key") or None,
            webhook_max_age_s=float(c.get("webhook_max_age_s") or 900.0),
            reports_dir=get_settings().reports_dir,
            tuning=ChannelTuning.resolve(c, **EMAIL_TUNING),
            send_backoff_max_s=float(c.get("send_backoff_max_s") or 1800.0),
            push_delay_s=float(c.get("push_delay_s") or 1.0),
        )
        if missing := config.missing():
            logger.warning("email.not_configured missing=%s", ",".join(missing))
        return config

    def missing(self) -> list[str]:
        """What is still needed before mail can be read and answered."""
        needed = {
            "address": "@" in self.address,
            "smtp_host": self.smtp is not None,
            "imap_host or mailgun_signing_key (MAILGUN_SIGNING_KEY)": self.imap is not None
            or bool(self.mailgun_signing_key),
        }
        return [name for name, present in needed.items() if not present]


def _security(value: str, allowed: tuple[str, ...]) -> str:
    value = str(value).strip().lower()
    value = {"tls": "ssl", "implicit_tls": "ssl"}.get(value, value)  # "tls" means implicit TLS
    if value not in allowed:
        raise ValueError(f"email: security must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _flag(value: Any) -> bool:
    return str(value).strip().lower() not in {"false", "no", "0", "off"}


def inbound_message(parsed: ParsedEmail, source: str) -> InboundMessage:
    """A parsed mail as the channel core's message (threading details kept in ``raw``): its
    first ``MAX_TEXT_CHARS`` characters are read, and the reply says so when there was more."""
    text = clean_text(parsed.text, MAX_TEXT_CHARS + 1)
    truncated = len(text) > MAX_TEXT_CHARS
    return InboundMessage(
        channel=Channel.EMAIL,
        transport=CHANNEL_NAME,
        sender=parsed.sender,
        address=parsed.sender,
        provider_message_id=parsed.provider_id,
        received_at=utc_now(),
        text=text[:MAX_TEXT_CHARS].strip(),
        profile_name=clean_text(parsed.sender_name, MAX_NAME_CHARS) or None,
        raw=bounded_json(
            {
                "source": source,
                "message_id": parsed.message_id,
                "subject": parsed.subject,
                "in_reply_to": parsed.in_reply_to,
                "references": list(parsed.references[-MAX_REFERENCES:]),
                "date": parsed.date,
                "to": list(parsed.to[:MAX_REFERENCES]),
                "attachments": list(parsed.attachments[:MAX_REFERENCES]),
                "truncated": truncated,
            }
        ),
    )


class EmailOutput(InboxOutput):
    """Collects a turn's messages and sends them as one threaded reply (the SMTP outbox records
    it once the server took it)."""

    identity_channel = Channel.EMAIL

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    def __init__(self, channel: EmailInput, stored: StoredMessage | None = None) -> None:
        super().__init__(channel.inbox, stored)
        self.channel = channel
        self.parts: list[str] = []
        self.files: list[str] = []  # report paths to attach, checked when the mail is built
        self._in_turn = False
        self._pending_flush: asyncio.Task | None = None

    def begin_turn(self) -> None:
        """Hold everything until ``flush`` (called when the turn is over)."""
        self._in_turn = True

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        self._add(recipient_id, text)

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        if await self._attach_link(recipient_id, image):
            return
        self._add(recipient_id, f"[{image}]({image})")

    async def _attach_link(self, recipient_id: str, url: str) -> bool:
        """One of our report links becomes the file itself, attached (mail takes files)."""
        found = await report_file(url)
        if found is None:
            return False
        self.files.append(os.path.relpath(found.path))  # checked like a path a reply names
        self._add(recipient_id, "")
        return True

    async def send_attachment(self, recipient_id: str, attachment: str, **kwargs: Any) -> None:
        """A report file (its link or its path) is attached when it is the user's company's;
        anything else is shown."""
        if await self._attach_link(recipient_id, attachment.strip()):
            return
        if attachment.strip().endswith((".csv", ".png")) and "\n" not in attachment.strip():
            self.files.append(attachment.strip())
            self._add(recipient_id, "")
        else:
            self._add(recipient_id, attachment)

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        """``{"text": "…", "attachments": ["var/reports/…csv"]}``; other JSON is shown as is."""
        if "text" in json_message or "attachments" in json_message:
            for path in json_message.get("attachments") or ():
                await self.send_attachment(recipient_id, str(path))
            self._add(recipient_id, str(json_message.get("text") or ""))
        else:
            self._add(recipient_id, json.dumps(json_message, indent=2))

    def _add(self, recipient_id: str, text: str) -> None:
        if text.strip():
            self.parts.append(text.strip())
        if not self._in_turn:  # pushed outside a turn: send once the burst is over
            if self._pending_flush is not None:
                self._pending_flush.cancel()
            self._pending_flush = asyncio.ensure_future(self._flush_later(recipient_id))

    async def _flush_later(self, recipient_id: str) -> None:
        await asyncio.sleep(self.channel.config.push_delay_s)
        self._pending_flush = None
        try:
            await self.flush(recipient_id)
        except Exception:
            logger.exception("email.push.failed to=%s", recipient_id)

    async def flush(self, recipient_id: str) -> bool:
        """Send what was collected as one mail (kept and retried if SMTP fails)."""
        recipient_id = await self.recipient(recipient_id)
        if self._pending_flush is not None:
            self._pending_flush.cancel()
            self._pending_flush = None
        if not self.parts and not self.files:
            return False
        parts, files = self.parts, self.files
        self.parts, self.files = [], []
        if self.stored is not None and self.stored.message.raw.get("truncated") and parts:
            parts.append(TRUNCATED_NOTE.format(limit=MAX_TEXT_CHARS))
        return await self.channel.send_reply(recipient_id, parts, files, self.stored, self)


class EmailInput(InputChannel):
    """The ``email`` input channel."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        return cls(EmailConfig.from_credentials(credentials))

    def __init__(
        self,
        config: EmailConfig,
        inbox: Inbox | None = None,
        store: MailboxStore | None = None,
    ) -> None:
        self.config = config
        self.inbox = inbox or Inbox()
        self.store = store or MailboxStore(inbox.factory if inbox else None)
        self.outbox = (
            SmtpOutbox(
                config.smtp,
                config.address,
                self.store,
                self.inbox,
                backoff_s=config.tuning.send_backoff_s,
                backoff_max_s=config.send_backoff_max_s,
                max_attempts=config.tuning.send_attempts,
            )
            if config.smtp
            else None
        )
        self.runtime = ChannelRuntime(CHANNEL_NAME, self.inbox, self._output, config.tuning)
        self.poller: ImapPoller | None = None
        self._stop: asyncio.Event | None = None
        self._tasks: list[asyncio.Task] = []

    def _output(self, stored: StoredMessage | None) -> EmailOutput:
        return EmailOutput(self, stored)

    def get_output_channel(self) -> OutputChannel:
        """For ``trigger_intent?output_channel=email``: mails the conversation's address."""
        return self._output(None)

    # ------------------------------------------------------------------------------- in
    async def accept_mail(self, message: bytes | EmailMessage, source: str) -> str:
        """Take one inbound mail: ``accepted``, ``duplicate`` or ``ignored`` (robot mail).
        Raises when it could not be stored (the caller must not consider it read)."""
        own = frozenset({self.config.address})
        if isinstance(message, bytes):
            parsed = parse_email(message, own)
        else:
            parsed = parse_message(message, own_addresses=own)
        reason = parsed.automated or (None if parsed.text else "empty message")
        if reason:
            logger.info(
                "email.ignored source=%s message_id=%s from=%s reason=%s",
                source,
                parsed.message_id,
                parsed.sender,
                reason,
            )
            return "ignored"
        accepted = await self.runtime.accept(inbound_message(parsed, source))
        logger.info(
            "email.received source=%s message_id=%s from=%s new=%s",
            source,
            parsed.message_id,
            parsed.sender,
            accepted,
        )
        return "accepted" if accepted else "duplicate"

    async def _accept_from_imap(self, raw: bytes) -> None:
        await self.accept_mail(raw, "imap")

    # ------------------------------------------------------------------------------ out
    async def send_reply(
        self,
        recipient: str,
        parts: list[str],
        attachments: list[str],
        stored: StoredMessage | None,
        output: EmailOutput,
    ) -> bool:
        if self.outbox is None or "@" not in recipient:
            logger.error("email.reply.undeliverable to=%s smtp=%s", recipient, bool(self.outbox))
            return False
        parent_id, company_id, raw = None, None, {}
        if stored is not None:
            parent_id, company_id, raw = stored.id, stored.company_id, stored.message.raw
        if stored is None or company_id is None:
            # A pushed result has no message of its own; and the message the output was made
            # for was stored before the sender was linked to a company: read the latest one.
            latest = await asyncio.to_thread(self.store.latest_inbound, recipient)
            if latest is not None:
                company_id = latest[1]
                if stored is None:
                    parent_id, raw = latest[0], latest[2].get("raw") or {}
        text = "\n\n".join(parts)
        folder = await self._reports_folder(company_id)
        files = report_files("\n".join([*attachments, text]), folder) if folder else []
        if folder:
            text = mention_attachments(text, files, folder)
        thread = Thread(
            subject=reply_subject(raw.get("subject") or "")
            if raw
            else f"{self.config.display_name or 'MisyBot'}: update",
            in_reply_to=raw.get("message_id"),
            references=references_for(
                raw.get("message_id"),
                raw.get("references") or ([raw["in_reply_to"]] if raw.get("in_reply_to") else []),
            ),
        )
        message = compose_reply(
            from_address=self.config.address,
            from_name=self.config.display_name,
            to=recipient,
            thread=thread,
            markdown=text,
            attachments=files,
        )
        output.sent_texts.append(text)
        return await self.outbox.submit(
            message,
            recipient=recipient,
            body=text,
            conversation_message_id=parent_id,
        )

    async def send_notice(self, recipient: str, subject: str, text: str) -> bool:
        """A mail of its own, not a reply (a code someone asked for, to this address)."""
        if self.outbox is None:
            return False
        message = compose_reply(
            from_address=self.config.address,
            from_name=self.config.display_name,
            to=recipient,
            thread=Thread(subject=subject),
            markdown=text,
            attachments=[],
        )
        return await self.outbox.submit(
            message, recipient=recipient, body=text, conversation_message_id=None
        )

    async def _reports_folder(self, company_id: int | None) -> Path | None:
        """Where the recipient's company's reports are: only those files are ever attached
        (a path echoed from someone's mail must not fetch another company's report)."""
        if company_id is None:  # not a registered address: no company, no files
            return None
        slug = await asyncio.to_thread(self.store.company_slug, company_id)
        return self.config.reports_dir / slug if slug else None

    # -------------------------------------------------------------------------- lifecycle
    async def start(self, on_new_message) -> None:
        """Process stored mail, start the SMTP retry loop and (if configured) the IMAP poller."""

        async def handle_turn(message: UserMessage) -> None:
            output = message.output_channel
            if isinstance(output, EmailOutput):
                output.begin_turn()
            try:
                await on_new_message(message)
            finally:
                if isinstance(output, EmailOutput):
                    await output.flush(message.sender_id)

        self._stop = asyncio.Event()
        await self.runtime.start(handle_turn)
        if self.outbox is not None:
            notices.register(Channel.EMAIL, self.send_notice)
        if self.outbox is not None:
            self._tasks.append(asyncio.ensure_future(self.outbox.run(self._stop)))
        if self.config.imap is not None:
            self.poller = ImapPoller(self.config.imap, self.store, self._accept_from_imap)
            self._tasks.append(asyncio.ensure_future(self.poller.run(self._stop)))

    async def stop(self) -> None:
        notices.unregister(Channel.EMAIL, self.send_notice)
        self.runtime.stop()
        if self._stop is not None:
            self._stop.set()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)
        self._tasks = []

    def blueprint(self, on_new_message) -> Blueprint:
        webhook = Blueprint(f"{CHANNEL_NAME}_webhook", __name__)

        @webhook.listener("after_server_start")
        async def start_channel(app, loop) -> None:
            await self.start(on_new_message)

        @webhook.listener("before_server_stop")
        async def stop_channel(app, loop) -> None:
            await self.stop()

        @webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json(
                {
                    "status": "ok",
                    "imap": self.config.imap is not None,
                    # Completed reads of the mailbox since the server started.
                    "imap_rounds": self.poller.rounds if self.poller is not None else 0,
                    "smtp": self.config.smtp is not None,
                    "webhook": bool(self.config.mailgun_signing_key),
                }
            )

        @webhook.route("/mailgun", methods=["POST"])
        async def mailgun(request: Request) -> HTTPResponse:
            with self.runtime.acknowledging():
                return await self._mailgun(request)

        return webhook

    async def _mailgun(self, request: Request) -> HTTPResponse:
        """A Mailgun route's forward: verify, refuse replays, store, answer 200."""
        key = self.config.mailgun_signing_key
        if not key or self.outbox is None:
            return response.text(f"{CHANNEL_NAME} webhook is not configured", status=503)
        if len(request.body or b"") > self.config.tuning.max_body_bytes:
            return response.text("request body too large", status=413)
        content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
        if content_type not in FORM_TYPES:
            return response.text("expected a form-encoded or multipart body", status=415)
        keep_for = timedelta(seconds=2 * self.config.webhook_max_age_s)
        try:
            fields = {name: values[0] for name, values in (request.form or {}).items() if values}
            timestamp, token = verify_mailgun(key, fields, max_age_s=self.config.webhook_max_age_s)
            # Claimed before anything else, atomically: a replay, or the same request posted
            # several times at once, finds the token taken. A refused request keeps it used.
            if not await asyncio.to_thread(self.store.claim_token, "mailgun", token, keep_for):
                raise WebhookRefused(403, "token already used (replayed request)")
            message = form_to_message(fields)
        except WebhookRefused as refused:
            logger.warning(
                "email.webhook.refused status=%d reason=%s ip=%s",
                refused.status,
                refused.reason,
                request.ip,
            )
            return response.text(refused.reason, status=refused.status)
        except Exception as error:
            if is_outage(error):  # the token store is down: Mailgun retries on a 5xx
                logger.exception("email.webhook.store_failed")
                return response.text("temporarily unavailable", status=503)
            # An unparseable form: the sender must fix it, not retry.
            logger.warning("email.webhook.malformed error=%r", error)
            return response.text(f"malformed request: {type(error).__name__}", status=400)
        try:
            outcome = await self.accept_mail(message, "mailgun")
        except Exception as error:
            if not is_outage(error):
                logger.warning("email.webhook.unreadable error=%r", error)
                return response.text(f"unreadable mail: {type(error).__name__}", status=400)
            # Not stored: Mailgun retries on a 5xx, and its retry must find the token free.
            logger.exception("email.webhook.store_failed")
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.store.release_token, "mailgun", token)
            return response.text("temporarily unavailable", status=503)
        return response.json({"status": outcome, "timestamp": timestamp})
