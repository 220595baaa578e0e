"""The channel runtime against poison, slow and anonymous messages, on SQLite and PostgreSQL.

Rasa's message handler is played by a small coroutine (it is Rasa's code, not ours); the inbox,
the runtime, the turn loop and the CLI are the real ones.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from rasa.core.channels.channel import CollectingOutputChannel
from sqlalchemy import select, update

from connectors.core.runtime import (
    FAILED_COMMAND,
    LINK_COMMAND,
    UNREGISTERED_COMMAND,
    ChannelRuntime,
)
from connectors.core.settings import ChannelTuning
from connectors.core.turns import TurnLoop
from connectors.twilio import parse_form, parse_inbound
from misybot.db.models import ChannelIdentity, ConversationMessage, User
from misybot.db.session import session_scope
from misybot.enums import Channel, InboxStatus, Role
from misybot.identity import METADATA_KEY, VerifiedSender, person_conversation
from misybot.inbox_admin import failed_messages, retry_message
from misybot.people.invitations import invite
from misybot.people.team import admin_actor
from misybot.settings import get_settings
from testkit.database import Builder
from testkit.payloads import inbound_form
from testkit.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
KNOWN = "whatsapp:+351922222222"
OTHER = "whatsapp:+351922222223"


class Output(CollectingOutputChannel):
    @property
    def sent_texts(self) -> list[str]:  # what the runtime records as the answer
        return [message["text"] for message in self.messages]


def message(sid: str, sender: str = KNOWN, text: str = "hi"):
    fields = inbound_form(sender, text, account_sid="AC1", MessageSid=sid)
    return parse_inbound(parse_form(urlencode(fields).encode()))


def register(inbox, *senders: str) -> list[int]:
    """Link each sender to a new user; their ids."""
    with session_scope(inbox.factory) as session:
        acme = Builder(session)
        users = []
        for index, sender in enumerate(senders):
            user = acme.user(f"Operator {index}", Role.OPERATOR, f"op{index}@acme.example")
            address = sender.removeprefix("whatsapp:")
            session.add(ChannelIdentity(user_id=user.id, channel=Channel.WHATSAPP, address=address))
            users.append(user.id)
        return users


def row(inbox, message_id: int) -> ConversationMessage:
    with session_scope(inbox.factory) as session:
        found = session.get(ConversationMessage, message_id)
        session.expunge(found)
        return found


@pytest.fixture
def turns():
    loop = TurnLoop("abuse-turns")
    yield loop
    loop.stop()


def runtime(inbox, turns, **tuning) -> ChannelRuntime:
    """A Twilio channel runtime on ``turns``, its tuning's defaults but for ``tuning``."""
    tuning = ChannelTuning(**{"retry_poll_s": 0, **tuning})
    return ChannelRuntime(
        "whatsapp_twilio", inbox, lambda stored: Output(), tuning, turn_loop=turns
    )


class Rasa:
    """Plays Rasa's handler: records each message, answers it, or does what a test asks."""

    def __init__(self, behaviour=None) -> None:
        self.seen: list = []
        self.behaviour = behaviour

    async def __call__(self, user_message) -> None:
        self.seen.append(user_message)
        if self.behaviour is not None:
            await self.behaviour(user_message)
        await user_message.output_channel.send_text_message(
            user_message.sender_id, f"answer to {user_message.text}"
        )


async def test_a_sender_no_user_is_linked_to_reaches_rasa_without_their_text(inbox, turns):
    (known,) = register(inbox, KNOWN)
    rasa = Rasa()
    channel = runtime(inbox, turns)
    await channel.start(rasa)
    await channel.accept(message("SM1", sender=KNOWN, text="stock WID-220"))
    await channel.accept(message("SM2", sender=OTHER, text="stock WID-220 " * 300))
    await wait_until(lambda: len(rasa.seen) == 2)
    texts = {seen.sender_id: seen.text for seen in rasa.seen}
    # The user writes in their own conversation, whatever the channel; no NLU for the other.
    person = person_conversation(known)
    assert texts == {person: "stock WID-220", OTHER: UNREGISTERED_COMMAND}
    # Both carry the sender their connector verified, signed for their own conversation.
    key = get_settings().signing_key
    addresses = {person: KNOWN, OTHER: OTHER}
    for seen in rasa.seen:
        verified = VerifiedSender.from_signed(seen.metadata[METADATA_KEY], key, seen.sender_id)
        assert verified == VerifiedSender(
            seen.sender_id, "whatsapp", addresses[seen.sender_id].removeprefix("whatsapp:")
        )
        assert VerifiedSender.from_signed(seen.metadata[METADATA_KEY], key, "someone else") is None


