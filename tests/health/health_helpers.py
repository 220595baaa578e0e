"""What the health tests arrange: a worker's heartbeat, inbox messages of an age, a database
server that never answers."""

from __future__ import annotations

import socket
from datetime import timedelta

from sqlalchemy.engine import Engine

from misybot.db.models import ConversationMessage
from misybot.db.session import make_session_factory, session_scope
from misybot.db.types import utc_now
from misybot.enums import Channel, InboxStatus
from misybot.orchestrator import heartbeats


def a_worker_beats(engine: Engine) -> None:
    identity = heartbeats.WorkerIdentity("host:1:alive", "host", 1, utc_now())
    with session_scope(make_session_factory(engine)) as session:
        heartbeats.beat(session, identity, running=0)


def inbox_messages(engine: Engine, count: int, age_s: float, status=InboxStatus.RECEIVED) -> None:
    received_at = utc_now() - timedelta(seconds=age_s)
    with session_scope(make_session_factory(engine)) as session:
        for _ in range(count):
            session.add(
                ConversationMessage(
                    channel=Channel.WHATSAPP,
                    sender_address="+351900000001",
                    body="how many WID-220?",
                    status=status.value,
                    received_at=received_at,
                )
            )


class SilentServer:
    """A PostgreSQL address whose server accepts connections and never says a word, until
    ``close()`` (then the waiting connection attempts fail at once)."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)  # the kernel completes the handshakes; nobody ever answers
        port = self.listener.getsockname()[1]
        self.url = f"postgresql+psycopg2://postgres@127.0.0.1:{port}/test"

    def close(self) -> None:
        self.listener.close()
