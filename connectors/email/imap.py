"""IMAP in: a poller that reads each new mail of one folder once, across restarts.

The folder's UIDVALIDITY and the last UID taken into the inbox are kept in the database; a mail's
UID is only recorded after the channel stored it, so a crash in between means it is read again and
the inbox drops the duplicate (Message-ID). With no position yet (first start, or the server
renumbered the folder) the unread mails are taken. IDLE waits for new mail where the server
offers it; otherwise the folder is polled. imaplib is blocking: it runs in worker threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import logging
import re
import select
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from connectors.email.mailbox import Cursor, MailboxStore

logger = logging.getLogger(__name__)

_FETCHED_UID = re.compile(rb"UID (\d+)")


@dataclass(frozen=True)
class ImapSettings:
    """The mailbox the assistant reads."""

    host: str
    port: int
    user: str
    password: str
    security: str = "ssl"  # "ssl" (port 993), "starttls" or "none"
    folder: str = "INBOX"
    ca_file: str | None = None
    use_idle: bool = True
    poll_interval_s: float = 60.0
    idle_refresh_s: float = 600.0  # RFC 2177: re-issue IDLE well within 29 minutes
    timeout_s: float = 30.0

    @property
    def account(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


class ImapError(Exception):
    """The server answered something other than OK."""


class ImapMailbox:
    """One selected folder on one IMAP connection (blocking calls)."""

    def __init__(self, settings: ImapSettings) -> None:
        self.settings = settings
        self.conn: imaplib.IMAP4 | None = None
        self.uid_validity = 0
        self.uid_next = 0
        self.supports_idle = False

    def connect(self) -> None:
        s = self.settings
        context = ssl.create_default_context(cafile=s.ca_file)
        if s.security == "ssl":
            conn = imaplib.IMAP4_SSL(s.host, s.port, ssl_context=context, timeout=s.timeout_s)
        else:
            conn = imaplib.IMAP4(s.host, s.port, timeout=s.timeout_s)
            if s.security == "starttls":
                conn.starttls(ssl_context=context)
        try:
            conn.login(s.user, s.password)
            self._check(conn.select(_quote(s.folder)), "SELECT")
        except Exception:
            _close(conn)
            raise
        self.conn = conn
        self.uid_validity = int(conn.response("UIDVALIDITY")[1][0])
        uid_next = conn.response("UIDNEXT")[1]
        self.uid_next = int(uid_next[0]) if uid_next and uid_next[0] else 0
        self.supports_idle = "IDLE" in conn.capabilities

    def close(self) -> None:
        if self.conn is not None:
            _close(self.conn)
            self.conn = None

    def new_uids(self, cursor: Cursor | None) -> list[int]:
        """UIDs to read: those above the cursor, or the unread ones when there is no valid one."""
        conn = self._conn()
        self._check(conn.noop(), "NOOP")  # servers report new mail in response to a command
        if cursor is not None and cursor.uid_validity == self.uid_validity:
            typ, data = conn.uid("SEARCH", None, f"UID {cursor.last_uid + 1}:*")
            self._check((typ, data), "SEARCH")
            # "n:*" always matches the highest UID, even below n: keep only the new ones.
            return sorted(uid for uid in _uids(data) if uid > cursor.last_uid)
        typ, data = conn.uid("SEARCH", None, "UNSEEN")
        self._check((typ, data), "SEARCH")
        return sorted(_uids(data))

    def fetch(self, uid: int) -> bytes | None:
        """The whole message (without setting \\Seen); None if it was expunged meanwhile."""
        typ, data = self._conn().uid("FETCH", str(uid), "(BODY.PEEK[])")
        self._check((typ, data), "FETCH")
        for item in data:
            if isinstance(item, tuple) and len(item) == 2:
                return item[1]
        return None

    def mark_seen(self, uid: int) -> None:
        self._check(self._conn().uid("STORE", str(uid), "+FLAGS", "(\\Seen)"), "STORE")

    def idle(self, timeout_s: float, stop: threading.Event) -> bool:
        """Wait (RFC 2177 IDLE) until the server reports a change, ``timeout_s`` passes or
        ``stop`` is set; True when the folder changed."""
        conn = self._conn()
        tag = conn._new_tag().decode()
        conn.send(f"{tag} IDLE\r\n".encode())
        changed = False
        while True:  # untagged news may come before the continuation
            line = conn.readline()
            if line.startswith(b"+"):
                break
            if not line.startswith(b"* "):
                raise ImapError(f"IDLE refused: {line!r}")
            changed = changed or _reports_change(line)
        deadline = time.monotonic() + timeout_s
        while not changed and not stop.is_set() and time.monotonic() < deadline:
            # imaplib reads through a buffer: a notice that came with the continuation is
            # already there, and the socket would never become readable for it.
            if not _buffered(conn):
                readable, _, _ = select.select([conn.socket()], [], [], 1.0)
                if not readable:
                    continue
            line = conn.readline()
            if not line:
                raise ImapError("connection closed during IDLE")
            if line.startswith(b"* BYE"):
                raise ImapError(f"server ended IDLE: {line!r}")
            changed = _reports_change(line)
        conn.send(b"DONE\r\n")
        while True:
            line = conn.readline()
            if not line:
                raise ImapError("connection closed after IDLE")
            if line.startswith(tag.encode()):
                if b" OK" not in line:
                    raise ImapError(f"IDLE ended with {line!r}")
                return changed
            changed = changed or _reports_change(line)

    def _conn(self) -> imaplib.IMAP4:
        if self.conn is None:
            raise ImapError("not connected")
        return self.conn

    @staticmethod
    def _check(answer: tuple, command: str) -> None:
        typ, data = answer
        if typ != "OK":
            raise ImapError(f"{command} failed: {typ} {data!r}")


def _reports_change(line: bytes) -> bool:
    return line.rstrip().endswith((b"EXISTS", b"RECENT"))


def _buffered(conn: imaplib.IMAP4) -> bool:
    """Whether imaplib's read buffer (or TLS layer) already holds data, without blocking."""
    sock = conn.socket()
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        return bool(conn.file.peek(1))
    except (BlockingIOError, ssl.SSLWantReadError):
        return False
    finally:
        sock.settimeout(timeout)


