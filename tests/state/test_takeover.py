"""Replicas of the channel runtime on one database, on SQLite and PostgreSQL: a sender's messages
accepted by either are processed once, in order, by one of them at a time; a turn taken up again
after its process died does not send again what that process had sent; the rate limit counts
what every replica accepted.

Rasa's message handler is played by a small coroutine (it is Rasa's code, not ours); the inbox,
the runtimes, their locks and turn loops are the real ones.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from connectors.core.inbox import Inbox, OutboundRecord
from connectors.core.output import InboxOutput
from connectors.core.ratelimit import Limits, SenderRateLimiter, StoredRateLimiter
from connectors.core.runtime import ChannelRuntime, conversation_of
from connectors.core.sanitize import MAX_ADDRESS_CHARS
from connectors.core.settings import ChannelTuning
from connectors.core.turns import TurnLoop
from connectors.twilio import parse_form, parse_inbound
from misybot.db.models import (
    ChannelIdentity,
    ConversationEvent,
    ConversationMessage,
    OutboundMessage,
)
from misybot.db.session import make_session_factory, session_scope
from misybot.enums import Channel, DeliveryStatus, InboxStatus, Role
from testkit.database import Builder
from testkit.payloads import inbound_form
from testkit.waiting import wait_until

SENDERS = [f"whatsapp:+3519444440{index:02d}" for index in range(3)]


@pytest.fixture
def inbox(engine):
    return Inbox(make_session_factory(engine))


@pytest.fixture
def loops():
    started = [TurnLoop(f"replica-{name}") for name in "ab"]
    yield started
    for loop in started:
        loop.stop()


def register(inbox, senders) -> None:
    with session_scope(inbox.factory) as session:
        acme = Builder(session)
        for index, sender in enumerate(senders):
            user = acme.user(f"Operator {index}", Role.OPERATOR, f"op{index}@acme.example")
            address = sender.removeprefix("whatsapp:")
            session.add(ChannelIdentity(user_id=user.id, channel=Channel.WHATSAPP, address=address))


def message(sid: str, sender: str, text: str):
    fields = inbound_form(sender, text, account_sid="AC1", MessageSid=sid)
    return parse_inbound(parse_form(urlencode(fields).encode()))


class Provider:
    """Plays the provider's API: accepts every send, in the order they arrive."""

    def __init__(self) -> None:
        self.delivered: list[tuple[str, str]] = []
        self.ids = itertools.count(1)


class ProviderOutput(InboxOutput):
    """An output as the connectors' are: a send, then its record."""

    def __init__(self, inbox: Inbox, stored, provider: Provider) -> None:
        super().__init__(inbox, stored)
        self.provider = provider

    @classmethod
    def name(cls) -> str:
        return "whatsapp_twilio"

    async def send_text_message(self, recipient_id: str, text: str, **kwargs) -> None:
        self.provider.delivered.append((recipient_id, text))
        self.sent_texts.append(text)
        record = OutboundRecord(
            Channel.WHATSAPP,
            recipient_id.removeprefix("whatsapp:"),
            text,
            DeliveryStatus.QUEUED,
            1,
            provider_message_id=f"SMout{next(self.provider.ids)}",
        )
        await self.record(record)


def replica(inbox, loop, provider) -> ChannelRuntime:
    tuning = ChannelTuning(rate_limit_per_minute=100, retry_poll_s=0.2)
    output = lambda stored: ProviderOutput(inbox, stored, provider)  # noqa: E731
    return ChannelRuntime("whatsapp_twilio", inbox, output, tuning, turn_loop=loop)


def rows(inbox) -> list[ConversationMessage]:
    with session_scope(inbox.factory) as session:
        found = list(session.execute(select(ConversationMessage).order_by("id")).scalars())
        session.expunge_all()
        return found


async def died_after_sending(inbox, provider: Provider, text: str, response: dict):
    """A stored message whose first attempt (counted) sent ``response`` and got it accepted,
    then died with its process: its inbox row is still "received"."""
    sender = SENDERS[0]
    register(inbox, [sender])
    stored = inbox.store(message("SM1", sender, text), InboxStatus.RECEIVED)
    assert inbox.begin_attempt(stored.id) == 1
    await ProviderOutput(inbox, stored, provider).send_response(sender, response)
    return stored