async def test_an_attempt_is_on_record_before_rasa_sees_the_message(inbox, turns):
    register(inbox, KNOWN)
    stored = inbox.store(message("SM1"), InboxStatus.RECEIVED)
    attempts_seen = []

    async def look(_message) -> None:
        attempts_seen.append(row(inbox, stored.id).attempts)

    rasa = Rasa(look)
    await runtime(inbox, turns).start(rasa)
    await wait_until(lambda: row(inbox, stored.id).status == "processed")
    assert attempts_seen == [1]  # a crash during the turn would have counted


async def test_a_message_that_crashed_the_process_each_time_is_given_up_with_an_apology(
    inbox, turns
):
    register(inbox, KNOWN)
    poison = inbox.store(message("SM1", text="poison"), InboxStatus.RECEIVED)
    with session_scope(inbox.factory) as session:  # three processes died while it ran
        session.execute(
            update(ConversationMessage)
            .where(ConversationMessage.id == poison.id)
            .values(attempts=3)
        )
    rasa = Rasa()
    assert await runtime(inbox, turns, max_attempts=3).start(rasa) == 1
    failed = await wait_until(lambda: (found := row(inbox, poison.id)).status == "failed" and found)
    assert [seen.text for seen in rasa.seen] == [FAILED_COMMAND]  # never its text again
    assert failed.error == "gave up after 3 attempts"
    assert failed.response_body == f"answer to {FAILED_COMMAND}"  # the apology, on record
    # A restart leaves it alone; an admin sees it with its error.
    assert await runtime(inbox, turns).start(Rasa()) == 0
    with session_scope(inbox.factory) as session:
        (listed,) = failed_messages(session)
    assert (listed.id, listed.attempts, listed.error) == (poison.id, 4, failed.error)


async def test_a_failing_turn_is_apologised_for_and_the_senders_next_message_answered(inbox, turns):
    register(inbox, KNOWN)

    async def fail_on_poison(user_message) -> None:
        if user_message.text == "poison":
            raise RuntimeError("the model choked")

    rasa = Rasa(fail_on_poison)
    channel = runtime(inbox, turns)
    await channel.start(rasa)
    await channel.accept(message("SM1", text="poison"))
    await channel.accept(message("SM2", text="next"))
    await wait_until(lambda: [seen.text for seen in rasa.seen][-1:] == ["next"])
    rows = await wait_until(
        lambda: (found := _rows(inbox)) and all(r.status != "received" for r in found) and found
    )
    assert [(r.body, r.status) for r in rows] == [("poison", "failed"), ("next", "processed")]
    assert rows[0].error == "RuntimeError: the model choked"
    assert [seen.text for seen in rasa.seen] == ["poison", FAILED_COMMAND, "next"]


async def test_a_turn_over_its_budget_is_stopped_and_other_senders_are_answered(inbox, turns):
    register(inbox, KNOWN, OTHER)
    never = asyncio.Event()

    async def hang_on_slow(user_message) -> None:
        if user_message.text == "slow":
            await never.wait()

    rasa = Rasa(hang_on_slow)
    channel = runtime(inbox, turns, turn_budget_s=1.0, concurrent_turns=1)
    await channel.start(rasa)
    slow = await _accept(inbox, channel, message("SM1", sender=KNOWN, text="slow"))
    quick = await _accept(inbox, channel, message("SM2", sender=OTHER, text="quick"))
    answered = await wait_until(
        lambda: (found := row(inbox, quick.id)).status == "processed" and found
    )
    assert answered.response_body == "answer to quick"
    stopped = row(inbox, slow.id)
    assert stopped.status == "failed" and stopped.error == "took longer than 1 s"
    assert stopped.response_body == f"answer to {FAILED_COMMAND}"


