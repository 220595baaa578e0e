"""Issue 18 end to end: a new company onboarded only through the ``misybot`` command and a CSV
talks to the assistant through the real channels' webhooks (Twilio WhatsApp, WhatsApp Cloud,
Messenger, e-mail) of a running stack, on SQLite and on PostgreSQL.

Each sender is answered as a stranger until the step that links it; a Messenger sender links
itself with an invitation code; one person's conversation follows them across channels and
nobody else's; an erased person leaves nothing behind, and their old webhook is a duplicate.
"""

from __future__ import annotations

import json
import re
from contextlib import ExitStack
from pathlib import Path

import pytest

from misybot.db.engine import create_db_engine
from misybot.db.models import ConversationMessage
from misybot.enums import Channel
from testkit.database import (
    DEFAULT_POSTGRES_URL,
    inbox_rows,
    postgres_schema,
    postgres_unavailable,
    stored_text,
)
from testkit.payloads import messaging_event, messaging_webhook
from testkit.processes import misybot_cli
from testkit.stack import Provider, every_channel_stack
from testkit.waiting import wait_until
from testkit.webhooks import Webhooks

pytestmark = pytest.mark.rasa_model

META_IDS = ("106540352242933", "104420000000033", "17841400000000033")
PROVIDER = Provider(
    {
        "account_sid": "AC" + "8" * 32,
        "auth_token": "twilio-auth-token-people",
        "app_secret": "meta-app-secret-people",
        "mailgun_signing_key": "mailgun-signing-key-people",
        "whatsapp_token": "wa-token",
        "messenger_token": "page-token",
        "instagram_token": "ig-token",
    },
    META_IDS,
)
ADMIN = {"name": "Wanda Kowalska", "email": "wanda@tidewater.example", "phone": "+48600100001"}
PIOTR = {"name": "Piotr Zielinski", "email": "piotr@tidewater.example", "phone": "+48600100002"}
OLA = {
    "name": "Ola Nowakowska",
    "email": "ola@tidewater.example",
    "phone": "+48600100003",  # on her profile, never linked
    "psid": "6009000000000077",
}
NOT_REGISTERED = "You are not registered with MisyBot yet"
REFUSED = "That code didn't work"
COMPANY_DATA = "amber lamps"  # a Tidewater product's name: the answer is about its data


class Stack:
    """The running servers, the CLI on their database, and what each sender was answered."""

    def __init__(self, running, env: dict[str, str], reports: Path) -> None:
        self.running = running
        self.env = env
        self.reports = reports
        self.hooks = Webhooks(running.url, PROVIDER)
        options = env.get("PGOPTIONS")
        self.engine = create_db_engine(
            env["MISYBOT_DATABASE_URL"], connect_args={"options": options} if options else {}
        )

    def cli(self, *args: str) -> str:
        return misybot_cli(self.env, *args)

    def rows(self, channel: Channel, address: str) -> list[ConversationMessage]:
        return inbox_rows(self.engine, channel, address)

    async def ask(self, channel: Channel, address: str, text: str) -> str:
        """Send ``text`` as ``address`` on ``channel``; what the assistant answered."""
        cloud = address.startswith("cloud:")  # WhatsApp through the Cloud API, not Twilio
        address = address.removeprefix("cloud:")
        before = len(self.rows(channel, address))
        if channel == Channel.EMAIL:
            status = await self.hooks.email_text(address, text)
        elif channel == Channel.MESSENGER:
            status = await self.hooks.messenger_text(address, text)
        elif cloud:
            status = await self.hooks.cloud_text(address.removeprefix("+"), text)
        else:
            status = await self.hooks.twilio_text(f"whatsapp:{address}", text)
        assert status == 200

        def answered():
            rows = self.rows(channel, address)
            return rows[before] if len(rows) > before and rows[before].processed_at else None

        row = await wait_until(answered, timeout=120)
        assert row is not None, f"{address} got no answer to {text!r}"
        return row.response_body or ""


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stack(request, model_path, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"people-{request.param}")
    reports = folder / "reports"
    with ExitStack() as resources:
        env = {"MISYBOT_REPORTS_DIR": str(reports), "MISYBOT_DEFAULT_COUNTRY_CODE": "48"}
        if request.param == "sqlite":
            env["MISYBOT_DATABASE_URL"] = f"sqlite:///{folder / 'misybot.db'}"
        else:
            reason = postgres_unavailable(DEFAULT_POSTGRES_URL)
            if reason:
                pytest.skip(reason)
            engine = resources.enter_context(postgres_schema(DEFAULT_POSTGRES_URL, migrate=False))
            with engine.connect() as connection:
                schema = connection.exec_driver_sql("SELECT current_schema()").scalar()
            env["MISYBOT_DATABASE_URL"] = DEFAULT_POSTGRES_URL
            env["PGOPTIONS"] = f"-csearch_path={schema}"
        onboard(env, folder)
        running = resources.enter_context(
            every_channel_stack(
                PROVIDER,
                model=model_path,
                workdir=folder / "rasa",
                env=env,
                rasa_env={"MISYBOT_CHANNEL_RETRY_POLL_S": "0.5"},
            )
        )
        yield Stack(running, env, reports)


