"""Every attack of issue 14, against a real ``rasa run`` the way ``make run`` starts it (HTTP API
behind the token, every channel configured, the action server and a worker), on SQLite and on
PostgreSQL: signed provider requests and plain HTTP from a caller who is not who they say.

Timings are not asserted here (bench/abuse.py measures them): these tests check what a user
or an attacker would notice — who gets an answer, what it says, what is stored, what status a
request gets.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import payloads
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from connectors.core.signatures import hub_signature, twilio_signature
from connectors.email.mailgun import mailgun_signature
from connectors.local import conversation_id
from connectors.twilio import parse_form
from misybot.db.engine import create_db_engine
from misybot.db.models import AgentExecution, ConversationMessage, User
from misybot.db.session import make_session_factory, session_scope
from misybot.enums import Channel
from misybot.orchestrator.delivery import conversation_path
from testkit.database import (
    DEFAULT_POSTGRES_URL,
    inbox_rows,
    link_identities,
    postgres_schema,
    postgres_unavailable,
    seeded_database_url,
)
from testkit.payloads import (
    inbound_form,
    messaging_event,
    messaging_webhook,
    whatsapp_message,
    whatsapp_webhook,
)
from testkit.processes import listening_addresses
from testkit.stack import EveryChannel, Provider, every_channel_stack
from testkit.waiting import wait_until
from testkit.webhooks import Webhooks

pytestmark = pytest.mark.rasa_model

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT_SID = "AC" + "7" * 32
AUTH_TOKEN = "twilio-auth-token-abuse"
APP_SECRET = "meta-app-secret-abuse"
SIGNING_KEY = "mailgun-signing-key-abuse"
REST_TOKEN = "rest-token-abuse"
PUBLIC_URL = "https://misybot.example.com"
BOT_EMAIL = "bot@misy.example"
TOKENS = {"whatsapp": "wa-token", "messenger": "page-token", "instagram": "ig-token"}
SECRETS = {
    "account_sid": ACCOUNT_SID,
    "auth_token": AUTH_TOKEN,
    "app_secret": APP_SECRET,
    "mailgun_signing_key": SIGNING_KEY,
    **{f"{name}_token": token for name, token in TOKENS.items()},
}

ANA_EMAIL = "ana.ribeiro@misy-demo.example"  # admin, navigator
MARTA_EMAIL = "marta.costa@misy-demo.example"  # operator, streamliner
ANA_WHATSAPP = "whatsapp:+351910000001"
TIAGO_TWILIO = "whatsapp:+351910000004"  # operator, hub
# Linked to Tiago for these tests (Meta's ids cannot be known in advance).
TIAGO_CLOUD, TIAGO_CLOUD_TOO = "351910000301", "351910000302"
TIAGO_MESSENGER, TIAGO_INSTAGRAM = "6003000000000001", "7003000000000001"
NOT_REGISTERED = "You are not registered with MisyBot yet"
STOCK_ANSWER = "**WID-220 — blue widgets**"  # the start of Ana's (navigator) stock answer


class Stack:
    """The servers of one database (``testkit.stack``) and a look at its inbox."""

    def __init__(self, database_url: str, running: EveryChannel) -> None:
        self.database_url = database_url
        self.env = running.env
        self.rasa = running.rasa
        self.twilio = running.twilio
        self.graph = running.graph
        self.smtp = running.smtp
        self.action_url = running.action_url
        self.engine = create_db_engine(database_url, connect_args=_connect_args(running.env))

    @property
    def url(self) -> str:
        return self.rasa.url

    def rows(self, channel: Channel, address: str) -> list[ConversationMessage]:
        return inbox_rows(self.engine, channel, address)


def _connect_args(env: dict[str, str]) -> dict:
    options = env.get("PGOPTIONS")
    return {"options": options} if options else {}


PROVIDER = Provider(
    SECRETS,
    (payloads.PHONE_NUMBER_ID, payloads.PAGE_ID, payloads.IG_ACCOUNT_ID),
    public_url=PUBLIC_URL,
    bot_email=BOT_EMAIL,
)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stack(request, model_path, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"abuse-{request.param}")
    with ExitStack() as resources:
        env: dict[str, str] = {}
        if request.param == "sqlite":
            url = seeded_database_url(folder)
        else:
            reason = postgres_unavailable(DEFAULT_POSTGRES_URL)
            if reason:
                pytest.skip(reason)
            engine = resources.enter_context(postgres_schema(DEFAULT_POSTGRES_URL))
            with engine.connect() as connection:
                schema = connection.exec_driver_sql("SHOW search_path").scalar_one()
            url = DEFAULT_POSTGRES_URL
            env["PGOPTIONS"] = f"-csearch_path={schema}"  # every process: the test schema
            misybot = str(Path(sys.executable).with_name("misybot"))
            subprocess.run(
                [misybot, "demo", "seed"],
                env={**os.environ, **env, "MISYBOT_DATABASE_URL": url},
                check=True,
                capture_output=True,
            )
        env["MISYBOT_DATABASE_URL"] = url
        _link(url, env, "tiago.ferreira@misy-demo.example")
        running = resources.enter_context(
            every_channel_stack(
                PROVIDER,
                model=model_path,
                workdir=folder / "rasa",
                env=env,
                rasa_env={
                    "MISYBOT_REST_TOKEN": REST_TOKEN,
                    "MISYBOT_CHANNEL_MAX_ATTEMPTS": "1",
                    "MISYBOT_CHANNEL_RETRY_POLL_S": "0.5",
                },
            )
        )
        yield Stack(url, running)


def _link(url: str, env: dict[str, str], email: str) -> None:
    """Tiago's Meta ids, in the one database the stack's processes share."""
    identities = [
        (Channel.WHATSAPP, f"+{TIAGO_CLOUD}"),
        (Channel.WHATSAPP, f"+{TIAGO_CLOUD_TOO}"),
        (Channel.MESSENGER, TIAGO_MESSENGER),
        (Channel.INSTAGRAM, TIAGO_INSTAGRAM),
    ]
    previous = os.environ.get("PGOPTIONS")
    if env.get("PGOPTIONS"):
        os.environ["PGOPTIONS"] = env["PGOPTIONS"]  # libpq reads it: this process's engine too
    try:
        link_identities([url], email, identities)
    finally:
        if previous is None:
            os.environ.pop("PGOPTIONS", None)
        else:
            os.environ["PGOPTIONS"] = previous


# ------------------------------------------------------------------------------ helpers
async def rest(stack: Stack, sender: str, text: str, headers: dict | None = None, **extra):
    body = {"sender": sender, "message": text, **extra}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{stack.url}/webhooks/rest/webhook", json=body, headers=headers or {}
        ) as response,
    ):
        answer = await response.json(content_type=None)
        texts = " ".join(m.get("text") or "" for m in answer) if response.status == 200 else ""
        return response.status, texts


async def post_twilio(stack: Stack, fields: dict) -> int:
    return await Webhooks(stack.url, PROVIDER).twilio(fields)


async def post_meta(stack: Stack, channel: str, payload: dict | bytes) -> int:
    return await Webhooks(stack.url, PROVIDER).meta(channel, payload)


def mailgun_form(fields: dict, token: str | None = None) -> dict:
    return Webhooks("", PROVIDER).mailgun_form(fields, token)


async def post_mailgun(stack: Stack, form: dict) -> int:
    return await Webhooks(stack.url, PROVIDER).mailgun(form)


async def api(stack: Stack, method: str, path: str, token: str | None = None, **options):
    params = {"token": token} if token else {}
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, f"{stack.url}{path}", params=params, **options) as response,
    ):
        return response.status, await response.read()


async def cloud_message(stack: Stack, wa_id: str, text: str) -> None:
    payload = whatsapp_webhook(
        payloads.PHONE_NUMBER_ID, messages=[whatsapp_message(wa_id, body=text)]
    )
    assert await post_meta(stack, "whatsapp_cloud", payload) == 200


async def answered_on_cloud(stack: Stack, wa_id: str, text: str = "hi") -> str:
    """Ask on WhatsApp Cloud as a registered user; the reply's text once it is delivered."""
    before = len(stack.graph.messages_to(wa_id))
    await cloud_message(stack, wa_id, text)
    replies = await stack.graph.wait_for(wa_id, before + 1, timeout=120)
    assert len(replies) > before, "no reply"
    return json.dumps(replies[before].payload)


