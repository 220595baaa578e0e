"""E-mail end to end: mail APPENDed to a private Dovecot mailbox (or POSTed as a signed Mailgun
webhook) is read by a real ``rasa run``, answered through the real action server on the demo
data, and the reply arrives at an aiosmtpd server with AUTH."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import delete, select

from misybot.agents.inventory import InventoryQuery, check_inventory
from misybot.db.engine import create_db_engine
from misybot.db.models import ConversationMessage, EmailOutbox, MailboxCursor
from misybot.db.session import make_session_factory, session_scope
from misybot.enums import Channel
from misybot.store.tenancy import actor_for_identity
from testkit.database import seeded_database_url
from testkit.mail import EmailRasaProcess, SmtpServer, mailgun_form, make_mail
from testkit.waiting import wait_until

pytestmark = [
    pytest.mark.rasa_model,
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS"),
]

ROOT = Path(__file__).resolve().parents[2]
BOT = "bot@misy.example"
MARTA = "marta.costa@misy-demo.example"  # an operator of the demo company
SIGNING_KEY = "key-email-test-0123456789"


@pytest.fixture(scope="module")
def smtp():
    server = SmtpServer(BOT, "smtp-secret").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def inbox_database_url(tmp_path_factory) -> str:
    return seeded_database_url(tmp_path_factory.mktemp("email-inbox"))


@pytest.fixture(scope="module")
def factory(inbox_database_url):
    engine = create_db_engine(inbox_database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def business(demo_database_url):
    """The action server's database: the figures the replies must show."""
    engine = create_db_engine(demo_database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def rasa(
    model_path, action_server_url, worker, inbox_database_url, dovecot, smtp, tmp_path_factory
):
    server = EmailRasaProcess(
        root=ROOT,
        workdir=tmp_path_factory.mktemp("rasa-email"),
        model=model_path,
        action_url=action_server_url,
        env={"MISYBOT_DATABASE_URL": inbox_database_url},
        email={
            "address": BOT,
            "imap_host": "127.0.0.1",
            "imap_port": dovecot.port,
            "imap_security": "none",
            "imap_password": "imap-secret",
            "poll_interval_s": 600,  # IDLE brings mail in; polling would be far too slow here
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp.port,
            "smtp_security": "none",
            "smtp_password": "smtp-secret",
            "mailgun_signing_key": SIGNING_KEY,
            "send_backoff_s": 0.2,
            "send_backoff_max_s": 1,
        },
    )
    server.start()
    yield server
    server.stop()


def inbox_rows(factory, address: str) -> list[ConversationMessage]:
    with session_scope(factory) as session:
        query = select(ConversationMessage).where(
            ConversationMessage.channel == Channel.EMAIL,
            ConversationMessage.sender_address == address,
        )
        return list(session.execute(query.order_by(ConversationMessage.id)).scalars())


def plain(message) -> str:
    return message.get_body(("plain",)).get_content()


# First: it needs no agent, so it also carries the first turn of a freshly started server.
async def test_auto_replies_bounces_and_list_mail_are_ignored(rasa, dovecot, smtp, factory):
    robots = {
        "vacation@misy-demo.example": {"Auto-Submitted": "auto-replied"},
        "newsletter@misy-demo.example": {"Precedence": "bulk", "List-Id": "<news.example>"},
        "mailer-daemon@mx.misy-demo.example": {},
        "ooo@misy-demo.example": {"X-Autoreply": "yes"},
    }
    for sender, headers in robots.items():
        dovecot.append(BOT, make_mail(sender, "I am away until Monday.", headers=headers))
    marker = "ana.ribeiro@misy-demo.example"  # mailed after the robots: read after them
    dovecot.append(BOT, make_mail(marker, "hi"))
    await smtp.wait_for(marker, 1)
    # Read in order, robots first: each was looked at (and dropped) before the marker was.
    for sender in robots:
        assert smtp.delivered_to(sender) == []
        assert inbox_rows(factory, sender) == []


async def test_a_question_is_answered_once_threaded_with_text_and_html(
    rasa, dovecot, smtp, factory, business
):
    raw = make_mail(
        "Marta Costa <Marta.Costa@Misy-Demo.example>",
        "How many WID-220 do we have?\n\nThanks,\n-- \nMarta\nWarehouse lead",
        subject="stock check",
        message_id="<q-stock-1@client.example>",
    )
    dovecot.append(BOT, raw)
    (reply,) = await smtp.wait_for(MARTA, 1)
    assert reply["Subject"] == "Re: stock check"
    assert reply["In-Reply-To"] == "<q-stock-1@client.example>"
    assert reply["References"] == "<q-stock-1@client.example>"
    assert reply["From"] == f"MisyBot <{BOT}>"
    assert reply.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in reply.iter_parts()] == ["text/plain", "text/html"]

    with session_scope(business) as session:
        actor = actor_for_identity(session, Channel.EMAIL, MARTA)
        stock = check_inventory(session, actor, InventoryQuery(sku="WID-220"))
    with session_scope(factory) as session:
        marta = actor_for_identity(session, Channel.EMAIL, MARTA)
    text, html = plain(reply), reply.get_body(("html",)).get_content()
    assert "WID-220" in text and str(stock.total_quantity) in text
    assert "**" not in text
    assert "<strong>WID-220</strong>" in html and str(stock.total_quantity) in html

    (row,) = await wait_until(lambda: [r for r in inbox_rows(factory, MARTA) if r.response_sent])
    assert row.body == "How many WID-220 do we have?\n\nThanks,"
    assert (row.company_id, row.user_id) == (marta.company_id, marta.user_id)  # registered
    # Its one reply is marked sent (never tried again) once the server took it.
    assert await wait_until(lambda: [o.status for o in outbox_rows(factory, row.id)] == ["sent"])
    assert len(smtp.delivered_to(MARTA)) == 1


