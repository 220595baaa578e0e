"""Issue 19 end to end, through the real channels' webhooks, a real worker and ``rasa run``
against the Twilio and Graph stand-ins: what the assistant promises arrives.

- A weekly report schedule fires when its time comes (the schedule's clock is moved, nothing
  sleeps): the chart and the CSV reach the WhatsApp user by signed links the test downloads;
  forged and expired links are refused.
- A critical alert raised by a stock movement reaches the two subscribers of that company once
  each, with Ack / Resolve, and not the subscriber of another company.
- The daily digest asked for "at 7" is due at 07:00 in the company's zone and is pushed then.
"""

from __future__ import annotations

import os
import re
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from sqlalchemy import select, update

from misybot.db.engine import create_db_engine
from misybot.db.models import AgentExecution, AgentSchedule, Alert, Subscription, User
from misybot.db.types import utc_now
from misybot.enums import AlertStatus, Channel, ExecutionStatus
from misybot.links import LinkTarget, link, parse_link
from misybot.settings import Settings
from testkit.database import inbox_rows
from testkit.payloads import whatsapp_message, whatsapp_webhook
from testkit.processes import misybot_cli as cli
from testkit.stack import Provider, every_channel_stack
from testkit.waiting import wait_until
from testkit.webhooks import Webhooks

pytestmark = pytest.mark.rasa_model

PROVIDER = Provider(
    {
        "account_sid": "AC" + "9" * 32,
        "auth_token": "twilio-auth-token-notify",
        "app_secret": "meta-app-secret-notify",
        "mailgun_signing_key": "mailgun-signing-key-notify",
        "whatsapp_token": "wa-token-notify",
        "messenger_token": "page-token-notify",
        "instagram_token": "ig-token-notify",
    },
    ("106540352242944", "104420000000044", "17841400000000044"),
    public_url="https://misybot.example.com",
)
TOKYO = ZoneInfo("Asia/Tokyo")
HANA = {"name": "Hana Sato", "email": "hana@harbor.example", "phone": "+81900000001"}  # Cloud
KENJI = {"name": "Kenji Ito", "email": "kenji@harbor.example", "phone": "+81900000002"}  # Twilio
YUI = {"name": "Yui Mori", "email": "yui@harbor.example", "phone": "+81900000003"}  # Twilio
OLAF = {"name": "Olaf Berg", "email": "olaf@fjord.example", "phone": "+4790000004"}  # Twilio


def onboard(env: dict[str, str], folder: Path) -> None:
    """Harbor (Asia/Tokyo): two products, three people; Fjord: one person."""
    cli(env, "db", "upgrade")
    cli(env, "company", "create", "harbor", "--name", "Harbor", "--location", "Osaka:OSA",
        "--timezone", "Asia/Tokyo")  # fmt: skip
    cli(env, "company", "create", "fjord", "--name", "Fjord", "--location", "Bergen:BGO")
    (folder / "products.csv").write_text(
        "sku,name,reorder_point,reorder_quantity,lead_time_days,unit_cost\n"
        "HB-100,brass valves,2,20,7,9.50\nHB-200,steel pipes,10,50,7,4\n"
    )
    (folder / "stock.csv").write_text("sku,location,quantity\nHB-100,Osaka,7\nHB-200,Osaka,90\n")
    for kind in ("products", "stock"):
        cli(env, "import", kind, str(folder / f"{kind}.csv"), "--company", "harbor")
    for company, person, role, admin in (
        ("harbor", HANA, "admin", []),
        ("harbor", KENJI, "operator", ["--admin", HANA["email"]]),
        ("harbor", YUI, "viewer", ["--admin", HANA["email"]]),
        ("fjord", OLAF, "admin", []),
    ):
        cli(env, "users", "add", "--company", company, "--name", person["name"], "--role", role,
            "--email", person["email"], "--phone", person["phone"], *admin)  # fmt: skip
    for company, admin, people in (
        ("harbor", HANA, (HANA, KENJI, YUI)),
        ("fjord", OLAF, (OLAF,)),
    ):
        for person in people:
            cli(env, "users", "link", person["email"], "--channel", "whatsapp", "--address",
                person["phone"], "--company", company, "--admin", admin["email"])  # fmt: skip