# ------------------------------------------------------------------------------ closed by default
async def test_the_http_api_answers_nobody_without_the_token(stack):
    whatsapp = conversation_path(ANA_WHATSAPP)
    attempts = [
        ("GET", f"/conversations/{whatsapp}/tracker", {}),
        (
            "POST",
            f"/conversations/{whatsapp}/trigger_intent?output_channel=latest",
            {"json": {"name": "check_inventory", "entities": {"sku": "WID-220"}}},
        ),
        ("POST", f"/conversations/{whatsapp}/messages", {"json": {"text": "hi", "sender": "user"}}),
        ("POST", f"/conversations/{whatsapp}/tracker/events", {"json": [{"event": "restart"}]}),
        ("PUT", f"/conversations/{whatsapp}/tracker/events", {"json": []}),
        ("POST", "/model/parse", {"json": {"text": "hi"}}),
        ("DELETE", "/model", {}),
        ("GET", "/status", {}),
        ("GET", "/domain", {}),
    ]
    for method, path, options in attempts:
        for token in (None, "guessed"):
            status, _ = await api(stack, method, path, token, **options)
            assert status in (401, 403), (method, path, token, status)
    assert not stack.twilio.delivered_to(ANA_WHATSAPP)  # nothing was pushed to her phone
    status, body = await api(
        stack, "GET", f"/conversations/{whatsapp}/tracker", stack.rasa.api_token
    )
    assert status == 200 and json.loads(body)["sender_id"] == ANA_WHATSAPP
    # The model is still loaded: a message is answered.
    assert (await rest(stack, ANA_EMAIL, "hello"))[0] == 200
    # The token is not in the process list (connectors.serve hands it over in-process).
    cmdline = Path(f"/proc/{stack.rasa.process.pid}/cmdline").read_bytes()
    assert stack.rasa.api_token.encode() not in cmdline


