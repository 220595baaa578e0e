"""What every provider channel's output shares: recording its sends, and numbered options."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from rasa.core.channels.channel import OutputChannel

from connectors.core.formatting import numbered_options
from connectors.core.inbox import Inbox, OutboundRecord, StoredMessage
from connectors.core.options import OFFERED


class InboxOutput(OutputChannel):
    """An output that answers ``stored`` (None: a pushed result, answering nothing).

    The sends of a turn are kept in ``outbound`` and written with the turn's finish, in one
    transaction (``Inbox.finish_many``); a pushed message is recorded as soon as it is sent.
    Buttons become numbered options the sender answers with a number, unless a channel
    overrides ``send_text_with_buttons`` with native widgets.
    """

    def __init__(self, inbox: Inbox, stored: StoredMessage | None = None) -> None:
        self.inbox = inbox
        self.stored = stored
        self.sent_texts: list[str] = []  # what the runtime records as the answer
        self.outbound: list[OutboundRecord] = []

    async def record(self, record: OutboundRecord) -> None:
        """Keep ``record`` for the turn's finish, or write it now when no turn is answered."""
        if self.stored is None:
            await asyncio.to_thread(self.inbox.record_outbound, record)
            return
        self.outbound.append(
            replace(
                record,
                conversation_message_id=self.stored.id,
                company_id=self.stored.company_id,
            )
        )

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self.send_text_message(recipient_id, numbered_options(text, buttons), **kwargs)
        OFFERED.offer(self.name(), recipient_id, buttons)

    async def send_quick_replies(
        self, recipient_id: str, text: str, quick_replies: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self.send_text_with_buttons(recipient_id, text, quick_replies, **kwargs)
