"""Messages of their own to an address nobody is linked to yet — the code a person asked for to
link the e-mail address on their profile ("link my email"). A channel that can send one
registers how when it starts, for the whole process; a request on any channel finds it here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from misybot.enums import Channel

# (address, subject, text) → whether the provider (the SMTP outbox) took it
Notice = Callable[[str, str, str], Awaitable[bool]]

_SENDERS: dict[Channel, Notice] = {}


def register(channel: Channel, send: Notice) -> None:
    _SENDERS[channel] = send


def unregister(channel: Channel, send: Notice) -> None:
    if _SENDERS.get(channel) == send:
        del _SENDERS[channel]


def sender_for(channel: Channel) -> Notice | None:
    return _SENDERS.get(channel)