async def test_the_servers_listen_on_loopback_only(stack):
    action_port = int(stack.action_url.rsplit(":", 1)[1].split("/")[0])
    assert listening_addresses(stack.rasa.port) == {"0100007F"}  # 127.0.0.1, nothing else
    assert listening_addresses(action_port) == {"0100007F"}


async def test_a_rest_caller_cannot_write_as_a_whatsapp_user(stack):
    forged = {
        "verified_sender": {
            "v": 1,
            "conversation": ANA_WHATSAPP,
            "channel": "whatsapp",
            "address": "+351910000001",
            "signature": "0" * 64,
        }
    }
    remote = {"X-Forwarded-For": "203.0.113.9"}
    for headers in (remote, {}):
        status, text = await rest(
            stack,
            ANA_WHATSAPP,
            "how many WID-220 in Lisbon",
            headers,
            input_channel="whatsapp_twilio",
            metadata=forged,
        )
        assert status == 200 and NOT_REGISTERED in text and "Lisbon" not in text
    # Her WhatsApp conversation was never touched: REST senders have a namespace of their own.
    token = stack.rasa.api_token
    whatsapp = conversation_path(ANA_WHATSAPP)
    _, body = await api(stack, "GET", f"/conversations/{whatsapp}/tracker", token)
    assert [e for e in json.loads(body)["events"] if e["event"] == "user"] == []
    _, body = await api(
        stack,
        "GET",
        f"/conversations/{conversation_path(conversation_id(ANA_WHATSAPP))}/tracker",
        token,
    )
    assert {e["input_channel"] for e in json.loads(body)["events"] if e["event"] == "user"} == {
        "rest"
    }