async def test_messages_that_crashed_before_run_alone(inbox, turns):
    """After a crash nobody knows which message caused it: those that were in flight run one
    at a time, so a poison message takes no other sender's message down with it again."""
    register(inbox, KNOWN, OTHER, "whatsapp:+351922222224")
    suspects = [
        inbox.store(message(f"SM{n}", sender=sender), InboxStatus.RECEIVED)
        for n, sender in enumerate((KNOWN, OTHER))
    ]
    with session_scope(inbox.factory) as session:
        session.execute(
            update(ConversationMessage)
            .where(ConversationMessage.id.in_([s.id for s in suspects]))
            .values(attempts=1)
        )
    spans: dict[str, list[float]] = {}

    async def take_a_while(user_message) -> None:
        started = time.monotonic()
        await asyncio.sleep(0.3)
        # By sender: a linked sender's conversation is their person's (user:<id>).
        spans[f"whatsapp:{user_message.metadata['address']}"] = [started, time.monotonic()]

    rasa = Rasa(take_a_while)
    channel = runtime(inbox, turns, concurrent_turns=2)
    await channel.start(rasa)
    await channel.accept(message("SMnew", sender="whatsapp:+351922222224"))
    await wait_until(lambda: len(spans) == 3)
    first, second = sorted((spans[KNOWN], spans[OTHER]))
    assert first[1] <= second[0]  # the two suspects never overlapped
    fresh = spans["whatsapp:+351922222224"]
    assert not (first[0] < fresh[0] < first[1]) and not (second[0] < fresh[0] < second[1])


async def test_an_admin_retries_a_failed_message_and_the_running_server_answers_it(inbox, turns):
    register(inbox, KNOWN)
    attempts = {"count": 0}

    async def fail_once(user_message) -> None:
        if user_message.text == "flaky":
            attempts["count"] += 1
            if attempts["count"] == 1:
                raise RuntimeError("action server down")

    rasa = Rasa(fail_once)
    channel = runtime(inbox, turns, retry_poll_s=0.1)
    await channel.start(rasa)
    stored = await _accept(inbox, channel, message("SM1", text="flaky"))
    await wait_until(lambda: row(inbox, stored.id).status == "failed")
    with session_scope(inbox.factory) as session:
        assert retry_message(session, stored.id)
        assert not retry_message(session, stored.id)  # already waiting for its retry
    answered = await wait_until(lambda: (r := row(inbox, stored.id)).status == "processed" and r)
    assert answered.attempts == 1 and answered.error is None
    assert answered.response_body == "answer to flaky"
    channel.stop()