def _uids(data: list) -> list[int]:
    return [int(uid) for chunk in data if chunk for uid in chunk.split()]


def _quote(folder: str) -> str:
    return folder if folder.isalnum() else '"' + folder.replace('"', '\\"') + '"'


def _close(conn: imaplib.IMAP4) -> None:
    try:
        conn.logout()
    except Exception:  # already broken: nothing more to say to this server
        with contextlib.suppress(Exception):
            conn.shutdown()


AcceptMail = Callable[[bytes], Awaitable[None]]


class ImapPoller:
    """Reads new mail into ``accept`` (which must raise if it could not keep the mail)."""

    def __init__(
        self,
        settings: ImapSettings,
        store: MailboxStore,
        accept: AcceptMail,
        *,
        reconnect_max_s: float = 300.0,
    ) -> None:
        self.settings = settings
        self.store = store
        self.accept = accept
        self.reconnect_max_s = reconnect_max_s
        self._stop_thread = threading.Event()
        self.rounds = 0  # completed read rounds (observable progress for tests and logs)

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, read, wait (IDLE or poll), repeat until ``stop``; reconnect with backoff."""
        delay = 1.0
        watcher = asyncio.ensure_future(self._relay_stop(stop))
        try:
            while not stop.is_set():
                mailbox = ImapMailbox(self.settings)
                try:
                    await asyncio.to_thread(mailbox.connect)
                    logger.info(
                        "email.imap.connected account=%s folder=%s idle=%s",
                        self.settings.account,
                        self.settings.folder,
                        mailbox.supports_idle and self.settings.use_idle,
                    )
                    delay = 1.0
                    while not stop.is_set():
                        await self.read_new(mailbox)
                        await self._wait(mailbox, stop)
                except (imaplib.IMAP4.error, ImapError, OSError) as error:
                    logger.error(
                        "email.imap.error account=%s error=%s: %s retry_in_s=%.0f",
                        self.settings.account,
                        type(error).__name__,
                        error,
                        delay,
                    )
                    await _sleep_unless(stop, delay)
                    delay = min(self.reconnect_max_s, delay * 2)
                except Exception:  # e.g. the database is down: keep polling, read mail later
                    logger.exception("email.imap.round_failed account=%s", self.settings.account)
                    await _sleep_unless(stop, delay)
                    delay = min(self.reconnect_max_s, delay * 2)
                finally:
                    await asyncio.to_thread(mailbox.close)
        finally:
            watcher.cancel()

    async def read_new(self, mailbox: ImapMailbox) -> int:
        """Take every new mail into the inbox, advancing the stored position after each."""
        s = self.settings
        cursor = await asyncio.to_thread(self.store.cursor, s.account, s.folder)
        if cursor is not None and cursor.uid_validity != mailbox.uid_validity:
            logger.warning(
                "email.imap.uidvalidity_changed account=%s was=%d now=%d",
                s.account,
                cursor.uid_validity,
                mailbox.uid_validity,
            )
        uids = await asyncio.to_thread(mailbox.new_uids, cursor)
        for uid in uids:
            raw = await asyncio.to_thread(mailbox.fetch, uid)
            if raw is not None:
                await self.accept(raw)
                await asyncio.to_thread(mailbox.mark_seen, uid)
            await asyncio.to_thread(
                self.store.save_cursor, s.account, s.folder, Cursor(mailbox.uid_validity, uid)
            )
        if cursor is None or cursor.uid_validity != mailbox.uid_validity:
            # A fresh start took the unread mail; from now on, whatever arrives after it.
            start = Cursor(mailbox.uid_validity, max([mailbox.uid_next - 1, 0, *uids]))
            await asyncio.to_thread(self.store.save_cursor, s.account, s.folder, start)
        self.rounds += 1
        return len(uids)

    async def _wait(self, mailbox: ImapMailbox, stop: asyncio.Event) -> None:
        if mailbox.supports_idle and self.settings.use_idle:
            await asyncio.to_thread(mailbox.idle, self.settings.idle_refresh_s, self._stop_thread)
        else:
            await _sleep_unless(stop, self.settings.poll_interval_s)

    async def _relay_stop(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._stop_thread.set()  # ends an IDLE wait in its thread within a second


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
