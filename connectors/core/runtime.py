"""The inbox runtime inside the Rasa server: store, acknowledge, then process in order per sender.

A webhook only verifies, parses and calls ``accept``; the message is in the store before the
provider gets its 200. Processing (NLU, actions, sending) happens afterwards on the turn loop
(``connectors.core.turns``, a thread of its own, so Rasa's synchronous NLU and policies never hold
up an acknowledgement): one asyncio worker per sender — in arrival order for that sender, different
senders concurrently — so Rasa's per-conversation lock never makes a sender's queued messages poll
for it. Messages stored but not processed when the server stopped are queued again when it starts.

Work per message is bounded. A sender no user is linked to costs no NLU: Rasa gets the
``EXTERNAL_unregistered`` intent instead of the text. A turn has a time budget. Each attempt is
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
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage

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
from connectors.core.ratelimit import SenderRateLimiter
from connectors.core.settings import ChannelTuning
from connectors.core.turns import TurnLoop, shared_turn_loop, tune_interpreter
from misybot.enums import Channel, InboxStatus
from misybot.identity import METADATA_KEY, VerifiedSender
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
APOLOGY_BUDGET_S = 10.0

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
        limiter: SenderRateLimiter | None = None,
        turn_loop: TurnLoop | None = None,
    ) -> None:
        tuning = tuning or ChannelTuning.resolve()
        self.turn_budget_s = tuning.turn_budget_s
        self.max_attempts = tuning.max_attempts
        self.retry_poll_s = tuning.retry_poll_s  # 0: never look (a runtime without a server)
        self.transport = transport
        self.inbox = inbox
        # Stores and finishes each on a thread of their own: acknowledgements never wait
        # behind finishes, and either side of a burst goes in one transaction.
        self.stores = BatchWriter(inbox.store_many, name=f"{transport}-inbox")
        self.finishes = BatchWriter(inbox.finish_many, name=f"{transport}-finish")
        self.limiter = limiter or SenderRateLimiter(
            tuning.rate_limit_per_minute, tuning.rate_limit_window_s
        )
        self.output_factory = output_factory
        self.turn_loop = turn_loop or shared_turn_loop()
        self.on_new_message: OnNewMessage | None = None
        # Status callbacks that came before their reply's record (written with the turn's
        # finish): sid -> [(received at, channel, status, error code)], touched on both loops.
        self._early_statuses: dict[str, list[tuple[float, Channel, str, str | None]]] = {}
        self._early_lock = threading.Lock()
        # Touched only on the turn loop. A queued message waits until its due time (monotonic:
        # a sender over the rate limit waits for the next window).
        self._queues: dict[str, asyncio.Queue[tuple[StoredMessage, float]]] = {}
        self._queued_ids: set[int] = set()
        self._tasks: set[asyncio.Task] = set()
        # Turns interleave wherever they await (the action server, the provider API); letting
        # every sender's turn in at once only makes each one slower, a few at a time finish
        # sooner on average.
        self.concurrent_turns = max(1, tuning.concurrent_turns)
        self._turns = asyncio.Semaphore(self.concurrent_turns)
        self._alone = asyncio.Lock()  # taken by a message that crashed the process before
        self._retry_poller: concurrent.futures.Future | None = None

    async def start(self, on_new_message: OnNewMessage) -> int:
        """Begin processing; re-queues what was stored but not processed. Returns that count.

        Called once the server has loaded its model (a server-start listener), when freezing
        what is alive keeps full garbage collections from stalling every turn.
        """
        self.on_new_message = on_new_message
        tune_interpreter(freeze=True)
        pending = await asyncio.to_thread(self.inbox.pending, self.transport)
        for stored in pending:
            self.turn_loop.call_soon(self._enqueue, stored)
        if pending:
            logger.info("channel.recovered transport=%s messages=%d", self.transport, len(pending))
        if self.retry_poll_s > 0 and self._retry_poller is None:
            self._retry_poller = self.turn_loop.submit(self._poll_retries())
        return len(pending)

    def stop(self) -> None:
        """Stop looking for retries (queued turns end with the process)."""
        if self._retry_poller is not None:
            self._retry_poller.cancel()
            self._retry_poller = None

    async def _poll_retries(self) -> None:
        """On the turn loop: queue what an admin asked to retry (``misybot inbox retry``)."""
        while True:
            await asyncio.sleep(self.retry_poll_s)
            try:
                claimed = await asyncio.to_thread(self.inbox.claim_retries, self.transport)
            except Exception:  # the store is away for a moment: look again later
                logger.warning("channel.retry_poll.failed transport=%s", self.transport)
                continue
            for stored in claimed:
                logger.info("channel.retry message_id=%d", stored.id)
                self._enqueue(stored)

    def acknowledging(self) -> AbstractContextManager[None]:
        """Around a webhook handler: turns wait to begin until its provider has its answer."""
        return self.turn_loop.acknowledgements.pending()

    async def accept(self, message: InboundMessage) -> bool:
        """Store ``message`` and queue it; False when it is a duplicate delivery (not queued)."""
        now = time.monotonic()
        admission = self.limiter.admit(self.transport, message.sender, now)
        status = InboxStatus.RECEIVED if admission.allowed else InboxStatus.RATE_LIMITED
        stored = await self.stores.run((message, status))
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
            self.turn_loop.call_soon(self._enqueue, stored, now + admission.delay_s)
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

    async def record_delivery(
        self, channel: Channel, provider_message_id: str, status: str, error_code: str | None
    ) -> bool:
        """Apply a provider's delivery status callback; True when its message is on record.

        A reply is recorded with its turn's finish, a few milliseconds after it was sent; a
        status that comes first is held (``EARLY_STATUS_TTL_S``, ``EARLY_STATUS_LIMIT``) and
        applied by that finish. A status we do not know is neither applied nor held.
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

    def _enqueue(self, stored: StoredMessage, due: float = 0.0) -> None:
        """On the turn loop: queue ``stored`` behind its sender's earlier messages."""
        if stored.id in self._queued_ids:  # already waiting here (a retry claimed twice)
            return
        self._queued_ids.add(stored.id)
        sender = stored.message.sender
        queue = self._queues.get(sender)
        if queue is None:
            queue = self._queues[sender] = asyncio.Queue()
            self._spawn(self._drain(sender, queue))
        queue.put_nowait((stored, due))

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain(self, sender: str, queue: asyncio.Queue[tuple[StoredMessage, float]]) -> None:
        try:
            while not queue.empty():
                stored, due = queue.get_nowait()
                wait = due - time.monotonic()
                if wait > 0:  # over the sender's rate limit: its turn comes in a later window
                    await asyncio.sleep(wait)
                try:
                    await self._process(stored)
                finally:
                    self._queued_ids.discard(stored.id)
        finally:
            # No await between the emptiness check and removal: a new message either landed in
            # this queue before (and was processed) or finds no queue and starts a new worker.
            if self._queues.get(sender) is queue:
                del self._queues[sender]

    async def _process(self, stored: StoredMessage) -> None:
        output = self.output_factory(stored)
        status, error = InboxStatus.PROCESSED, None
        try:
            attempt = await asyncio.to_thread(self.inbox.begin_attempt, stored.id)
        except Exception:  # not counted, not begun: still "received", taken again at a restart
            logger.exception("channel.begin.failed message_id=%d", stored.id)
            return
        if attempt > self.max_attempts:
            # Each earlier attempt ended the process: give up, and apologise once.
            tried = attempt - 1
            status, error = InboxStatus.FAILED, f"gave up after {tried} attempt{'s' * (tried != 1)}"
            logger.error("channel.poison message_id=%d attempts=%d", stored.id, attempt - 1)
            if attempt == self.max_attempts + 1:
                await self._apologise(stored, output)
        else:
            try:
                async with self._slot(alone=attempt > 1):
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
        await self._finish(stored, output, status, error)

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
        await self.on_new_message(
            UserMessage(
                text=text,
                output_channel=output,
                sender_id=message.sender,
                input_channel=self.transport,
                message_id=message.provider_message_id,
                metadata=_metadata(stored),
            )
        )

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
    ) -> None:
        sent = "\n\n".join(getattr(output, "sent_texts", []))
        outbound = tuple(getattr(output, "outbound", ()))
        try:
            await self.finishes.run(Finished(stored.id, status, sent or None, outbound, error))
        except Exception:  # still "received" in the store: processed again after a restart
            logger.exception("channel.finish.failed message_id=%d", stored.id)
            return
        try:
            await self._apply_early_statuses(outbound)
        except Exception:  # a status lost; never the sender's queue
            logger.exception("channel.early_status.failed message_id=%d", stored.id)

    async def _notify_limited(self, stored: StoredMessage, notice: str) -> None:
        output = self.output_factory(stored)
        try:
            await output.send_text_message(stored.message.sender, notice)
        except Exception:
            logger.exception("channel.rate_notice.failed message_id=%d", stored.id)


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
        METADATA_KEY: VerifiedSender(message.sender, message.channel.value, message.address).signed(
            get_settings().signing_key
        ),
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