def test_the_inbox_cli_lists_failed_messages_and_retries_one(tmp_path):
    from testkit.database import migrated_sqlite

    engine = migrated_sqlite(tmp_path / "cli.db")
    from connectors.core.inbox import Finished, Inbox
    from misybot.db.session import make_session_factory

    inbox = Inbox(make_session_factory(engine))
    stored = inbox.store(message("SM1", text="poison"), InboxStatus.RECEIVED)
    inbox.finish_many([Finished(stored.id, InboxStatus.FAILED, None, (), "took too long")])
    env = {**os.environ, "MISYBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    misybot = str(Path(sys.executable).with_name("misybot"))

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([misybot, "inbox", *args], env=env, capture_output=True, text=True)

    listed = cli("failed")
    assert listed.returncode == 0
    assert f"#{stored.id}" in listed.stdout and "took too long" in listed.stdout
    assert "'poison'" in listed.stdout
    assert cli("retry", str(stored.id)).returncode == 0
    assert row(inbox, stored.id).status == InboxStatus.RETRY.value
    refused = cli("retry", "999")
    assert refused.returncode == 1 and "no failed or refused message #999" in refused.stdout
    engine.dispose()


CRASHING_PROCESS = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from connectors.core.runtime import ChannelRuntime
    from connectors.core.inbox import Inbox
    from connectors.core.settings import ChannelTuning
    from rasa.core.channels.channel import CollectingOutputChannel

    async def rasa(message):
        if message.text == "poison":  # what a runaway NLU or an OOM kill does to the process
            os.kill(os.getpid(), signal.SIGKILL)
        with open(sys.argv[1], "a") as seen:
            seen.write(message.text + "\\n")
        await message.output_channel.send_text_message(message.sender_id, "sorry")

    async def main():
        channel = ChannelRuntime(
            "whatsapp_twilio", Inbox(), lambda stored: CollectingOutputChannel(),
            ChannelTuning.resolve(retry_poll_s=0),
        )
        await channel.start(rasa)
        await asyncio.sleep(30)  # the test ends it once it has seen what it waits for

    asyncio.run(main())
    """
)


async def test_a_poison_message_that_kills_the_process_is_given_up_after_the_limit(
    inbox, engine, tmp_path
):
    """Real processes, really killed: each start takes the stored message up again, until
    ``MISYBOT_CHANNEL_MAX_ATTEMPTS``; then it only gets the apology."""
    register(inbox, KNOWN)
    poison = inbox.store(message("SM1", text="poison"), InboxStatus.RECEIVED)
    seen = tmp_path / "seen.txt"
    env = {
        **os.environ,
        "MISYBOT_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "MISYBOT_CHANNEL_MAX_ATTEMPTS": "2",
    }
    if engine.dialect.name == "postgresql":  # the test schema, for the other process too
        env["PGOPTIONS"] = f"-csearch_path={_search_path(engine)}"
    for attempt in (1, 2):
        process = subprocess.run(
            [sys.executable, "-c", CRASHING_PROCESS, str(seen)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            timeout=120,
        )
        assert process.returncode == -9, process.stderr.decode()[-2000:]
        assert row(inbox, poison.id).attempts == attempt
    survivor = subprocess.Popen(
        [sys.executable, "-c", CRASHING_PROCESS, str(seen)], cwd=ROOT, env=env
    )
    try:
        given_up = await wait_until(
            lambda: (found := row(inbox, poison.id)).status == "failed" and found, timeout=120
        )
    finally:
        survivor.kill()
        survivor.wait()
    assert seen.read_text().splitlines() == [FAILED_COMMAND]
    assert given_up.error == "gave up after 2 attempts"


def _search_path(engine) -> str:
    with engine.connect() as connection:
        return connection.exec_driver_sql("SHOW search_path").scalar_one()


async def _accept(inbox, channel: ChannelRuntime, inbound):
    assert await channel.accept(inbound)
    with session_scope(inbox.factory) as session:
        found = session.execute(
            select(ConversationMessage).where(
                ConversationMessage.provider_message_id == inbound.provider_message_id
            )
        ).scalar_one()
        session.expunge(found)
        return found


def _rows(inbox) -> list[ConversationMessage]:
    with session_scope(inbox.factory) as session:
        found = session.execute(select(ConversationMessage).order_by(ConversationMessage.id))
        rows = list(found.scalars())
        for item in rows:
            session.expunge(item)
        return rows


async def test_an_invitation_code_links_its_sender_and_rasa_never_hears_the_code(inbox, turns):
    """The runtime tries a message that is a code itself; Rasa hears only how it went. The
    sender is linked from then on: the next message is theirs, in their person's conversation,
    with its text."""
    (admin,) = register(inbox, OTHER)
    with session_scope(inbox.factory) as session:
        session.execute(update(User).where(User.id == admin).values(role=Role.ADMIN))
    with session_scope(inbox.factory) as session:
        actor = admin_actor(session, "acme", str(admin))
        issued = invite(session, actor, str(admin))
        newcomer = Builder(session).user("New Person", Role.VIEWER, "new@acme.example").id
        fresh = invite(session, actor, str(newcomer))
    rasa = Rasa()
    channel = runtime(inbox, turns)
    await channel.start(rasa)
    await channel.accept(message("SM1", sender=KNOWN, text="00000000"))
    await channel.accept(message("SM2", sender=KNOWN, text=f"link {fresh.code}"))
    await channel.accept(message("SM3", sender=KNOWN, text="stock WID-220"))
    await channel.accept(message("SM4", sender=KNOWN, text=f"link {issued.code}"))  # not theirs
    await wait_until(lambda: len(rasa.seen) == 4)
    assert [(seen.sender_id, seen.text) for seen in rasa.seen] == [
        (KNOWN, LINK_COMMAND.format(outcome="refused")),
        (KNOWN, LINK_COMMAND.format(outcome="linked")),
        (person_conversation(newcomer), "stock WID-220"),
        (person_conversation(newcomer), LINK_COMMAND.format(outcome="refused")),
    ]
    with session_scope(inbox.factory) as session:
        linked = session.execute(
            select(ChannelIdentity.user_id, ChannelIdentity.verified_by).where(
                ChannelIdentity.address == KNOWN.removeprefix("whatsapp:")
            )
        ).one()
    assert tuple(linked) == (newcomer, "invitation")