async def test_a_rest_caller_names_a_user_only_from_this_machine_or_with_the_token(stack):
    question = "how many WID-220 in Lisbon"
    status, text = await rest(stack, f"{ANA_EMAIL}~local", question)
    assert status == 200 and text.startswith(STOCK_ANSWER)
    for name, headers in (
        ("proxied", {"X-Forwarded-For": "203.0.113.9"}),
        ("tunnelled", {"Forwarded": "for=203.0.113.9"}),
        ("a web page", {"Origin": "https://evil.example"}),
        ("a wrong token", {"X-Real-IP": "203.0.113.9", "Authorization": "Bearer nope"}),
    ):
        tag = name.replace(" ", "-")
        status, text = await rest(stack, f"{ANA_EMAIL}~{tag}", question, headers)
        assert status == 200 and NOT_REGISTERED in text and "Lisbon" not in text, name
    with_token = {"X-Forwarded-For": "203.0.113.9", "Authorization": f"Bearer {REST_TOKEN}"}
    status, text = await rest(stack, f"{ANA_EMAIL}~token", question, with_token)
    assert status == 200 and text.startswith(STOCK_ANSWER), text


async def test_a_result_is_released_only_to_the_user_who_started_it(stack):
    status, _ = await rest(stack, f"{ANA_EMAIL}~results", "how many WID-220 in Lisbon")
    assert status == 200
    with session_scope(make_session_factory(stack.engine)) as session:
        ana = session.execute(select(User.id).where(User.email == ANA_EMAIL)).scalar_one()
        execution = (
            session.execute(
                select(AgentExecution.id)
                .where(AgentExecution.user_id == ana)
                .order_by(AgentExecution.id.desc())
            )
            .scalars()
            .first()
        )
    claim = f'/EXTERNAL_agent_result{{"execution_id": "{execution}"}}'
    status, text = await rest(stack, f"{MARTA_EMAIL}~results", claim)
    assert status == 200 and f"I couldn't find the result of #{execution}" in text
    # Ana herself, in another conversation than the one she asked in: not there either.
    status, text = await rest(stack, f"{ANA_EMAIL}~elsewhere", claim)
    assert f"I couldn't find the result of #{execution}" in text
    status, text = await rest(stack, f"{ANA_EMAIL}~results", claim)
    assert text.startswith(STOCK_ANSWER)


