"""The inbox runtime inside the Rasa server: store, acknowledge, then process in order per sender.

A webhook only verifies, parses and calls ``accept``; the message is in the store before the
provider gets its 200. Processing (NLU, actions, sending) happens afterwards on the turn loop
(``connectors.core.turns``, a thread of its own, so Rasa's synchronous NLU and policies never hold
up an acknowledgement): one asyncio worker per sender — in arrival order for that sender, different
senders concurrently — so Rasa's per-conversation lock never makes a sender's queued messages poll
for it. Messages stored but not processed when the server stopped are queued again when it starts.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any

from rasa.core.channels.channel import OutputChannel, UserMessage

from connectors.core.options import OFFERED
from connectors.core.turns import TurnLoop, shared_turn_loop, tune_interpreter
from misybot.channels.inbox import (
    BatchWriter,
    Finished,
    Inbox,
    OutboundRecord,
    StoredMessage,
    delivery_status,
)
from misybot.channels.messages import InboundMessage
from misybot.channels.ratelimit import SenderRateLimiter
from misybot.enums import Channel, InboxStatus

logger = logging.getLogger(__name__)

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]
OutputFactory = Callable[[StoredMessage | None], OutputChannel]

# Statuses held for replies not yet recorded: for so long at most (a turn's replies are
# recorded when it ends), and for so many messages (the rest were not sent by us).
EARLY_STATUS_TTL_S = 60.0
EARLY_STATUS_LIMIT = 10_000

RATE_LIMIT_NOTICE = (
    "You're sending messages faster than I can keep up with. "
    "I'll answer again in a minute — no need to resend."
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
        limiter: SenderRateLimiter,
        output_factory: OutputFactory,
        concurrent_turns: int = 2,
        turn_loop: TurnLoop | None = None,
    ) -> None:
        self.transport = transport
        self.inbox = inbox
        # Stores and finishes each on a thread of their own: acknowledgements never wait
        # behind finishes, and either side of a burst goes in one transaction.
        self.stores = BatchWriter(inbox.store_many, name=f"{transport}-inbox")
        self.finishes = BatchWriter(inbox.finish_many, name=f"{transport}-finish")
        self.limiter = limiter
        self.output_factory = output_factory
        self.turn_loop = turn_loop or shared_turn_loop()
        self.on_new_message: OnNewMessage | None = None
        # Status callbacks that came before their reply's record (written with the turn's
        # finish): sid -> [(received at, channel, status, error code)], touched on both loops.
        self._early_statuses: dict[str, list[tuple[float, Channel, str, str | None]]] = {}
        self._early_lock = threading.Lock()
        # Touched only on the turn loop.
        self._queues: dict[str, asyncio.Queue[StoredMessage]] = {}
        self._tasks: set[asyncio.Task] = set()
        # Turns interleave wherever they await (the action server, the provider API); letting
        # every sender's turn in at once only makes each one slower, a few at a time finish
        # sooner on average.
        self._turns = asyncio.Semaphore(concurrent_turns)

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
        return len(pending)

    def acknowledging(self) -> AbstractContextManager[None]:
        """Around a webhook handler: turns wait to begin until its provider has its answer."""
        return self.turn_loop.acknowledgements.pending()

    async def accept(self, message: InboundMessage) -> bool:
        """Store ``message`` and queue it; False when it is a duplicate delivery (not queued)."""
        admission = self.limiter.admit(self.transport, message.sender, time.monotonic())
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
            self.turn_loop.call_soon(self._enqueue, stored)
        else:
            logger.warning(
                "channel.rate_limited transport=%s message_id=%d", self.transport, stored.id
            )
            if admission.notify:
                self.turn_loop.call_soon(self._spawn, self._notify_limited(stored))
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

    def _enqueue(self, stored: StoredMessage) -> None:
        """On the turn loop: queue ``stored`` behind its sender's earlier messages."""
        sender = stored.message.sender
        queue = self._queues.get(sender)
        if queue is None:
            queue = self._queues[sender] = asyncio.Queue()
            self._spawn(self._drain(sender, queue))
        queue.put_nowait(stored)

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain(self, sender: str, queue: asyncio.Queue[StoredMessage]) -> None:
        try:
            while not queue.empty():
                await self._process(queue.get_nowait())
        finally:
            # No await between the emptiness check and removal: a new message either landed in
            # this queue before (and was processed) or finds no queue and starts a new worker.
            if self._queues.get(sender) is queue:
                del self._queues[sender]

    async def _process(self, stored: StoredMessage) -> None:
        message = stored.message
        output = self.output_factory(stored)
        status = InboxStatus.PROCESSED
        try:
            if self.on_new_message is None:
                raise RuntimeError("channel runtime not started")
            # The sender was linked to their user when the message was stored (store_many).
            # "2" answering numbered options becomes the option's payload.
            picked = OFFERED.take(self.transport, message.sender, message.user_text)
            user_message = UserMessage(
                text=picked or message.user_text,
                output_channel=output,
                sender_id=message.sender,
                input_channel=self.transport,
                message_id=message.provider_message_id,
                metadata=_metadata(stored),
            )
            async with self._turns:
                await self.turn_loop.acknowledgements.clear()
                await self.on_new_message(user_message)
        except Exception:  # one bad message must not stop the sender's queue
            logger.exception("channel.process.failed message_id=%d", stored.id)
            status = InboxStatus.FAILED
        sent = "\n\n".join(getattr(output, "sent_texts", []))
        outbound = tuple(getattr(output, "outbound", ()))
        try:
            await self.finishes.run(Finished(stored.id, status, sent or None, outbound))
        except Exception:  # still "received" in the store: processed again after a restart
            logger.exception("channel.finish.failed message_id=%d", stored.id)
            return
        try:
            await self._apply_early_statuses(outbound)
        except Exception:  # a status lost; never the sender's queue
            logger.exception("channel.early_status.failed message_id=%d", stored.id)

    async def _notify_limited(self, stored: StoredMessage) -> None:
        output = self.output_factory(stored)
        try:
            await output.send_text_message(stored.message.sender, RATE_LIMIT_NOTICE)
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