async def test_a_report_request_comes_back_with_the_csv_and_chart_attached(rasa, dovecot, smtp):
    sender = "tiago.ferreira@misy-demo.example"
    dovecot.append(BOT, make_mail(sender, "sales report for last week", subject="report"))
    (reply,) = await smtp.wait_for(sender, 1, timeout=90)
    attachments = {part.get_filename(): part for part in reply.iter_attachments()}
    names = sorted(attachments)
    assert len(names) == 2 and names[0].endswith(".csv") and names[1].endswith(".png")
    assert names[0].startswith("sales-")
    csv = attachments[names[0]].get_content()
    csv = csv.decode() if isinstance(csv, bytes) else csv
    assert csv.splitlines()[0].count(",") >= 1  # a header row
    assert attachments[names[1]].get_content().startswith(b"\x89PNG")
    assert f"{names[0]} (attached)" in plain(reply)
    assert "var/reports" not in plain(reply)  # no server paths in the mail


async def test_the_quoted_reply_chain_is_stripped_before_nlu(rasa, dovecot, smtp, factory):
    sender = "joao.pereira@misy-demo.example"
    body = (
        "check stock of WID-221\n\n"
        "On Mon, 2 Mar 2026 at 10:00, MisyBot <bot@misy.example> wrote:\n"
        "> Which product?\n"
        "> generate the sales report for last week\n"
    )
    dovecot.append(
        BOT,
        make_mail(
            sender,
            body,
            subject="Re: stock",
            headers={"In-Reply-To": "<r0@misy.example>", "References": "<r0@misy.example>"},
            message_id="<quoted-1@client.example>",
        ),
    )
    (reply,) = await smtp.wait_for(sender, 1)
    assert "WID-221" in plain(reply)
    assert not reply.get_filename() and not list(reply.iter_attachments())  # no report ran
    assert reply["References"] == "<r0@misy.example> <quoted-1@client.example>"
    (row,) = await wait_until(lambda: inbox_rows(factory, sender))
    assert row.body == "check stock of WID-221"


async def test_a_bad_smtp_password_is_logged_and_the_reply_retried_not_lost(
    rasa, dovecot, smtp, factory
):
    sender = "lucia.gomez@misy-demo.example"

    def kept():
        with session_scope(factory) as session:
            return session.execute(
                select(EmailOutbox).where(EmailOutbox.recipient == sender)
            ).scalar_one_or_none()

    smtp.password = "rotated"  # the mail provider's password changed under us
    try:  # the later tests of this module need the right password, whatever happens here
        dovecot.append(BOT, make_mail(sender, "show critical alerts", message_id="<pw-1@c>"))
        pending = await wait_until(lambda: (row := kept()) and row.attempts >= 2 and row)
        assert pending, f"not retried twice; the outbox row: {kept()!r}"
        assert pending.status == "pending" and "SMTPAuthenticationError" in pending.last_error
        assert smtp.delivered_to(sender) == []
        log = "".join(path.read_text() for path in rasa.workdir.glob("rasa-*.log"))
        assert "email.smtp.failed" in log and sender in log
    finally:
        smtp.password = "smtp-secret"
    (reply,) = await smtp.wait_for(sender, 1)
    assert reply["In-Reply-To"] == "<pw-1@c>"
    assert await wait_until(lambda: kept().status == "sent")  # never tried again
    assert len(smtp.delivered_to(sender)) == 1


