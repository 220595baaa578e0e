"""Named locks shared by every process on the database: one holder at a time per name.

PostgreSQL: session advisory locks (``pg_advisory_lock``), on a connection held for as long
as the lock is; several machines may share them. SQLite (one machine by nature): ``flock`` on
one of a fixed set of files beside the database. Either way a process that dies, even killed,
releases what it held, and a waiter is woken by the release itself (no polling).

Blocking calls: run ``acquire`` in a thread (``LOCK_THREADS``) — never the default executor,
which a few waiters would fill while the holder needs it to finish.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError

SQLITE_BUCKETS = 4096  # names share a lock file only when their hashes collide here
# Beside SQLite, each namespace (a name's part before its first ":") has buckets of its own: a
# holder of one kind of lock that takes another kind (the inbox's sender, then the
# conversation) can then never wait for a file it holds itself.
LOCK_THREADS = ThreadPoolExecutor(64, thread_name_prefix="misybot-lock")
_LOCK = text("SELECT pg_advisory_lock(:key)")
_TRY_LOCK = text("SELECT pg_try_advisory_lock(:key)")
_UNLOCK = text("SELECT pg_advisory_unlock(:key)")


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``name`` (the same in every process)."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class Held:
    """A lock held; ``release()`` once (also on a lost connection: the lock went with it)."""

    def __init__(self, release) -> None:
        self._release = release
        self._released = False
        self._guard = threading.Lock()

    def release(self) -> None:
        with self._guard:
            if self._released:
                return
            self._released = True
        self._release()


class NamedLocks:
    """Cross-process locks by name on ``engine``'s database."""

    def __init__(self, engine: Engine) -> None:
        self.postgres = engine.dialect.name == "postgresql"
        if self.postgres:
            # Its own pool: a held lock keeps its connection for a whole turn, and must never
            # leave the turn itself waiting for one. Autocommit: taking or releasing a lock is
            # one round trip (no transaction to end); a connection found dead is replaced once.
            self.engine = create_engine(
                engine.url, future=True, pool_size=4, max_overflow=60, isolation_level="AUTOCOMMIT"
            )
        else:
            database = make_url(str(engine.url)).database or ""
            if not database or database == ":memory:" or database.startswith("file:"):
                self._folder = None  # one process only: a thread lock per bucket does
                self._memory: dict[str, list[threading.Lock]] = {}
                self._memory_guard = threading.Lock()
            else:
                self._folder = Path(database).resolve().with_name(Path(database).name + ".locks")

    def acquire(self, name: str, wait: bool = True) -> Held | None:
        """Hold the lock ``name``; with ``wait=False``, None when another holder has it."""
        if self.postgres:
            return self._advisory(lock_key(name), wait)
        namespace = name.split(":", 1)[0] if ":" in name else "_"
        bucket = lock_key(name) % SQLITE_BUCKETS
        if self._folder is None:
            with self._memory_guard:
                buckets = self._memory.setdefault(
                    namespace, [threading.Lock() for _ in range(SQLITE_BUCKETS)]
                )
            lock = buckets[bucket]
            return Held(lock.release) if lock.acquire(blocking=wait) else None
        return self._flock(namespace, bucket, wait)

    def _advisory(self, key: int, wait: bool) -> Held | None:
        try:
            return self._advisory_once(key, wait)
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
            return self._advisory_once(key, wait)  # a pooled connection the server had closed

    def _advisory_once(self, key: int, wait: bool) -> Held | None:
        connection: Connection = self.engine.connect()
        try:
            if wait:
                connection.execute(_LOCK, {"key": key})
            elif not connection.execute(_TRY_LOCK, {"key": key}).scalar_one():
                connection.close()
                return None
        except BaseException:
            connection.invalidate()  # the lock, if taken, goes with the connection
            connection.close()
            raise

        def release() -> None:
            try:
                connection.execute(_UNLOCK, {"key": key})
            except Exception:
                connection.invalidate()  # closing the session releases it anyway
            finally:
                connection.close()

        return Held(release)

    def _flock(self, namespace: str, bucket: int, wait: bool) -> Held | None:
        folder = self._folder / _safe(namespace)
        folder.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(folder / f"{bucket:04d}", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            # flock, not lockf: each open is its own lock, so two threads of one process
            # exclude each other too.
            fcntl.flock(descriptor, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return None
        except BaseException:
            os.close(descriptor)
            raise
        return Held(lambda: os.close(descriptor))  # closing the file releases the lock


def _safe(namespace: str) -> str:
    """A namespace as a directory name (letters, digits, "-" and "_"; anything else hashed)."""
    if namespace.replace("-", "").replace("_", "").isalnum() and len(namespace) <= 40:
        return namespace
    return "ns-" + hashlib.blake2b(namespace.encode(), digest_size=6).hexdigest()