async def test_each_senders_messages_are_processed_once_in_order_across_two_replicas(inbox, loops):
    register(inbox, SENDERS)
    provider = Provider()
    seen: list[tuple[str, str, str]] = []  # (replica, sender, text) as the turns began

    def rasa(name):
        async def handle(user_message) -> None:
            sender = f"whatsapp:{user_message.metadata['address']}"  # not its person's id
            seen.append((name, sender, user_message.text))
            await asyncio.sleep(0.01)  # the turn awaits (the action server): others interleave
            answer = {"text": f"answer to {user_message.text}"}
            await user_message.output_channel.send_response(user_message.sender_id, answer)

        return handle

    replicas = [replica(inbox, loop, provider) for loop in loops]
    for name, runtime in zip("ab", replicas, strict=True):
        await runtime.start(rasa(name))
    sent = {sender: [f"{sender[-2:]} message {n}" for n in range(6)] for sender in SENDERS}
    for n in range(6):  # each sender's messages land on both replicas, alternately
        for index, sender in enumerate(SENDERS):
            runtime = replicas[(n + index) % 2]
            assert await runtime.accept(message(f"SM{index}x{n}", sender, sent[sender][n]))
    total = len(SENDERS) * 6
    assert await wait_until(
        lambda: sum(row.status == "processed" for row in rows(inbox)) == total or None
    )
    for sender in SENDERS:
        assert [text for _, who, text in seen if who == sender] == sent[sender]
        answers = [text for who, text in provider.delivered if who == sender]
        assert answers == [f"answer to {text}" for text in sent[sender]]
    for runtime in replicas:
        runtime.stop()


async def test_a_turn_taken_up_after_a_crash_does_not_send_again_what_was_sent(inbox, loops):
    sender = SENDERS[0]
    provider = Provider()
    # The replica that took it died after its first response had been sent and recorded.
    first = {"text": "Working on it.", "timestamp": 1.0}
    stored = await died_after_sending(inbox, provider, "make the report", first)

    async def rasa(user_message) -> None:  # the same turn, run again: the same two responses
        for text in ("Working on it.", "Here is your report."):
            response = {"text": text, "timestamp": 2.0, "metadata": {"run": 2}}
            await user_message.output_channel.send_response(sender, response)

    survivor = replica(inbox, loops[0], provider)
    await survivor.start(rasa)
    assert await wait_until(lambda: rows(inbox)[0].status == "processed" or None)
    assert [text for _, text in provider.delivered] == ["Working on it.", "Here is your report."]
    with session_scope(inbox.factory) as session:
        bodies = session.execute(
            select(OutboundMessage.body)
            .where(OutboundMessage.conversation_message_id == stored.id)
            .order_by(OutboundMessage.id)
        ).scalars()
        assert list(bodies) == ["Working on it.", "Here is your report."]  # each on record once
    assert rows(inbox)[0].attempts == 2
    survivor.stop()


async def test_a_rerun_that_says_something_else_sends_it(inbox, loops):
    sender = SENDERS[0]
    provider = Provider()
    await died_after_sending(inbox, provider, "stock?", {"text": "12 left."})

    async def rasa(user_message) -> None:  # stock changed in between: a different answer
        await user_message.output_channel.send_response(sender, {"text": "11 left."})

    survivor = replica(inbox, loops[0], provider)
    await survivor.start(rasa)
    assert await wait_until(lambda: rows(inbox)[0].status == "processed" or None)
    assert [text for _, text in provider.delivered] == ["12 left.", "11 left."]
    survivor.stop()


def test_the_rate_limit_counts_a_senders_messages_on_every_replica_together(engine):
    limits = Limits(limit=10, window_s=60, backlog_windows=2)
    one_process = SenderRateLimiter(10, 60, 2)
    replicas = [StoredRateLimiter(engine, limits) for _ in range(2)]
    moments = [i / 10 for i in range(35)] + [61.0, 241.0]
    shared = [
        replicas[index % 2].admit_many([("whatsapp_twilio", "+1", now)])[0]
        for index, now in enumerate(moments)
    ]
    assert shared == [one_process.admit("whatsapp_twilio", "+1", now) for now in moments]
    assert [a.allowed for a in shared[:35]] == [True] * 30 + [False] * 5
    # Another sender, or the same number on another channel, has a schedule of its own.
    (other,) = replicas[0].admit_many([("whatsapp_twilio", "+2", 3.0)])
    (elsewhere,) = replicas[1].admit_many([("messenger", "+1", 3.0)])
    assert other.delay_s == elsewhere.delay_s == 0
    # The longest address a channel lets through, with its provider's prefix.
    (longest,) = replicas[0].admit_many([("email", "whatsapp:" + "a" * MAX_ADDRESS_CHARS, 3.0)])
    assert longest.allowed
    assert replicas[0].forget_finished(now=241.0 + 86_401) == 4