async def post_form(rasa, form: dict) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(rasa.mailgun_url, data=form) as response,
    ):
        return response.status, await response.text()


async def test_signed_webhook_mail_is_answered_and_forged_stale_replayed_are_refused(
    rasa, smtp, factory
):
    sender = "priya.nair@misy-demo.example"
    raw = make_mail(sender, "how many WID-230 do we have?", message_id="<mg-1@client.example>")
    form = mailgun_form(SIGNING_KEY, raw)
    status, _ = await post_form(rasa, form)
    assert status == 200
    (reply,) = await smtp.wait_for(sender, 1)
    assert reply["In-Reply-To"] == "<mg-1@client.example>" and "WID-230" in plain(reply)

    replayed, reason = await post_form(rasa, form)
    assert replayed == 403 and "already used" in reason

    forged = mailgun_form("not-the-key", make_mail(sender, "reorder 999 WID-230"))
    assert (await post_form(rasa, forged))[0] == 403
    old = str(int(time.time()) - 3600)
    stale, reason = await post_form(
        rasa, mailgun_form(SIGNING_KEY, make_mail(sender, "reorder 999 WID-230"), timestamp=old)
    )
    assert stale == 403 and "stale" in reason
    unsigned = {k: v for k, v in mailgun_form(SIGNING_KEY, raw).items() if k != "signature"}
    assert (await post_form(rasa, unsigned))[0] == 401

    # Each refusal came before anything was stored: the one mail stored is the one answered.
    assert len(smtp.delivered_to(sender)) == 1
    assert [row.body for row in inbox_rows(factory, sender)] == ["how many WID-230 do we have?"]


async def test_trigger_intent_mails_the_user_in_their_latest_thread(rasa, smtp):
    url = f"{rasa.url}/conversations/{MARTA}/trigger_intent?output_channel=email"
    before = len(smtp.delivered_to(MARTA))
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            url, json={"name": "greet", "entities": {}}, params={"token": rasa.api_token}
        ) as response,
    ):
        assert response.status == 200
    replies = await smtp.wait_for(MARTA, before + 1)
    pushed = replies[-1]
    assert pushed["In-Reply-To"] and pushed["Subject"].startswith("Re: ")
    assert plain(pushed).strip()


# Last in this module: restarts the module's server.
async def test_the_same_mail_seen_twice_or_after_a_restart_is_answered_once(
    rasa, dovecot, smtp, factory
):
    sender = "hugo.bernard@misy-demo.example"
    raw = make_mail(sender, "hi", message_id="<twice-1@client.example>")
    dovecot.append(BOT, raw)
    last_uid = dovecot.append(BOT, raw)  # delivered twice: same Message-ID, another UID
    await smtp.wait_for(sender, 1)
    # The second copy was read (the position passed it) and dropped as a duplicate.
    assert await wait_until(lambda: _read_up_to(factory) >= last_uid)
    assert len(smtp.delivered_to(sender)) == 1

    rasa.stop()
    rasa.start()  # the stored UID position: nothing is read again
    assert await wait_until(lambda: _imap_rounds(rasa) >= 1)  # the mailbox was read since
    assert len(smtp.delivered_to(sender)) == 1

    rasa.stop()
    with session_scope(factory) as session:  # the position is lost: every unread mail again
        session.execute(delete(MailboxCursor))
    client = dovecot.client(BOT)
    client.select("INBOX")
    client.uid("STORE", "1:*", "-FLAGS", "(\\Seen)")
    client.logout()
    answered = len(smtp.received)
    rasa.start()
    assert await wait_until(lambda: _read_up_to(factory) >= last_uid, timeout=60)
    # Each mail was taken before the position moved past it: a duplicate, none answered again.
    assert len(smtp.received) == answered
    assert len(inbox_rows(factory, sender)) == 1


def _read_up_to(factory) -> int:
    with session_scope(factory) as session:
        return session.execute(select(MailboxCursor.last_uid)).scalar_one_or_none() or 0


def _imap_rounds(rasa) -> int:
    """How often the server has read the mailbox since it started (its health route says)."""
    try:
        with urllib.request.urlopen(f"{rasa.url}/webhooks/email/", timeout=5) as response:
            return json.loads(response.read())["imap_rounds"]
    except OSError:
        return 0


def outbox_rows(factory, message_id: int) -> list[EmailOutbox]:
    with session_scope(factory) as session:
        rows = session.execute(
            select(EmailOutbox).where(EmailOutbox.conversation_message_id == message_id)
        ).scalars()
        return list(rows)
