"""What every provider channel's output shares: recording its sends, and numbered options."""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
from dataclasses import replace
from typing import Any

from rasa.core.channels.channel import OutputChannel

from connectors.core.formatting import numbered_options
from connectors.core.inbox import Inbox, OutboundRecord, StoredMessage
from connectors.core.options import OFFERED
from misybot.enums import Channel
from misybot.identity import person_in


class InboxOutput(OutputChannel):
    """An output that answers ``stored`` (None: a pushed result, answering nothing).

    Every send is recorded as soon as the provider answered (kept in ``outbound`` too, for the
    turn's finish), with the key of the response it was part of. A turn run again because its
    first attempt died with its process (``already_sent``: the responses that attempt got
    accepted) skips those responses while it says the same, so a sender is not answered twice;
    only a send accepted in the moment before the crash, not yet on record, can still repeat.
    Buttons become numbered options the sender answers with a number, unless a channel
    overrides ``send_text_with_buttons`` with native widgets.
    """

    identity_channel: Channel  # the channel its recipients' identities are on

    def __init__(self, inbox: Inbox, stored: StoredMessage | None = None) -> None:
        self.inbox = inbox
        self.stored = stored
        self.sent_texts: list[str] = []  # what the runtime records as the answer
        self.outbound: list[OutboundRecord] = []
        self.already_sent: collections.deque[str] = collections.deque()
        self._response: str | None = None  # the key of the response being sent

    def outside_window(self) -> str | None:
        """What this transport can send past its channel's 24-hour window: "template",
        "tag" (Messenger's, within 7 days) or None (published when the channel starts, for
        ``misybot.people.reach.route``)."""
        return None

    def provider_address(self, address: str) -> str:
        """How the provider spells the recipient whose identity is ``address``."""
        return address

    async def recipient(self, recipient_id: str) -> str:
        """The provider's recipient for a conversation id. A person's conversation
        (``user:<id>``, whatever channel they wrote on) is answered at the address that wrote
        the message being answered; a pushed result goes to the address of theirs on this
        channel that wrote last (Rasa's ``latest`` output channel is the one they last used)."""
        user_id = person_in(recipient_id)
        if user_id is None:
            return recipient_id
        if self.stored is not None:
            return self.stored.message.sender
        address = await asyncio.to_thread(self.inbox.address_of, user_id, self.identity_channel)
        if address is None:
            raise LookupError(f"user {user_id} has no {self.identity_channel.value} address")
        return self.provider_address(address)

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        recipient_id = await self.recipient(recipient_id)
        key = response_key(message)
        if self.already_sent and self.already_sent[0] == key:
            self.already_sent.popleft()  # an earlier attempt at this turn sent it
            if message.get("text"):
                self.sent_texts.append(message["text"])  # still part of the answer
            return
        self.already_sent.clear()  # this attempt says something else from here on
        self._response = key
        try:
            await super().send_response(recipient_id, message)
        finally:
            self._response = None

    async def record(self, record: OutboundRecord) -> None:
        """Write ``record`` now (a crash later in the turn must not forget it was sent)."""
        if self.stored is not None:
            record = replace(
                record,
                conversation_message_id=self.stored.id,
                company_id=self.stored.company_id,
                response_key=self._response,
            )
            self.outbound.append(record)
        await asyncio.to_thread(self.inbox.record_outbound, record)

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self.send_text_message(recipient_id, numbered_options(text, buttons), **kwargs)
        OFFERED.offer(self.name(), recipient_id, buttons)

    async def send_quick_replies(
        self, recipient_id: str, text: str, quick_replies: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self.send_text_with_buttons(recipient_id, text, quick_replies, **kwargs)


# What a response says (``BotUttered.message()`` also carries its timestamp and metadata, which
# differ between two runs of one turn).
RESPONSE_CONTENT = ("text", "buttons", "quick_replies", "image", "elements", "attachment", "custom")


def response_key(message: dict[str, Any]) -> str:
    """What identifies one of a turn's responses (its text, buttons, media…) among the others."""
    content = {name: message.get(name) for name in RESPONSE_CONTENT if message.get(name)}
    canonical = json.dumps(content, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.blake2b(canonical.encode(), digest_size=16).hexdigest()