def onboard(env: dict[str, str], folder: Path) -> None:
    """Tidewater, from nothing: the schema, the company, its catalogue, an admin, a CSV of two."""

    def cli(*args: str) -> str:
        return misybot_cli(env, *args)

    cli("db", "upgrade")
    cli("company", "create", "tidewater", "--name", "Tidewater", "--location", "Gdansk:GDA")
    (folder / "products.csv").write_text(
        "sku,name,reorder_point,reorder_quantity,lead_time_days,unit_cost\n"
        "TW-100,amber lamps,10,50,7,12.50\nTW-200,oak shelves,5,20,14,40\n"
    )
    (folder / "stock.csv").write_text("sku,location,quantity\nTW-100,Gdansk,42\nTW-200,Gdansk,3\n")
    (folder / "users.csv").write_text(
        "name,role,email,phone\n"
        f"{PIOTR['name']},operator,{PIOTR['email']},600 100 002\n"  # national: country code 48
        f"{OLA['name']},viewer,{OLA['email']},+48 600 100 003\n"
    )
    for kind in ("products", "stock"):
        cli("import", kind, str(folder / f"{kind}.csv"), "--company", "tidewater")
    added = cli(
        "users", "add", "--company", "tidewater", "--name", ADMIN["name"], "--role", "admin",
        "--email", ADMIN["email"], "--phone", "+48 600-100-001",
    )  # fmt: skip
    assert ADMIN["phone"] in added
    imported = cli(
        "import", "users", str(folder / "users.csv"), "--company", "tidewater",
        "--user", ADMIN["email"],
    )  # fmt: skip
    assert "2 created" in imported


def as_admin(stack: Stack, *args: str) -> str:
    return stack.cli(*args, "--company", "tidewater", "--admin", ADMIN["email"])


# ------------------------------------------------------------------------------ tests
async def test_each_sender_is_recognised_only_after_the_step_that_links_it(stack):
    question = "how many TW-100 do we have"
    piotr, wanda_cloud = PIOTR["phone"], f"cloud:{ADMIN['phone']}"
    assert NOT_REGISTERED in await stack.ask(Channel.WHATSAPP, piotr, question)
    assert NOT_REGISTERED in await stack.ask(Channel.WHATSAPP, wanda_cloud, question)
    assert NOT_REGISTERED in await stack.ask(Channel.EMAIL, PIOTR["email"], question)

    as_admin(stack, "users", "link", PIOTR["email"], "--channel", "whatsapp",
             "--address", "0048 600-100-002")  # fmt: skip
    answer = await stack.ask(Channel.WHATSAPP, piotr, question)
    assert COMPANY_DATA in answer and NOT_REGISTERED not in answer
    assert NOT_REGISTERED in await stack.ask(Channel.EMAIL, PIOTR["email"], question)

    as_admin(stack, "users", "link", ADMIN["email"], "--channel", "whatsapp",
             "--address", "600 100 001")  # fmt: skip
    assert COMPANY_DATA in await stack.ask(Channel.WHATSAPP, wanda_cloud, question)
    as_admin(stack, "users", "link", PIOTR["email"], "--channel", "email",
             "--address", PIOTR["email"].upper())  # fmt: skip
    assert COMPANY_DATA in await stack.ask(Channel.EMAIL, PIOTR["email"], question)


async def test_a_linked_person_links_the_email_on_their_profile_from_the_chat(stack):
    smtp, email = stack.running.smtp, ADMIN["email"]
    before = len(smtp.delivered_to(email))
    sent = await stack.ask(Channel.WHATSAPP, f"cloud:{ADMIN['phone']}", "link my email")
    assert "e-mailed a code" in sent
    mail = (await smtp.wait_for(email, before + 1))[before]
    code = re.search(r"\b(\d{8})\b", mail.get_body(("plain",)).get_content()).group(1)
    # Only her mailbox can use it.
    assert REFUSED in await stack.ask(Channel.EMAIL, "someone@else.example", f"link {code}")
    welcome = await stack.ask(Channel.EMAIL, email, f"link {code}")
    assert f"Welcome, {ADMIN['name']}" in welcome
    assert COMPANY_DATA in await stack.ask(Channel.EMAIL, email, "how many TW-100 do we have")


