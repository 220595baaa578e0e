"""The inbox runtime inside the Rasa server: store, acknowledge, then process in order per sender.

A webhook only verifies, parses and calls ``accept``; the message is in the store before the
provider gets its 200. Processing (NLU, actions, sending) happens afterwards on the turn loop
(``connectors.core.turns``, a thread of its own, so Rasa's synchronous NLU and policies never hold
up an acknowledgement): in arrival order for each sender, different senders concurrently.

Several replicas may share the store, a webhook landing on any of them. A sender's messages are
processed by whichever replica holds the sender's database lock (``misybot.db.locks``): it takes
them from the store oldest first until none is left, lets go, and looks once more (a message
stored by another replica while it was letting go is then its to take, or the new holder's). A
replica that finds the lock taken leaves the message to the holder. One that dies releases its
locks; every replica looks for messages nobody is processing every ``retry_poll_s``, so a dead
replica's senders are taken over within seconds, as are messages left from before a restart.
The rate limit is counted in the store too, for all replicas together.

Work per message is bounded. A sender no user is linked to costs no NLU: Rasa gets the
``EXTERNAL_unregistered`` intent instead of the text (or, for an invitation code, how linking
with it went: ``EXTERNAL_link_code``). A turn has a time budget. Each attempt is
counted in the store before it begins, so a message that takes the process down with it is given
up on after ``max_attempts`` (and one that crashed before is processed alone): the sender gets an
apology in their voice (``EXTERNAL_message_failed``, again without NLU) and the message is kept as
failed for ``misybot inbox failed`` / ``retry``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from datetime import datetime, timezone
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage
from sqlalchemy.engine import Connection

from connectors.core import notices
from connectors.core.inbox import (
    BatchWriter,
    Finished,
    Inbox,
    OutboundRecord,
    StoredMessage,
    delivery_status,
)
from connectors.core.messages import InboundMessage
from connectors.core.options import OFFERED
from connectors.core.ratelimit import Admission, Limits, StoredRateLimiter
from connectors.core.settings import ChannelTuning
from connectors.core.turns import TurnLoop, shared_turn_loop, tune_interpreter
from misybot.conversations.store import ConversationStore
from misybot.db.locks import LOCK_THREADS, NamedLocks
from misybot.enums import Channel, InboxStatus
from misybot.identity import METADATA_KEY, VerifiedSender, person_conversation
from misybot.people.invitations import Outcome, code_in, code_mail, link_request_in
from misybot.people.reach import publish_reach
from misybot.settings import get_settings

logger = logging.getLogger(__name__)

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]
OutputFactory = Callable[[StoredMessage | None], OutputChannel]

# Statuses held for replies not yet recorded: for so long at most (a turn's replies are
# recorded when it ends), and for so many messages (the rest were not sent by us).
EARLY_STATUS_TTL_S = 60.0
EARLY_STATUS_LIMIT = 10_000

# Rasa reads "/intent" without NLU (its RegexMessageHandler).
UNREGISTERED_COMMAND = "/EXTERNAL_unregistered"
FAILED_COMMAND = "/EXTERNAL_message_failed"
LINK_COMMAND = '/EXTERNAL_link_code{{"link_outcome": "{outcome}"}}'
APOLOGY_BUDGET_S = 10.0
DRAINS_AT_ONCE = 16  # senders whose messages a process has taken to process at a time

DELAY_NOTICE = (
    "You're sending messages faster than I can answer them. I'll answer the rest in order, "
    "the next in about {seconds} s — no need to resend."
)
REFUSAL_NOTICE = (
    "You've sent more messages than I can queue. I'll skip anything else you send in the next "
    "{seconds} s — please send it again after that."
)


class ChannelRuntime:
    """One per input channel: the inbox, the sender limit and the per-sender workers.

    ``on_new_message`` (Rasa's handler) and the output channels run on ``turn_loop``; ``accept``
    runs on the caller's loop (Sanic's).
    """

    def __init__(
        self,
        transport: str,
        inbox: Inbox,
        output_factory: OutputFactory,
        tuning: ChannelTuning | None = None,
        *,
        limiter: StoredRateLimiter | None = None,
        locks: NamedLocks | None = None,
        turn_loop: TurnLoop | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        tuning = tuning or ChannelTuning.resolve()
        self.turn_budget_s = tuning.turn_budget_s
        self.max_attempts = tuning.max_attempts
        self.retry_poll_s = tuning.retry_poll_s  # 0: never look (a runtime without a server)
        self.transport = transport
        self.inbox = inbox
        self.clock = clock  # epoch seconds: the rate limit's, shared by every replica
        self.limits = Limits(tuning.rate_limit_per_minute, tuning.rate_limit_window_s)
        self._limiter = limiter
        self._locks = locks
        self._conversations: ConversationStore | None = None
        # Stores and finishes each on a thread of their own: acknowledgements never wait
        # behind finishes, and either side of a burst goes in one transaction.
        self.stores = BatchWriter(self._store_admitted, name=f"{transport}-inbox")
        self.finishes = BatchWriter(inbox.finish_many, name=f"{transport}-finish")
        self.output_factory = output_factory
        self.turn_loop = turn_loop or shared_turn_loop()
        self.on_new_message: OnNewMessage | None = None
        # Status callbacks that came before their reply's record (written with the turn's
        # finish): sid -> [(received at, channel, status, error code)], touched on both loops.
        self._early_statuses: dict[str, list[tuple[float, Channel, str, str | None]]] = {}
        self._early_lock = threading.Lock()
        # Touched only on the turn loop: the senders this process is draining.
        self._draining: set[tuple[Channel, str]] = set()
        self._woken_again: set[tuple[Channel, str]] = set()  # woken while draining
        self._tasks: set[asyncio.Task] = set()
        # Turns interleave wherever they await (the action server, the provider API); letting
        # every sender's turn in at once only makes each one slower, a few at a time finish
        # sooner on average.
        self.concurrent_turns = max(1, tuning.concurrent_turns)
        self._turns = asyncio.Semaphore(self.concurrent_turns)
        # Senders drained at once (each holds its lock, on PostgreSQL a connection, while its
        # messages wait for a turn): the others wait here, holding nothing.
        self._drains = asyncio.Semaphore(DRAINS_AT_ONCE)
        self._alone = asyncio.Lock()  # taken by a message that crashed the process before
        self._poller: concurrent.futures.Future | None = None

    async def start(self, on_new_message: OnNewMessage) -> int:
        """Begin processing: take up what was stored but not processed (before a restart, or by
        a replica that died). Returns how many senders had messages waiting.

        Called once the server has loaded its model (a server-start listener), when freezing
        what is alive keeps full garbage collections from stalling every turn.
        """
        self.on_new_message = on_new_message
        await asyncio.to_thread(self._publish_reach)
        tune_interpreter(freeze=True)
        senders = await self._sweep()
        if senders:
            logger.info("channel.recovered transport=%s senders=%d", self.transport, senders)
        if self.retry_poll_s > 0 and self._poller is None:
            self._poller = self.turn_loop.submit(self._poll())
        return senders

    def _publish_reach(self) -> None:
        """Say what this transport can send outside its window (where pushes may go)."""
        output = self.output_factory(None)
        channel = getattr(output, "identity_channel", None)
        if channel is None:
            return
        try:
            with self.inbox.factory.begin() as session:
                publish_reach(session, self.transport, channel, output.outside_window())
        except Exception as error:  # noqa: BLE001 - advisory: the channel serves without it
            logger.warning("channel.reach_unpublished transport=%s error=%s", self.transport, error)

    def stop(self) -> None:
        """Stop looking for unprocessed messages (turns under way end with the process)."""
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None

    @property
    def limiter(self) -> StoredRateLimiter:
        if self._limiter is None:  # built on first use, on the inbox's database
            self._limiter = StoredRateLimiter(self.inbox.engine, self.limits)
        return self._limiter

    @property
    def conversations(self) -> ConversationStore:
        """The tracker store's tables (``endpoints.yml``): where a finished turn's events are."""
        if self._conversations is None:
            self._conversations = ConversationStore(self.inbox.factory)
        return self._conversations

    @property
    def locks(self) -> NamedLocks:
        if self._locks is None:
            self._locks = NamedLocks(self.inbox.engine)
        return self._locks

    async def _sweep(self) -> int:
        """Queue what an admin asked to retry (``misybot inbox retry``) and wake a drain for
        every sender with unprocessed messages that no replica is draining."""
        claimed = await asyncio.to_thread(self.inbox.claim_retries, self.transport)
        for stored in claimed:
            logger.info("channel.retry message_id=%d", stored.id)
        senders = await asyncio.to_thread(self.inbox.pending_senders, self.transport)
        for sender in senders:
            self.turn_loop.call_soon(self._wake, sender)
        return len(senders)

    async def _poll(self) -> None:
        """On the turn loop, every ``retry_poll_s``: a sweep, which takes over the senders of a
        replica that died (their locks went with it) and what an admin asked to retry."""
        rounds = 0
        while True:
            await asyncio.sleep(self.retry_poll_s)
            rounds += 1
            try:
                await self._sweep()
                if rounds % 1000 == 0:  # about an hour: rate-limit schedules long over
                    await asyncio.to_thread(self.limiter.forget_finished, self.clock())
            except Exception:  # the store is away for a moment: look again later
                logger.warning("channel.sweep.failed transport=%s", self.transport)

    def acknowledging(self) -> AbstractContextManager[None]:
        """Around a webhook handler: turns wait to begin until its provider has its answer."""
        return self.turn_loop.acknowledgements.pending()

    async def accept(self, message: InboundMessage) -> bool:
        """Store ``message`` and wake its sender's drain; False when it is a duplicate delivery
        (not queued)."""
        stored, admission = await self.stores.run((message, self.clock()))
        if stored is None:
            logger.info(
                "channel.duplicate transport=%s provider_id=%s",
                self.transport,
                message.provider_message_id,
            )
            return False
        if admission.allowed:
            if admission.delay_s > 0:
                logger.info(
                    "channel.rate_delayed transport=%s message_id=%d delay_s=%.0f",
                    self.transport,
                    stored.id,
                    admission.delay_s,
                )
            self.turn_loop.call_soon(self._wake, (message.channel, message.address))
        else:
            logger.warning(
                "channel.rate_limited transport=%s message_id=%d", self.transport, stored.id
            )
        if admission.notify:
            notice = DELAY_NOTICE if admission.allowed else REFUSAL_NOTICE
            seconds = max(1, round(admission.delay_s))
            self.turn_loop.call_soon(
                self._spawn, self._notify_limited(stored, notice.format(seconds=seconds))
            )
        return True

    def _store_admitted(
        self, items: list[tuple[InboundMessage, float]]
    ) -> list[tuple[StoredMessage | None, Admission]]:
        """On the store thread: count each message against its sender's rate limit (shared by
        every replica), then store it with what that decided, all of a batch at once."""
        requests = [(self.transport, message.sender, now) for message, now in items]
        if self.limiter.postgres:  # the store is one autocommitted round trip there
            return self._store_rows(items, self.limiter.admit_many(requests), None)
        # SQLite: one write transaction for both (each one waits for the other processes').
        with self.limiter.engine.begin() as connection:
            admissions = self.limiter.admit_many(requests, connection)
            return self._store_rows(items, admissions, connection)

    def _store_rows(
        self,
        items: list[tuple[InboundMessage, float]],
        admissions: list[Admission],
        connection: Connection | None,
    ) -> list[tuple[StoredMessage | None, Admission]]:
        rows = []
        for (message, now), admission in zip(items, admissions, strict=True):
            status = InboxStatus.RECEIVED if admission.allowed else InboxStatus.RATE_LIMITED
            due = None
            if admission.allowed and admission.delay_s > 0:
                due = datetime.fromtimestamp(now + admission.delay_s, timezone.utc)
            rows.append((message, status, due))
        return list(zip(self.inbox.store_many(rows, connection), admissions, strict=True))

    async def record_delivery(
        self, channel: Channel, provider_message_id: str, status: str, error_code: str | None
    ) -> bool:
        """Apply a provider's delivery status callback; True when its message is on record.

        A reply is recorded a few milliseconds after the provider accepted it; a status that
        comes first is held (``EARLY_STATUS_TTL_S``, ``EARLY_STATUS_LIMIT``) and applied by
        the turn's finish. A status we do not know is neither applied nor held.
        """
        args = (channel, provider_message_id, status, error_code)
        if await asyncio.to_thread(self.inbox.record_delivery, *args):
            return True
        if delivery_status(status) is None:
            return False
        now = time.monotonic()
        with self._early_lock:
            while self._early_statuses:  # oldest first: a dict keeps insertion order
                oldest, held = next(iter(self._early_statuses.items()))
                expired = now - held[0][0] > EARLY_STATUS_TTL_S
                if not expired and len(self._early_statuses) < EARLY_STATUS_LIMIT:
                    break
                del self._early_statuses[oldest]
            self._early_statuses.setdefault(provider_message_id, []).append(
                (now, channel, status, error_code)
            )
        # The finish may have committed between the first try and the hold: try once more.
        if await asyncio.to_thread(self.inbox.record_delivery, *args):
            with self._early_lock:
                self._early_statuses.pop(provider_message_id, None)
            return True
        return False

    async def _apply_early_statuses(self, outbound: tuple[OutboundRecord, ...]) -> None:
        """After a finish: the statuses held for the replies it recorded, in arrival order."""
        with self._early_lock:
            if not self._early_statuses:
                return
            held = [
                (channel, record.provider_message_id, status, error_code)
                for record in outbound
                if record.provider_message_id
                for _, channel, status, error_code in self._early_statuses.pop(
                    record.provider_message_id, ()
                )
            ]
        for args in held:
            await asyncio.to_thread(self.inbox.record_delivery, *args)

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _wake(self, sender: tuple[Channel, str]) -> None:
        """On the turn loop: ``sender`` has messages to process; drain them unless this process
        already is (a drain looks again before it ends, so nothing stored is missed)."""
        if sender in self._draining:
            self._woken_again.add(sender)  # a drain about to end looks once more
            return
        self._draining.add(sender)
        self._spawn(self._drain(sender))

    async def _drain(self, sender: tuple[Channel, str]) -> None:
        """Process ``sender``'s messages in order while holding its lock; leave them to the
        holder when another replica has it."""
        channel, address = sender
        name = f"inbox:{self.transport}:{channel.value}:{address}"
        loop = asyncio.get_running_loop()
        try:
            while True:
                self._woken_again.discard(sender)
                async with self._drains:  # a held lock keeps a database connection
                    try:
                        held = await loop.run_in_executor(
                            LOCK_THREADS, self.locks.acquire, name, False
                        )
                    except Exception:
                        logger.exception("channel.lock.failed transport=%s", self.transport)
                        return  # the next sweep tries again
                    if held is None:
                        return  # another replica is draining this sender: they are its to take
                    try:
                        complete = await self._drain_held(sender)
                    except Exception:  # the store is away for a moment: the next sweep goes on
                        logger.exception("channel.drain.failed transport=%s", self.transport)
                        complete = False
                    finally:
                        await loop.run_in_executor(LOCK_THREADS, held.release)
                if complete is False:
                    return
                if complete is not True:  # over the rate limit: wait holding nothing
                    await asyncio.sleep(complete)
                    continue
                # A message another replica stored while this one was letting go found the
                # lock taken and was left here: look once more after the release.
                left = await asyncio.to_thread(self.inbox.pending_of, self.transport, sender, 1)
                if not left and sender not in self._woken_again:
                    return
        finally:
            self._draining.discard(sender)
            self._woken_again.discard(sender)

    async def _drain_held(self, sender: tuple[Channel, str]) -> bool | float:
        """Holding the sender's lock: process its stored messages oldest first until none is
        left (True), one could not be begun or finished (False: the sweep retries), or the next
        is over the rate limit (the seconds until its window)."""
        while True:
            batch = await asyncio.to_thread(self.inbox.pending_of, self.transport, sender)
            if not batch:
                return True
            for stored in batch:
                if stored.due_at is not None:
                    wait = stored.due_at.timestamp() - self.clock()
                    if wait > 0:
                        return wait
                if not await self._process(stored):
                    return False

    async def _process(self, stored: StoredMessage) -> bool:
        """One message's turn, recorded; False when it could not be begun or finished (it is
        still "received": processed again later)."""
        if stored.user_id is None:
            # Linked since it was stored (an invitation code just before it, an admin)?
            try:
                stored = await asyncio.to_thread(self.inbox.relink, stored)
            except Exception:  # then it is answered as the stranger it was when stored
                logger.exception("channel.relink.failed message_id=%d", stored.id)
        output = self.output_factory(stored)
        async with self._slot(alone=stored.attempts > 0):
            # Counted once the turn has its slot, before it begins: a crash during the turn
            # counts, a wait for a slot cut short by a crash does not (it never began).
            try:
                attempt = await asyncio.to_thread(self.inbox.begin_attempt, stored.id)
            except Exception:  # not counted, not begun: still "received", taken again later
                logger.exception("channel.begin.failed message_id=%d", stored.id)
                return False
            status, error = await self._attempt(stored, output, attempt)
        return await self._finish(stored, output, status, error)

    async def _attempt(
        self, stored: StoredMessage, output: OutputChannel, attempt: int
    ) -> tuple[InboxStatus, str | None]:
        if attempt > self.max_attempts:
            # Each earlier attempt ended the process: give up, and apologise once.
            tried = attempt - 1
            logger.error("channel.poison message_id=%d attempts=%d", stored.id, tried)
            if attempt == self.max_attempts + 1:
                await self._apologise(stored, output)
            return InboxStatus.FAILED, f"gave up after {tried} attempt{'s' * (tried != 1)}"
        if attempt > 1 and await self._resumed(stored, output):
            return InboxStatus.PROCESSED, None
        status, error = InboxStatus.PROCESSED, None
        try:
            await self.turn_loop.acknowledgements.clear()
            await asyncio.wait_for(self._turn(stored, output), self.turn_budget_s)
        except asyncio.TimeoutError:
            status, error = InboxStatus.FAILED, f"took longer than {self.turn_budget_s:g} s"
            logger.error("channel.turn.timeout message_id=%d", stored.id)
        except Exception as failure:  # one bad message must not stop the sender's queue
            status, error = InboxStatus.FAILED, f"{type(failure).__name__}: {failure}"[:500]
            logger.exception("channel.process.failed message_id=%d", stored.id)
        if status == InboxStatus.FAILED:
            await self._apologise(stored, output)
        return status, error

    async def _resumed(self, stored: StoredMessage, output: OutputChannel) -> bool:
        """A message taken up again after its process died: True when its turn had run to the
        end (its events are in the conversation; only the inbox's finish was lost). Otherwise
        the turn runs again, and skips the responses that attempt had sent."""
        message = stored.message
        sent = await asyncio.to_thread(self.inbox.replies_sent, stored.id)
        done = await asyncio.to_thread(
            self.conversations.has_user_message,
            conversation_of(stored),
            message.provider_message_id,
        )
        if done:
            logger.info("channel.turn_already_done message_id=%d", stored.id)
            getattr(output, "sent_texts", []).extend(body for _, body in sent)
            return True
        if hasattr(output, "already_sent"):
            output.already_sent.extend(dict.fromkeys(key for key, _ in sent if key))
        return False

    @contextlib.asynccontextmanager
    async def _slot(self, alone: bool):
        """A turn's place among ``concurrent_turns``: all of them for a message that crashed
        the process before, so that a crash again takes no other sender's message with it."""
        if not alone:
            async with self._turns:
                yield
            return
        async with self._alone:
            for _ in range(self.concurrent_turns):
                await self._turns.acquire()
            try:
                yield
            finally:
                for _ in range(self.concurrent_turns):
                    self._turns.release()

    async def _turn(self, stored: StoredMessage, output: OutputChannel, text: str = "") -> None:
        """Hand ``stored`` (or ``text`` in its place) to Rasa."""
        if self.on_new_message is None:
            raise RuntimeError("channel runtime not started")
        message = stored.message
        if not text:
            # The sender was linked to their user when the message was stored (store_many); a
            # sender nobody is linked to gets the "not registered" answer without any NLU.
            # "2" answering numbered options becomes the option's payload.
            picked = OFFERED.take(self.transport, message.sender, message.user_text)
            text = UNREGISTERED_COMMAND if stored.user_id is None else picked or message.user_text
            code = code_in(message.user_text) if not picked else None
            wanted = link_request_in(message.user_text) if stored.user_id is not None else None
            if code is not None:
                # An invitation code links this sender (misybot.people.invitations); Rasa
                # only hears how that went, never the code.
                outcome = await asyncio.to_thread(
                    self.inbox.redeem_code, message.channel, message.address, code
                )
                text = LINK_COMMAND.format(outcome=outcome.value)
            elif wanted is not None:
                outcome = await self._send_code(stored.user_id, wanted)
                text = LINK_COMMAND.format(outcome=outcome.value)
        await self.on_new_message(
            UserMessage(
                text=text,
                output_channel=output,
                sender_id=conversation_of(stored),
                input_channel=self.transport,
                message_id=message.provider_message_id,
                metadata=_metadata(stored),
            )
        )

    async def _send_code(self, user_id: int, channel: Channel) -> Outcome:
        """ "link my email": a code to the address on the person's profile, sent by the channel
        that can reach it (``connectors.core.notices``); it is kept in that channel's outbox
        and retried if the provider is down."""
        send = notices.sender_for(channel)
        if send is None:
            return Outcome.NO_ADDRESS
        request = await asyncio.to_thread(self.inbox.request_code, user_id, channel)
        if request.issued is None:
            return request.outcome
        subject, text = code_mail(request.issued.code, get_settings().invitation_hours)
        await send(request.address, subject, text)
        return Outcome.SENT

    async def _apologise(self, stored: StoredMessage, output: OutputChannel) -> None:
        """Tell the sender, in their voice, that their message could not be processed."""
        try:
            await asyncio.wait_for(
                self._turn(stored, output, FAILED_COMMAND),
                min(APOLOGY_BUDGET_S, self.turn_budget_s),
            )
        except Exception:  # the apology is a courtesy; the failure is on record either way
            logger.exception("channel.apology.failed message_id=%d", stored.id)

    async def _finish(
        self,
        stored: StoredMessage,
        output: OutputChannel,
        status: InboxStatus,
        error: str | None,
    ) -> bool:
        sent = "\n\n".join(getattr(output, "sent_texts", []))
        outbound = tuple(getattr(output, "outbound", ()))
        try:
            # Its replies were each recorded as they were sent (connectors.core.output).
            await self.finishes.run(Finished(stored.id, status, sent or None, (), error))
        except Exception:  # still "received" in the store: processed again after a restart
            logger.exception("channel.finish.failed message_id=%d", stored.id)
            return False
        try:
            await self._apply_early_statuses(outbound)
        except Exception:  # a status lost; never the sender's queue
            logger.exception("channel.early_status.failed message_id=%d", stored.id)
        return True

    async def _notify_limited(self, stored: StoredMessage, notice: str) -> None:
        output = self.output_factory(stored)
        try:
            await output.send_text_message(stored.message.sender, notice)
        except Exception:
            logger.exception("channel.rate_notice.failed message_id=%d", stored.id)


def conversation_of(stored: StoredMessage) -> str:
    """The conversation a stored message is part of: its sender's person's, when the sender
    was linked as it was stored (``misybot.identity.person_conversation``), else the sender's."""
    if stored.user_id is not None:
        return person_conversation(stored.user_id)
    return stored.message.sender


def _metadata(stored: StoredMessage) -> dict[str, Any]:
    message = stored.message
    metadata: dict[str, Any] = {
        "received_at": message.received_at.isoformat(),
        "channel": message.channel.value,
        "transport": message.transport,
        "address": message.address,
        "inbox_message_id": stored.id,
        "company_id": stored.company_id,
        "user_id": stored.user_id,
        # Who wrote it, as this connector verified it: the only identity the actions trust.
        METADATA_KEY: VerifiedSender(
            conversation_of(stored), message.channel.value, message.address
        ).signed(get_settings().signing_key),
    }
    if message.profile_name:
        metadata["profile_name"] = message.profile_name
    if message.media:
        metadata["media"] = [{"url": m.url, "content_type": m.content_type} for m in message.media]
    if message.location:
        metadata["location"] = {
            "latitude": message.location.latitude,
            "longitude": message.location.longitude,
            "address": message.location.address,
            "label": message.location.label,
        }
    if message.button_payload:
        metadata["button_payload"] = message.button_payload
    return metadata
