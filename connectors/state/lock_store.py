"""Rasa's lock store on the project's database: one turn at a time per conversation, across
every replica, granted in arrival order and without polling.

``endpoints.yml``: ``lock_store: {type: connectors.state.lock_store.DatabaseLockStore}``.
Rasa's own stores hand out tickets and look again once a second (five messages sent at once
wait seconds), and its Redis store is not atomic between replicas. Here a turn first waits its
turn in this process (first come, first served), then holds the conversation's database lock
(``misybot.db.locks``: a PostgreSQL advisory lock, or a file lock beside SQLite) for as long
as it runs; the release wakes the next. A replica that dies releases its locks with it.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LockStore

from misybot.db.engine import get_engine
from misybot.db.locks import LOCK_THREADS, NamedLocks

logger = logging.getLogger(__name__)


class _Turns:
    """First come, first served for one conversation in this process, on any event loop."""

    def __init__(self) -> None:
        self.busy = False
        self.waiting: collections.deque[concurrent.futures.Future[None]] = collections.deque()


class DatabaseLockStore(LockStore):
    """Per-conversation locks shared by every replica on the database."""

    def __init__(self, host: str | None = None, locks: NamedLocks | None = None, **_: Any):
        super().__init__()
        self._locks = locks
        self._turns: dict[str, _Turns] = {}
        self._guard = threading.Lock()

    @property
    def locks(self) -> NamedLocks:
        if self._locks is None:  # built on first use: no engine at construction
            self._locks = NamedLocks(get_engine())
        return self._locks

    @contextlib.asynccontextmanager
    async def lock(
        self, conversation_id: str, lock_lifetime: float = 0, wait_time_in_seconds: float = 0
    ) -> AsyncIterator[TicketLock]:
        """Hold ``conversation_id`` for the block (Rasa's arguments are not needed)."""
        await self._enter(conversation_id)
        try:
            held = await asyncio.get_running_loop().run_in_executor(
                LOCK_THREADS, self.locks.acquire, f"conversation:{conversation_id}"
            )
        except BaseException:
            self._leave(conversation_id)
            raise
        try:
            yield TicketLock(conversation_id)
        finally:
            try:
                await asyncio.get_running_loop().run_in_executor(LOCK_THREADS, held.release)
            finally:
                self._leave(conversation_id)

    async def _enter(self, conversation_id: str) -> None:
        with self._guard:
            turns = self._turns.setdefault(conversation_id, _Turns())
            if not turns.busy:
                turns.busy = True
                return
            granted: concurrent.futures.Future[None] = concurrent.futures.Future()
            turns.waiting.append(granted)
        try:
            await asyncio.wrap_future(granted)
        except asyncio.CancelledError:
            with self._guard:
                if granted in turns.waiting:  # not granted yet: just leave the line
                    turns.waiting.remove(granted)
                    raise
            self._leave(conversation_id)  # granted as it was cancelled: pass it on
            raise

    def _leave(self, conversation_id: str) -> None:
        with self._guard:
            turns = self._turns[conversation_id]
            while turns.waiting:
                granted = turns.waiting.popleft()
                if granted.set_running_or_notify_cancel():
                    granted.set_result(None)
                    return
            turns.busy = False
            del self._turns[conversation_id]

    # Rasa's ticket interface, for code that inspects a lock store directly.
    def get_lock(self, conversation_id: str) -> TicketLock | None:
        return None

    def delete_lock(self, conversation_id: str) -> None:
        return None

    def save_lock(self, lock: TicketLock) -> None:
        return None

    def is_someone_waiting(self, conversation_id: str) -> bool:
        with self._guard:
            turns = self._turns.get(conversation_id)
            return bool(turns and turns.waiting)