async def test_a_turn_that_ran_to_the_end_before_the_crash_is_not_run_again(inbox, loops):
    """The process died after Rasa saved the turn and before the inbox recorded its finish."""
    provider = Provider()
    stored = await died_after_sending(
        inbox, provider, "received 5 WID-220", {"text": "Stock updated."}
    )
    with session_scope(inbox.factory) as session:
        user = {"event": "user", "text": "received 5 WID-220", "message_id": "SM1"}
        session.add(
            ConversationEvent(
                conversation_id=conversation_of(stored),  # the linked sender's person's
                type_name="user",
                timestamp=1.0,
                data=json.dumps(user),
            )
        )
    ran: list = []

    async def rasa(user_message) -> None:  # running it again would update the stock twice
        ran.append(user_message)

    survivor = replica(inbox, loops[0], provider)
    await survivor.start(rasa)
    assert await wait_until(lambda: rows(inbox)[0].status == "processed" or None)
    assert ran == [] and [text for _, text in provider.delivered] == ["Stock updated."]
    assert rows(inbox)[0].response_body == "Stock updated."
    survivor.stop()


async def test_a_message_that_only_waited_for_a_turn_slot_was_not_attempted(inbox, loops):
    """Attempts are counted once a turn holds its slot: a message queued behind others when
    its process died is not taken for one that crashed it."""
    register(inbox, SENDERS)
    provider = Provider()
    release = asyncio.Event()

    async def rasa(user_message) -> None:
        await release.wait()  # every slot busy until the test says

    runtime = ChannelRuntime(
        "whatsapp_twilio",
        inbox,
        lambda stored: ProviderOutput(inbox, stored, provider),
        ChannelTuning(retry_poll_s=0, concurrent_turns=2),
        turn_loop=loops[0],
    )
    await runtime.start(rasa)
    for index, sender in enumerate(SENDERS):  # three senders, two slots
        await runtime.accept(message(f"SM{index}", sender, "hi"))
    assert await wait_until(lambda: sum(row.attempts for row in rows(inbox)) == 2 or None)
    assert sorted(row.attempts for row in rows(inbox)) == [0, 1, 1]  # the third only waits
    loops[0].call_soon(release.set)
    assert await wait_until(lambda: all(row.status == "processed" for row in rows(inbox)) or None)
    assert [row.attempts for row in rows(inbox)] == [1, 1, 1]
    runtime.stop()


async def test_a_sender_waiting_for_its_rate_window_holds_up_nobody(inbox, loops, monkeypatch):
    """A message over its sender's rate limit waits for its window holding no lock and no
    place among the senders drained at once."""
    from connectors.core import runtime as runtime_module

    monkeypatch.setattr(runtime_module, "DRAINS_AT_ONCE", 1)
    register(inbox, SENDERS[:2])
    seen: list[str] = []

    async def rasa(user_message) -> None:
        seen.append(user_message.text)

    provider = Provider()
    tuning = ChannelTuning(rate_limit_per_minute=1, rate_limit_window_s=30, retry_poll_s=0)
    output = lambda stored: ProviderOutput(inbox, stored, provider)  # noqa: E731
    runtime = ChannelRuntime("whatsapp_twilio", inbox, output, tuning, turn_loop=loops[0])
    await runtime.start(rasa)
    first, second = SENDERS[:2]
    await runtime.accept(message("SMa1", first, "first sender, now"))
    await runtime.accept(message("SMa2", first, "first sender, in 30 s"))
    assert await wait_until(lambda: seen == ["first sender, now"] or None)
    await runtime.accept(message("SMb1", second, "second sender"))
    assert await wait_until(lambda: "second sender" in seen or None)
    assert "first sender, in 30 s" not in seen  # its window is 30 s away
    runtime.stop()