class Harbor:
    """The running stack and what each person was sent."""

    def __init__(self, running, env: dict[str, str]) -> None:
        self.running = running
        self.env = env
        self.hooks = Webhooks(running.url, PROVIDER)
        self.engine = create_db_engine(env["MISYBOT_DATABASE_URL"])

    async def ask(self, person: dict, text: str, cloud: bool = False) -> str:
        """``text`` from ``person`` on WhatsApp (Twilio, or the Cloud API); the answer."""
        before = len(inbox_rows(self.engine, Channel.WHATSAPP, person["phone"]))
        if cloud:
            status = await self.hooks.cloud_text(person["phone"].removeprefix("+"), text)
        else:
            status = await self.hooks.twilio_text(f"whatsapp:{person['phone']}", text)
        assert status == 200

        def answered():
            rows = inbox_rows(self.engine, Channel.WHATSAPP, person["phone"])
            return rows[before] if len(rows) > before and rows[before].processed_at else None

        row = await wait_until(answered, timeout=120)
        assert row is not None, f"{person['name']} got no answer to {text!r}"
        return row.response_body or ""

    def twilio_to(self, person: dict) -> list:
        return self.running.twilio.delivered_to(f"whatsapp:{person['phone']}")

    def cloud_to(self, person: dict) -> list:
        return self.running.graph.messages_to(person["phone"].removeprefix("+"))

    def user_id(self, person: dict) -> int:
        with self.engine.connect() as connection:
            return connection.execute(
                select(User.id).where(User.email == person["email"])
            ).scalar_one()

    def local(self, url: str) -> str:
        """A link as the provider would fetch it, sent to this test's Rasa server instead."""
        return url.replace(PROVIDER.public_url, self.running.url)


@pytest.fixture(scope="module")
def harbor(model_path, tmp_path_factory):
    folder = tmp_path_factory.mktemp("notify")
    shared = {
        "MISYBOT_REPORTS_DIR": str(folder / "reports"),
        "MISYBOT_PUBLIC_URL": PROVIDER.public_url,
    }
    env = {**shared, "MISYBOT_DATABASE_URL": f"sqlite:///{folder / 'misybot.db'}"}
    onboard(env, folder)
    with ExitStack() as resources:
        running = resources.enter_context(
            every_channel_stack(
                PROVIDER, model=model_path, workdir=folder / "rasa", env=env, rasa_env=shared
            )
        )
        yield Harbor(running, env)


def _links(texts: list[str]) -> list[str]:
    return [url for text in texts for url in re.findall(r"https://\S+/files/\S+", text)]


async def test_a_weekly_report_schedule_fires_and_its_files_reach_whatsapp(harbor):
    answer = await harbor.ask(KENJI, "schedule the sales report every week")
    assert "sales" in answer.lower() or "report generator" in answer.lower()
    with harbor.engine.connect() as connection:
        schedule_id, next_run = connection.execute(
            select(AgentSchedule.id, AgentSchedule.next_run_at).where(
                AgentSchedule.agent_type == "report_generator"
            )
        ).one()
    assert next_run - utc_now() > timedelta(days=6)  # a week from now
    first = await wait_until(lambda: _media_and_links(harbor.twilio_to(KENJI)), timeout=120)
    assert first, "the schedule's first run was not pushed"
    sent_before = len(harbor.twilio_to(KENJI))

    # A week passes: the schedule's clock is moved, and the worker runs it.
    with harbor.engine.begin() as connection:
        connection.execute(
            update(AgentSchedule)
            .where(AgentSchedule.id == schedule_id)
            .values(next_run_at=utc_now() - timedelta(seconds=1))
        )

    def second_run():
        later = harbor.twilio_to(KENJI)[sent_before:]
        return _media_and_links(later)

    pushed = await wait_until(second_run, timeout=120)
    assert pushed, "the weekly run was not pushed"
    image, csv_link = pushed
    async with aiohttp.ClientSession() as http:
        async with http.get(harbor.local(image)) as response:
            assert response.status == 200 and response.content_type == "image/png"
            assert (await response.read()).startswith(b"\x89PNG")
        async with http.get(harbor.local(csv_link)) as response:
            assert response.status == 200
            assert "attachment" in response.headers["Content-Disposition"]
            assert "," in (await response.text()).splitlines()[0]  # a header row
        company, name, expires, signature = parse_link(csv_link, settings := _settings(harbor))
        assert company == "harbor"
        base = f"{harbor.running.url}/files"
        forged = [
            f"{base}/fjord/{name}?expires={expires}&signature={signature}",  # another company
            f"{base}/{company}/other.csv?expires={expires}&signature={signature}",  # another file
            f"{base}/{company}/{name}?expires={int(expires) + 86400}&signature={signature}",
            f"{base}/{company}/{name}?expires={expires}",  # no signature
            harbor.local(  # signed right, but expired
                link(LinkTarget(company, name), utc_now() - timedelta(minutes=1), settings)
            ),
        ]
        for url in forged:
            async with http.get(url) as response:
                assert response.status == 403
                assert name not in await response.text()