# ------------------------------------------------------------------------------ bounded work
def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.parametrize("size", [100_000, 1_000_000])
async def test_a_huge_message_on_any_channel_is_cut_or_refused_and_others_are_answered(stack, size):
    text = "stock WID-220 in Lisbon please " * (size // 30)
    outcomes = {
        "whatsapp_twilio": await post_twilio(
            stack, inbound_form(TIAGO_TWILIO, text, account_sid=ACCOUNT_SID)
        ),
        "rest": (await rest(stack, f"{ANA_EMAIL}~huge", text))[0],
    }
    for channel, sender in (("messenger", TIAGO_MESSENGER), ("instagram", TIAGO_INSTAGRAM)):
        account = payloads.PAGE_ID if channel == "messenger" else payloads.IG_ACCOUNT_ID
        event = messaging_event(sender, account, message={"text": text})
        payload = messaging_webhook(
            "page" if channel == "messenger" else "instagram", account, [event]
        )
        outcomes[channel] = await post_meta(stack, channel, payload)
    cloud = whatsapp_webhook(
        payloads.PHONE_NUMBER_ID, messages=[whatsapp_message(TIAGO_CLOUD, body=text)]
    )
    outcomes["whatsapp_cloud"] = await post_meta(stack, "whatsapp_cloud", cloud)
    mail = mailgun_form({"from": ANA_EMAIL, "subject": "big", "body-plain": text})
    outcomes["email"] = await post_mailgun(stack, mail)
    # Refused with a 413 where the body is over the channel's limit (Twilio's forms and REST
    # bodies: 64 KB), else taken and cut: never a 5xx.
    for channel, status in outcomes.items():
        assert status == (413 if channel in ("whatsapp_twilio", "rest") else 200), (channel, status)
    # Another sender is answered meanwhile (bench/abuse.py measures how soon).
    await answered_on_cloud(stack, TIAGO_CLOUD_TOO, "check stock pls")
    # What was taken was cut to what the channel's provider allows, and answered.
    for channel, address, limit in (
        (Channel.WHATSAPP, f"+{TIAGO_CLOUD}", 4096),
        (Channel.MESSENGER, TIAGO_MESSENGER, 2000),
        (Channel.INSTAGRAM, TIAGO_INSTAGRAM, 999),
        (Channel.EMAIL, ANA_EMAIL, 4000),
    ):
        rows = await wait_until(
            lambda c=channel, a=address: (
                (found := stack.rows(c, a)) and found[-1].status == "processed" and found
            ),
            timeout=120,
        )
        assert rows and len(rows[-1].body) <= limit, (channel, len(rows[-1].body))
    # The mail's reply says how much of it was read.
    noted = await wait_until(
        lambda: [m for m in _plain_mails(stack, ANA_EMAIL) if "first 4,000" in m]
    )
    assert noted
    assert _rss_mb(stack.rasa.process.pid) < 2048


def _plain_mails(stack: Stack, address: str) -> list[str]:
    return [
        mail.get_body(preferencelist=("plain",)).get_content()
        for mail in stack.smtp.delivered_to(address)
    ]


# ------------------------------------------------------------------------------ malformed input
def _malformed_requests() -> list[tuple[str, str, object]]:
    """(name, channel, payload) of signed requests no provider would send."""
    long_id = "9" * 300
    cloud = payloads.PHONE_NUMBER_ID

    def cloud_item(**item) -> dict:
        return whatsapp_webhook(cloud, messages=[{**whatsapp_message("351910000399"), **item}])

    def page(event: dict) -> dict:
        return messaging_webhook("page", payloads.PAGE_ID, [event])

    form = inbound_form("whatsapp:+351910000398", "hi", account_sid=ACCOUNT_SID)
    return [
        (
            "entry is a string",
            "whatsapp_cloud",
            {"object": "whatsapp_business_account", "entry": "x"},
        ),
        (
            "metadata is a list",
            "whatsapp_cloud",
            {
                "object": "whatsapp_business_account",
                "entry": [
                    {
                        "changes": [
                            {
                                "field": "messages",
                                "value": {
                                    "metadata": [],
                                    "messages": [whatsapp_message("1", body="x")],
                                },
                            }
                        ]
                    }
                ],
            },
        ),
        ("text is a number", "whatsapp_cloud", cloud_item(text=5)),
        (
            "interactive reply is a string",
            "whatsapp_cloud",
            cloud_item(type="interactive", interactive={"button_reply": "x"}),
        ),
        ("NUL in a text", "whatsapp_cloud", cloud_item(text={"body": "a\u0000b"})),
        (
            "lone surrogate in a text",
            "whatsapp_cloud",
            json.dumps(cloud_item(text={"body": "x"})).replace('"x"', '"\\ud800"').encode(),
        ),
        ("a from of 300 digits", "whatsapp_cloud", cloud_item(**{"from": long_id})),
        ("an id of 300 characters", "whatsapp_cloud", cloud_item(id="w" * 300)),
        (
            "NaN coordinates",
            "whatsapp_cloud",
            cloud_item(type="location", location={"latitude": "nan", "longitude": "inf"}),
        ),
        (
            "a status id of 300",
            "whatsapp_cloud",
            whatsapp_webhook(cloud, statuses=[{"id": "s" * 300, "status": "read"}]),
        ),
        ("JSON nested 100k deep", "whatsapp_cloud", b"[" * 100_000 + b"]" * 100_000),
        (
            "sender is a string",
            "messenger",
            page({"sender": "x", "message": {"mid": "m", "text": "hi"}}),
        ),
        (
            "a PSID of 300 digits",
            "messenger",
            page({"sender": {"id": long_id}, "message": {"mid": "m1", "text": "hi"}}),
        ),
        (
            "quick reply is a list",
            "messenger",
            page(
                {
                    "sender": {"id": "6003000000000099"},
                    "message": {"mid": "m2", "text": "x", "quick_reply": []},
                }
            ),
        ),
        (
            "attachments of junk",
            "instagram",
            messaging_webhook(
                "instagram",
                payloads.IG_ACCOUNT_ID,
                [
                    {
                        "sender": {"id": "7"},
                        "message": {"mid": "m3", "attachments": [1, "x", {"payload": []}]},
                    }
                ],
            ),
        ),
        ("NUL in a Twilio body", "whatsapp_twilio", {**form, "Body": "a\u0000b"}),
        ("a Twilio From of 300", "whatsapp_twilio", {**form, "From": "whatsapp:+" + long_id}),
        ("NaN latitude", "whatsapp_twilio", {**form, "Latitude": "nan", "Longitude": "1"}),
        ("a NUL mailgun token", "email", "a\u0000b"),
        ("a 300-character mailgun token", "email", "t" * 300),
        ("mailgun headers that are not pairs", "email", {"message-headers": '[["From"], 1]'}),
        (
            "a From of 300 characters",
            "email",
            {"from": "x" * 300 + "@example.com", "body-plain": "hi"},
        ),
        ("REST sender an object", "rest", {"sender": {"a": 1}, "message": "hi"}),
        ("REST message a number", "rest", {"sender": "x", "message": 5}),
        ("REST not JSON", "rest", b"\xff\xfe{"),
    ]


async def _send(stack: Stack, channel: str, payload) -> int:
    if channel in ("whatsapp_cloud", "messenger", "instagram"):
        return await post_meta(stack, channel, payload)
    if channel == "whatsapp_twilio":
        return await post_twilio(stack, payload)
    if channel == "rest":
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return await Webhooks(stack.url, PROVIDER).post("/webhooks/rest/webhook", body, {})
    if isinstance(payload, str):  # a token
        form = mailgun_form({"from": ANA_EMAIL, "body-plain": "hi"}, token="x")
        form["token"] = payload
        form["signature"] = mailgun_signature(SIGNING_KEY, form["timestamp"], payload)
        return await post_mailgun(stack, form)
    return await post_mailgun(stack, mailgun_form(payload))


async def test_malformed_signed_requests_get_a_4xx_or_a_2xx_never_a_5xx(stack):
    statuses = {}
    for name, channel, payload in _malformed_requests():
        statuses[name] = await _send(stack, channel, payload)
    assert {name: s for name, s in statuses.items() if s >= 500} == {}
    assert statuses["a from of 300 digits"] == 200  # refused alone: Meta must not resend it
    assert statuses["a Twilio From of 300"] == 400
    assert statuses["a NUL mailgun token"] == 400 and statuses["REST not JSON"] == 400
    # Nothing stopped: the next normal message is answered.
    await answered_on_cloud(stack, TIAGO_CLOUD)


async def test_a_bad_item_in_a_whatsapp_batch_keeps_none_of_the_good_ones_out(stack):
    before = {
        wa_id: len(stack.graph.messages_to(wa_id)) for wa_id in (TIAGO_CLOUD, TIAGO_CLOUD_TOO)
    }
    batch = whatsapp_webhook(
        payloads.PHONE_NUMBER_ID,
        messages=[
            whatsapp_message(TIAGO_CLOUD, body="hello"),
            whatsapp_message("4" * 300, body="hello"),
            {**whatsapp_message("351910000397", body="hi"), "id": "w" * 500},
            whatsapp_message(TIAGO_CLOUD_TOO, body="hello"),
        ],
    )
    assert await post_meta(stack, "whatsapp_cloud", batch) == 200
    for wa_id, count in before.items():
        replies = await stack.graph.wait_for(wa_id, count + 1, timeout=120)
        assert len(replies) == count + 1, wa_id


async def test_a_mailgun_token_is_taken_once_however_many_post_it_at_once(stack):
    before = len(stack.smtp.delivered_to(MARTA_EMAIL))
    form = mailgun_form(
        {"from": MARTA_EMAIL, "subject": "race", "body-plain": "hi", "Message-Id": "<race@x>"}
    )
    statuses = await asyncio.gather(*(post_mailgun(stack, form) for _ in range(5)))
    assert sorted(statuses) == [200, 403, 403, 403, 403]
    assert await post_mailgun(stack, form) == 403  # and later
    await wait_until(lambda: len(stack.smtp.delivered_to(MARTA_EMAIL)) > before)
    # A request refused as malformed keeps its token used: fixing the body does not replay it.
    broken = mailgun_form({"from": MARTA_EMAIL, "message-headers": "not json"})
    assert await post_mailgun(stack, broken) == 400
    assert await post_mailgun(stack, {**broken, "message-headers": "[]", "body-plain": "hi"}) == 403
    mails = await wait_until(lambda: len(stack.smtp.delivered_to(MARTA_EMAIL)) == before + 1)
    assert mails


# ------------------------------------------------------------------------------ fuzzing
HTTP_FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
fuzzed = st.one_of(
    st.tuples(st.just("whatsapp_cloud"), payloads.whatsapp_payload),
    st.tuples(st.just("messenger"), payloads.messenger_payload),
    st.tuples(st.just("instagram"), payloads.instagram_payload),
    st.tuples(st.just("whatsapp_twilio"), payloads.twilio_form),
    st.tuples(st.just("email"), payloads.mailgun_fields),
    st.tuples(st.just("rest"), payloads.any_json),
)


def _fuzz_request(stack: Stack, channel: str, payload) -> requests.Response:
    """``payload`` posted as ``channel``'s provider would sign it (sync: Hypothesis drives it)."""
    if channel in ("whatsapp_cloud", "messenger", "instagram"):
        body = json.dumps(payload).encode("utf-8", "surrogatepass")
        headers = {"X-Hub-Signature-256": hub_signature(APP_SECRET, body)}
        return requests.post(
            f"{stack.url}/webhooks/{channel}/webhook", data=body, headers=headers, timeout=60
        )
    if channel == "whatsapp_twilio":
        body = urlencode(payload).encode()
        signature = twilio_signature(
            AUTH_TOKEN, f"{PUBLIC_URL}/webhooks/whatsapp_twilio/webhook", parse_form(body)
        )
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        }
        return requests.post(
            f"{stack.url}/webhooks/whatsapp_twilio/webhook", data=body, headers=headers, timeout=60
        )
    if channel == "email":
        body = urlencode(mailgun_form(payload)).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return requests.post(
            f"{stack.url}/webhooks/email/mailgun", data=body, headers=headers, timeout=60
        )
    body = json.dumps(payload).encode("utf-8", "surrogatepass")
    return requests.post(f"{stack.url}/webhooks/rest/webhook", data=body, timeout=60)


