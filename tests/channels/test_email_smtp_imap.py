"""The e-mail transports against real servers on loopback: aiosmtpd with AUTH receiving our
replies, a private Dovecot holding the inbound mailbox. No trained model needed."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest
from sqlalchemy import select

from connectors.core.inbox import Inbox
from connectors.email.compose import Thread, compose_reply
from connectors.email.imap import ImapMailbox, ImapPoller, ImapSettings
from connectors.email.mailbox import Cursor, MailboxStore
from connectors.email.smtp import SmtpOutbox, SmtpSettings
from misybot.db.models import EmailOutbox, OutboundMessage
from misybot.db.session import make_session_factory, session_scope
from misybot.enums import DeliveryStatus, OutboxStatus
from testkit.database import migrated_sqlite
from testkit.mail import SmtpServer, make_mail, self_signed_certificate
from testkit.waiting import wait_until

BOT = "bot@misy.example"
USER = "marta.costa@misy-demo.example"

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@pytest.fixture
def smtp():
    server = SmtpServer(BOT, "smtp-secret").start()
    yield server
    server.stop()


@pytest.fixture
def factory(tmp_path):
    engine = migrated_sqlite(tmp_path / "mail.db")
    yield make_session_factory(engine)
    engine.dispose()


def outbox(smtp: SmtpServer, factory, password: str = "smtp-secret", **options) -> SmtpOutbox:
    settings = SmtpSettings("127.0.0.1", smtp.port, security="none", user=BOT, password=password)
    return SmtpOutbox(settings, BOT, MailboxStore(factory), Inbox(factory), **options)


def reply(text: str = "**WID-220**: 40 each"):
    return compose_reply(
        from_address=BOT,
        from_name="MisyBot",
        to=USER,
        thread=Thread("Re: stock", "<q1@client.example>", ("<q1@client.example>",)),
        markdown=text,
    )


async def submit(sender: SmtpOutbox, body: str = "x") -> bool:
    return await sender.submit(reply(), recipient=USER, body=body, conversation_message_id=None)


def rows(factory, model):
    with session_scope(factory) as session:
        return list(session.execute(select(model).order_by(model.id)).scalars())


async def test_a_reply_is_handed_to_smtp_with_auth_and_recorded(smtp, factory):
    assert await submit(outbox(smtp, factory), "WID-220: 40 each")
    (received,) = smtp.delivered_to(USER)
    assert received["In-Reply-To"] == "<q1@client.example>"
    assert received.get_body(("plain",)).get_content().strip() == "WID-220: 40 each"
    assert smtp.auth_attempts and all(ok for _, ok in smtp.auth_attempts)
    (kept,) = rows(factory, EmailOutbox)
    assert kept.status == OutboxStatus.SENT.value and kept.attempts == 1
    (sent,) = rows(factory, OutboundMessage)
    assert sent.status == DeliveryStatus.SENT and sent.provider_message_id == kept.message_id


@pytest.mark.parametrize("security", ["starttls", "ssl"])
async def test_replies_go_over_starttls_or_implicit_tls_verified_against_the_ca(
    security, factory, tmp_path
):
    certificate = self_signed_certificate(tmp_path)
    server = SmtpServer(BOT, "smtp-secret", certificate, implicit_tls=security == "ssl").start()
    try:
        settings = SmtpSettings(
            "127.0.0.1",
            server.port,
            security=security,
            user=BOT,
            password="smtp-secret",
            ca_file=str(certificate[0]),
        )
        sender = SmtpOutbox(settings, BOT, MailboxStore(factory), Inbox(factory))
        assert await submit(sender)
        assert len(server.delivered_to(USER)) == 1
        untrusted = SmtpOutbox(
            SmtpSettings("127.0.0.1", server.port, security=security, user=BOT, password="x"),
            BOT,
            MailboxStore(factory),
            Inbox(factory),
        )
        assert not await submit(untrusted)  # an unknown certificate is never trusted
        assert "CERTIFICATE_VERIFY_FAILED" in rows(factory, EmailOutbox)[-1].last_error
    finally:
        server.stop()


async def test_a_bad_password_is_logged_kept_and_retried_until_it_is_fixed(smtp, factory, caplog):
    smtp.password = "rotated-on-the-server"
    sender = outbox(smtp, factory, backoff_s=0.05, backoff_max_s=0.2)
    with caplog.at_level(logging.ERROR, logger="connectors.email.smtp"):
        delivered = await submit(sender)
    assert not delivered
    assert any("email.smtp.failed" in r.getMessage() for r in caplog.records)
    assert "535" in caplog.text  # the server's authentication failure is in the log
    (kept,) = rows(factory, EmailOutbox)
    assert kept.status == OutboxStatus.PENDING.value and kept.attempts == 1
    assert "SMTPAuthenticationError" in kept.last_error

    stop = asyncio.Event()
    retrying = asyncio.ensure_future(sender.run(stop, idle_s=0.1))
    # The loop keeps retrying while the password is wrong.
    assert await wait_until(lambda: rows(factory, EmailOutbox)[0].attempts >= 3)
    assert smtp.delivered_to(USER) == []
    smtp.password = "smtp-secret"  # the operator fixes the account
    received = await smtp.wait_for(USER, 1, timeout=10)
    # Marked sent once the server took it: a sent mail is never tried again.
    sent = OutboxStatus.SENT.value
    assert await wait_until(lambda: rows(factory, EmailOutbox)[0].status == sent)
    stop.set()
    await retrying
    assert len(smtp.delivered_to(USER)) == 1 == len(received)
    (kept,) = rows(factory, EmailOutbox)
    assert kept.status == OutboxStatus.SENT.value and kept.attempts >= 4
    (sent,) = rows(factory, OutboundMessage)
    assert sent.status == DeliveryStatus.SENT and sent.attempts == kept.attempts


async def test_a_reply_kept_before_a_restart_is_sent_by_the_next_process(smtp, factory):
    smtp.password = "wrong-for-now"
    first = outbox(smtp, factory, backoff_s=0.05)
    assert not await submit(first)
    smtp.password = "smtp-secret"
    stop = asyncio.Event()
    second = asyncio.ensure_future(outbox(smtp, factory).run(stop, idle_s=0.1))
    assert len(await smtp.wait_for(USER, 1, timeout=10)) == 1
    stop.set()
    await second


async def test_a_recipient_the_server_refuses_for_good_is_recorded_as_failed(smtp, factory):
    smtp.refuse.add(USER)
    sender = outbox(smtp, factory, backoff_s=0.05)
    assert not await submit(sender)
    (kept,) = rows(factory, EmailOutbox)
    assert kept.status == OutboxStatus.FAILED.value
    (failed,) = rows(factory, OutboundMessage)
    assert failed.status == DeliveryStatus.FAILED and "550" in failed.error_message


def poller(dovecot, factory, got: list[bytes], **options) -> ImapPoller:
    settings = ImapSettings(
        "127.0.0.1", dovecot.port, BOT, "imap-secret", security="none", **options
    )

    async def accept(raw: bytes) -> None:
        got.append(raw)

    return ImapPoller(settings, MailboxStore(factory), accept)


async def test_idle_delivers_new_mail_once_and_the_position_survives_a_restart(dovecot, factory):
    got: list[bytes] = []
    stop = asyncio.Event()
    # A ten-minute poll interval: only IDLE can bring the mail in within the test's wait.
    first = poller(dovecot, factory, got, poll_interval_s=600)
    running = asyncio.ensure_future(first.run(stop))
    assert await wait_until(lambda: first.rounds >= 1)
    uid = dovecot.append(BOT, make_mail(USER, "how many WID-220?", message_id="<idle1@c>"))
    assert await wait_until(lambda: len(got) == 1)
    assert b"<idle1@c>" in got[0]
    assert "\\Seen" in dovecot.flags(BOT, uid)
    stop.set()
    await asyncio.wait_for(running, 10)

    cursor = MailboxStore(factory).cursor(f"{BOT}@127.0.0.1:{dovecot.port}", "INBOX")
    assert cursor is not None and cursor.last_uid == uid
    again: list[bytes] = []
    second = poller(dovecot, factory, again, use_idle=False, poll_interval_s=0.1)
    stop = asyncio.Event()
    running = asyncio.ensure_future(second.run(stop))
    assert await wait_until(lambda: second.rounds >= 3)
    dovecot.append(BOT, make_mail(USER, "and WID-221?", message_id="<poll2@c>"))
    assert await wait_until(lambda: len(again) == 1)
    stop.set()
    await asyncio.wait_for(running, 10)
    assert b"<poll2@c>" in again[0]  # the first mail was not read a second time


async def test_a_renumbered_folder_is_read_from_its_unread_mail(dovecot, factory):
    account = f"{BOT}@127.0.0.1:{dovecot.port}"
    store = MailboxStore(factory)
    uid = dovecot.append(BOT, make_mail(USER, "old but unread", message_id="<renum@c>"))
    # A position from an earlier UIDVALIDITY (the server rebuilt the folder): UIDs mean nothing.
    store.save_cursor(account, "INBOX", Cursor(uid_validity=1, last_uid=uid + 1000))
    got: list[bytes] = []
    stop = asyncio.Event()
    reader = poller(dovecot, factory, got, use_idle=False, poll_interval_s=0.1)
    running = asyncio.ensure_future(reader.run(stop))
    assert await wait_until(lambda: reader.rounds >= 2)
    stop.set()
    await asyncio.wait_for(running, 10)
    assert [b"<renum@c>" in raw for raw in got] == [True]  # seen mail before it is not re-read
    assert store.cursor(account, "INBOX").uid_validity != 1


async def test_a_wrong_imap_password_is_logged_and_retried(dovecot, factory, caplog):
    settings = ImapSettings("127.0.0.1", dovecot.port, BOT, "wrong", security="none")

    async def accept(raw: bytes) -> None:  # never reached
        raise AssertionError("no mail can be read with a wrong password")

    reader = ImapPoller(settings, MailboxStore(factory), accept, reconnect_max_s=0.2)
    stop = asyncio.Event()
    with caplog.at_level(logging.ERROR, logger="connectors.email.imap"):
        running = asyncio.ensure_future(reader.run(stop))
        assert await wait_until(
            lambda: sum("email.imap.error" in r.getMessage() for r in caplog.records) >= 2
        )
        stop.set()
        await asyncio.wait_for(running, 10)
    assert "AUTHENTICATIONFAILED" in caplog.text or "Authentication failed" in caplog.text


async def test_mail_arriving_just_before_idle_starts_is_noticed(dovecot):
    """The server reports it together with IDLE's continuation: it sits in imaplib's buffer."""
    mailbox = ImapMailbox(
        ImapSettings("127.0.0.1", dovecot.port, BOT, "imap-secret", security="none")
    )
    mailbox.connect()
    try:
        mailbox.new_uids(None)
        dovecot.append(BOT, make_mail(USER, "between the search and IDLE"))
        stop = threading.Event()
        give_up = threading.Timer(30, stop.set)  # fail rather than hang if the notice is missed
        give_up.start()
        changed = await asyncio.to_thread(mailbox.idle, 600, stop)
        noticed = not stop.is_set()  # IDLE ended because of the mail, not the time-out
        give_up.cancel()
        assert changed and noticed
    finally:
        mailbox.close()


def test_the_read_position_never_moves_back_unless_the_folder_was_renumbered(factory):
    store = MailboxStore(factory)
    assert store.cursor("a", "INBOX") is None
    store.save_cursor("a", "INBOX", Cursor(7, 10))
    store.save_cursor("a", "INBOX", Cursor(7, 4))  # a late writer with an older position
    assert store.cursor("a", "INBOX") == Cursor(7, 10)
    store.save_cursor("a", "INBOX", Cursor(8, 2))
    assert store.cursor("a", "INBOX") == Cursor(8, 2)
    assert store.cursor("a", "Archive") is None