def _settings(harbor: Harbor) -> Settings:
    """The stack's settings (its signing key, its public URL)."""
    return Settings.from_environ({**os.environ, **harbor.env})


def _media_and_links(sent) -> tuple[str, str] | None:
    """The chart sent as media and the CSV link (Twilio's WhatsApp takes no CSV documents)."""
    images = [url for m in sent for url in m.fields.get("MediaUrl", []) if ".png?" in url]
    links = [url for url in _links([m.one("Body") or "" for m in sent]) if ".csv?" in url]
    return (images[-1], links[-1]) if images and links else None


async def test_a_report_on_the_cloud_api_comes_as_an_image_and_a_document(harbor):
    await harbor.ask(HANA, "generate the inventory report for this week", cloud=True)
    sent = await wait_until(
        lambda: [m for m in harbor.cloud_to(HANA) if m.payload.get("type") == "document"] or None,
        timeout=60,
    )
    assert sent, "no document reached Hana"
    kinds = [m.payload.get("type") for m in harbor.cloud_to(HANA)]
    assert "image" in kinds
    document = sent[-1].payload["document"]
    assert document["filename"].endswith(".csv")
    async with aiohttp.ClientSession() as http, http.get(harbor.local(document["link"])) as got:
        assert got.status == 200


async def test_a_critical_alert_from_a_stock_movement_reaches_each_subscriber_once(harbor):
    assert (
        "critical" in (await harbor.ask(HANA, "alert me about critical stock", cloud=True)).lower()
    )
    assert "critical" in (await harbor.ask(YUI, "notify me of critical alerts")).lower()
    assert "critical" in (await harbor.ask(OLAF, "alert me about critical stock")).lower()
    hana_before, yui_before = len(harbor.cloud_to(HANA)), len(harbor.twilio_to(YUI))
    olaf_before = len(harbor.twilio_to(OLAF))

    answer = await harbor.ask(KENJI, "sold 7 HB-100 in Osaka")
    assert "HB-100" in answer

    def told(messages, before):
        return [m for m in messages[before:] if "HB-100" in _text(m)] or None

    to_hana = await wait_until(lambda: told(harbor.cloud_to(HANA), hana_before), timeout=120)
    to_yui = await wait_until(lambda: told(harbor.twilio_to(YUI), yui_before), timeout=120)
    assert to_hana and to_yui, "a subscriber was not told"
    assert len(to_hana) == 1 and len(to_yui) == 1
    # Ack / Resolve: native reply buttons on the Cloud API, numbered options on Twilio.
    buttons = to_hana[0].payload["interactive"]["action"]["buttons"]
    assert [b["reply"]["title"] for b in buttons] == ["Ack", "Resolve"]
    assert "1. Ack" in _text(to_yui[0]) and "2. Resolve" in _text(to_yui[0])

    # The next scan sees the alert again: nobody is told twice, Olaf (Fjord) never.
    with harbor.engine.connect() as connection:
        alert_id = connection.execute(
            select(Alert.id).where(Alert.condition_key.like("out_of_stock:%"))
        ).scalar_one()
    scan = await harbor.ask(KENJI, "run the alert generator")
    assert "alert generator" in scan.lower()
    await wait_until(lambda: _scans_finished(harbor, 2), timeout=120)
    await harbor.ask(KENJI, "stop the alert generator")
    assert len(told(harbor.cloud_to(HANA), hana_before)) == 1
    assert len(told(harbor.twilio_to(YUI), yui_before)) == 1
    assert harbor.twilio_to(OLAF)[olaf_before:] == []

    # Hana taps Ack on the pushed alert: the button's payload acknowledges it, as her.
    tapped = buttons[0]["reply"]["id"]
    assert tapped == f'/acknowledge_alert{{"alert_id": "{alert_id}"}}'
    rows = len(inbox_rows(harbor.engine, Channel.WHATSAPP, HANA["phone"]))
    reply = whatsapp_message(
        HANA["phone"].removeprefix("+"),
        "interactive",
        type="button_reply",
        button_reply={"id": tapped, "title": "Ack"},
    )
    status = await harbor.hooks.meta(
        "whatsapp_cloud", whatsapp_webhook(PROVIDER.meta_ids[0], messages=[reply])
    )
    assert status == 200

    def acknowledged():
        with harbor.engine.connect() as connection:
            row = connection.execute(
                select(Alert.status, Alert.acknowledged_by_id).where(Alert.id == alert_id)
            ).one()
        answered = inbox_rows(harbor.engine, Channel.WHATSAPP, HANA["phone"])[rows:]
        return row if answered and answered[0].processed_at else None

    status_now, by = await wait_until(acknowledged, timeout=120)
    assert status_now == AlertStatus.ACKNOWLEDGED and by == harbor.user_id(HANA)