async def test_a_messenger_sender_links_itself_with_an_invitation_code(stack):
    psid = OLA["psid"]
    question = "how many TW-200 are left"
    assert NOT_REGISTERED in await stack.ask(Channel.MESSENGER, psid, question)
    invited = as_admin(stack, "users", "invite", OLA["email"], "--channel", "messenger")
    code = re.search(r"code for user \d+: (\d{8})", invited).group(1)
    wrong = await stack.ask(Channel.MESSENGER, psid, "link 12345678")
    assert REFUSED in wrong
    welcome = await stack.ask(Channel.MESSENGER, psid, f"link {code}")
    assert "Welcome, Ola Nowakowska" in welcome
    assert "oak shelves" in await stack.ask(Channel.MESSENGER, psid, question)
    # Used: from anyone else it reads exactly like a code that never existed.
    assert await stack.ask(Channel.MESSENGER, "6009000000000078", code) == wrong
    # A code for another company's user cannot take over an address that is someone's.
    cli = stack.cli
    cli("company", "create", "globex", "--name", "Globex")
    cli("users", "add", "--company", "globex", "--name", "Gina", "--role", "admin",
        "--email", "gina@globex.example")  # fmt: skip
    foreign = cli("users", "invite", "gina@globex.example", "--company", "globex",
                  "--admin", "gina@globex.example")  # fmt: skip
    foreign_code = re.search(r"code for user \d+: (\d{8})", foreign).group(1)
    assert await stack.ask(Channel.MESSENGER, psid, foreign_code) == wrong
    # Guessing from one sender is cut off, the right code included.
    thief = "6009000000000079"
    replies = [await stack.ask(Channel.MESSENGER, thief, f"{n:08d}") for n in range(6)]
    assert replies[:5] == [wrong] * 5 and "Too many codes" in replies[5]


async def test_a_report_made_on_whatsapp_is_shared_from_email_by_the_same_person(stack):
    made = await stack.ask(
        Channel.WHATSAPP, PIOTR["phone"], "generate the inventory report for last week"
    )
    report_id = re.search(r"#(\d+)", made).group(1)
    shared = await stack.ask(Channel.EMAIL, PIOTR["email"], "share it")
    assert f"Report #{report_id}" in shared and ".csv" in shared
    # Another person's "share it" knows nothing of Piotr's report.
    other = await stack.ask(Channel.MESSENGER, OLA["psid"], "share it")
    assert "I can't find report" in other and f"#{report_id}" not in other


async def test_an_export_holds_the_persons_messages_events_and_runs_and_nobody_elses(
    stack, tmp_path
):
    out = tmp_path / "piotr.json"
    as_admin(stack, "privacy", "export", "--user", PIOTR["email"], "--out", str(out))
    document = json.loads(out.read_text())
    said = [m["body"] for m in document["messages_received"]]
    assert "generate the inventory report for last week" in said and "share it" in said
    assert {m["channel"] for m in document["messages_received"]} == {"whatsapp", "email"}
    events = [e for events in document["conversations"].values() for e in events]
    assert any(e.get("text") == "share it" for e in events)
    assert [e["agent_type"] for e in document["agent_executions"]]
    text = json.dumps(document)
    for other in (OLA["name"], OLA["email"], OLA["psid"], ADMIN["name"], ADMIN["phone"]):
        assert other not in text


async def test_an_erased_person_leaves_nothing_and_their_old_webhook_is_a_duplicate(stack):
    rows = stack.rows(Channel.MESSENGER, OLA["psid"])
    others = {row.body for row in stack.rows(Channel.EMAIL, PIOTR["email"])}
    ola_said = [row.body for row in rows if row.body not in others]  # "share it" is Piotr's too
    assert "how many TW-200 are left" in ola_said
    old_mid = rows[0].provider_message_id
    piotr_before = [row.body for row in stack.rows(Channel.WHATSAPP, PIOTR["phone"])]
    receipt = as_admin(stack, "privacy", "erase", "--user", OLA["email"], "--yes")
    assert re.search(r"tracker_store\s+[1-9]", receipt)
    assert re.search(r"conversation_messages\s+[1-9]", receipt)

    found = stored_text(stack.engine) + "\n".join(
        path.read_text(errors="replace") for path in stack.reports.rglob("*") if path.is_file()
    )
    traces = (OLA["name"], "Nowakowska", OLA["email"], OLA["phone"], "600100003", OLA["psid"])
    for trace in (*traces, *ola_said):
        assert trace.lower() not in found.lower(), trace
    # Others' data is intact.
    assert [row.body for row in stack.rows(Channel.WHATSAPP, PIOTR["phone"])] == piotr_before
    assert PIOTR["name"] in found

    # Meta resends an old event of hers: a duplicate, neither stored again nor answered.
    replies_before = len(stack.running.graph.messages_to(OLA["psid"]))
    event = messaging_event(OLA["psid"], META_IDS[1], message={"text": ola_said[0]})
    event["message"]["mid"] = old_mid
    assert (
        await stack.hooks.meta("messenger", messaging_webhook("page", META_IDS[1], [event])) == 200
    )
    # ...while a new message of hers right behind it is stored (and answered as a stranger's).
    assert await stack.hooks.messenger_text(OLA["psid"], "hello again") == 200
    assert await wait_until(lambda: stack.rows(Channel.MESSENGER, OLA["psid"]), timeout=60)
    assert [row.body for row in stack.rows(Channel.MESSENGER, OLA["psid"])] == ["hello again"]
    replies = await stack.running.graph.wait_for(OLA["psid"], replies_before + 1, timeout=120)
    assert NOT_REGISTERED in json.dumps(replies[-1].payload)
    assert len(replies) == replies_before + 1