def test_fuzzed_signed_webhooks_never_get_a_5xx_and_the_next_message_is_answered(stack):
    @HTTP_FUZZ
    @given(request=fuzzed)
    def post_anything(request) -> None:
        channel, payload = request
        response = _fuzz_request(stack, channel, payload)
        assert response.status_code < 500, (channel, response.status_code, response.text[:300])

    post_anything()
    asyncio.run(answered_on_cloud(stack, TIAGO_CLOUD))


# ------------------------------------------------------------------------------ poison
# Last in this module: it kills the server and starts it again.
async def test_a_demo_users_export_holds_their_messages_events_and_runs_and_nobody_elses(
    stack, tmp_path
):
    """Issue 18: ``misybot privacy export`` of Tiago, after this module's conversations with
    him (every channel of his, one conversation) and with others (Ana among them)."""
    out = tmp_path / "tiago.json"
    misybot = str(Path(sys.executable).with_name("misybot"))
    exported = subprocess.run(
        [misybot, "privacy", "export", "--company", "demo", "--admin", ANA_EMAIL,
         "--user", "tiago.ferreira@misy-demo.example", "--out", str(out)],
        env={**os.environ, **stack.env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stdout + exported.stderr
    document = json.loads(out.read_text())
    received = document["messages_received"]
    assert {m["channel"] for m in received} >= {"whatsapp", "messenger", "instagram"}
    assert "check stock pls" in {m["body"] for m in received}
    said = [e.get("text") for events in document["conversations"].values() for e in events]
    assert "check stock pls" in said
    assert document["agent_executions"] and document["messages_sent"]
    text = json.dumps(document)
    for other in (ANA_EMAIL, "Ana Ribeiro", ANA_WHATSAPP.removeprefix("whatsapp:"), MARTA_EMAIL):
        assert other not in text


async def test_a_message_in_flight_when_the_server_dies_is_given_up_with_an_apology(stack):
    """With MISYBOT_CHANNEL_MAX_ATTEMPTS=1 here: the message whose turn was under way when the
    process died is not run again at the restart; its sender gets the apology in their voice,
    an admin sees it and can retry it, and the running server then answers it."""
    stack.twilio.hold[TIAGO_TWILIO] = 1  # the reply "hangs": the kill lands mid-turn
    fields = inbound_form(TIAGO_TWILIO, "how many WID-220 in Lisbon", account_sid=ACCOUNT_SID)
    assert await post_twilio(stack, fields) == 200
    assert await wait_until(lambda: stack.twilio.hold[TIAGO_TWILIO] == 0), "the turn never began"
    stack.rasa.kill()
    (poison,) = [
        row for row in stack.rows(Channel.WHATSAPP, "+351910000004") if row.status == "received"
    ]
    assert poison.attempts == 1
    stack.rasa.start(timeout=240)
    # Tiago's voice is hub's. (A form left open in his conversation, on another of his
    # channels, may ask its question again after the apology.)
    apology = (await stack.twilio.wait_for(TIAGO_TWILIO, 1, timeout=120))[0]
    assert apology.one("Body").startswith("⚠️ Sorry, your last message could not be processed")
    failed = await wait_until(
        lambda: [
            r
            for r in stack.rows(Channel.WHATSAPP, "+351910000004")
            if r.id == poison.id and r.status == "failed"
        ]
    )
    assert failed[0].error == "gave up after 1 attempt"
    misybot = str(Path(sys.executable).with_name("misybot"))
    listed = subprocess.run(
        [misybot, "inbox", "failed"],
        env={**os.environ, **stack.env},
        capture_output=True,
        text=True,
    )
    assert f"#{poison.id}" in listed.stdout and "gave up after 1 attempt" in listed.stdout
    retried = subprocess.run(
        [misybot, "inbox", "retry", str(poison.id)],
        env={**os.environ, **stack.env},
        capture_output=True,
        text=True,
    )
    assert retried.returncode == 0, retried.stdout
    answered = await wait_until(
        lambda: [
            reply
            for reply in stack.twilio.delivered_to(TIAGO_TWILIO)
            if "WID-220" in (reply.one("Body") or "")
        ],
        timeout=120,
    )
    assert answered, "the retried message was never answered"