def _scans_finished(harbor: Harbor, count: int) -> bool:
    with harbor.engine.connect() as connection:
        done = connection.execute(
            select(AgentExecution.id).where(
                AgentExecution.agent_type == "alert_generator",
                AgentExecution.status == ExecutionStatus.SUCCEEDED,
            )
        ).all()
    return len(done) >= count


def _text(message) -> str:
    """What a stand-in received as text (Twilio's Body, a Graph text or interactive body)."""
    if hasattr(message, "fields"):
        return message.one("Body") or ""
    payload = message.payload
    return str(
        (payload.get("text") or {}).get("body")
        or ((payload.get("interactive") or {}).get("body") or {}).get("text")
        or ""
    )


async def test_the_daily_digest_comes_at_seven_company_time(harbor):
    answer = await harbor.ask(HANA, "send me the daily digest at 7", cloud=True)
    assert "07:00" in answer and "Asia/Tokyo" in answer
    hana = harbor.user_id(HANA)
    with harbor.engine.connect() as connection:
        next_at = connection.execute(
            select(Subscription.next_at).where(
                Subscription.user_id == hana, Subscription.kind == "digest"
            )
        ).scalar_one()
    local = next_at.astimezone(TOKYO)
    assert (local.hour, local.minute) == (7, 0)
    assert timedelta(0) < next_at - utc_now() <= timedelta(days=1)
    before = len(harbor.cloud_to(HANA))

    # 07:00 in Tokyo comes: the subscription's clock is moved, the worker sends the digest.
    with harbor.engine.begin() as connection:
        connection.execute(
            update(Subscription)
            .where(Subscription.user_id == hana, Subscription.kind == "digest")
            .values(next_at=utc_now() - timedelta(seconds=1))
        )

    def digest():
        return [m for m in harbor.cloud_to(HANA)[before:] if "digest" in _text(m).lower()] or None

    assert await wait_until(digest, timeout=120), "no digest reached Hana"
    with harbor.engine.connect() as connection:
        following = connection.execute(
            select(Subscription.next_at).where(
                Subscription.user_id == hana, Subscription.kind == "digest"
            )
        ).scalar_one()
    assert following.astimezone(TOKYO).hour == 7 and following > utc_now()
    assert isinstance(following, datetime)
