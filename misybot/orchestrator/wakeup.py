"""Waking idle workers on a SQLite database when a job is enqueued (PostgreSQL has NOTIFY).

Each worker binds a Unix datagram socket of its own in a directory that belongs to the database
file (``<file>.wake/`` beside it, or a hashed name under the system temp directory when that
path would not fit ``sun_path``). After its commit, whoever enqueued sends one byte to every
socket in the directory. Every worker is poked, not one: a worker whose slots are all busy cannot
take the job while another one sleeps, and with the handful of workers a SQLite file supports a
few extra sends and claims cost nothing. Best effort throughout: a poke never blocks and never
fails the enqueue (a full socket buffer already holds a wake-up; a dead worker's socket is
removed), and a worker that misses one still finds the job at its next safety-net look.

Both sides must run as the same user: the directory is private (mode 700).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import secrets
import socket
import stat
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

SUN_PATH_MAX = 107  # AF_UNIX's sun_path is 108 bytes, the terminating NUL included
SOCKET_SUFFIX = ".sock"
_NAME_MAX = len(f"{2**22}-{'0' * 8}{SOCKET_SUFFIX}")  # "<pid>-<8 hex>.sock"; pid_max is 2**22
_RECEIVE_MAX = 64  # datagrams drained per wake-up: each is a byte, their number does not matter


def wake_directory(database: str | None) -> Path | None:
    """Where the wake sockets of the SQLite file ``database`` live (None for an in-memory or URI
    database: there is no file to name them after)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    path = Path(os.path.realpath(database))  # both sides agree, whatever their directories
    beside = path.with_name(path.name + ".wake")
    if _fits(beside):
        return beside
    digest = hashlib.sha256(os.fsencode(path)).hexdigest()[:24]
    hashed = Path(tempfile.gettempdir()) / f"misybot-wake-{digest}"
    return hashed if _fits(hashed) else None


def _fits(directory: Path) -> bool:
    return len(os.fsencode(directory)) + 1 + _NAME_MAX <= SUN_PATH_MAX


def poke(directory: Path | None) -> int:
    """Wake every worker listening in ``directory``; returns how many were reached. Never
    raises, never blocks."""
    if directory is None:
        return 0
    try:
        names = [entry for entry in os.scandir(directory) if entry.name.endswith(SOCKET_SUFFIX)]
    except OSError:
        return 0  # no worker has listened on this database yet
    reached = 0
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.setblocking(False)
        for entry in names:
            try:
                sender.sendto(b"\x01", entry.path)
                reached += 1
            except BlockingIOError:
                reached += 1  # its buffer is full of wake-ups it has yet to read
            except ConnectionRefusedError:
                # Nobody is bound to it: a worker that died without cleaning up.
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
            except OSError as error:
                if error.errno not in (errno.ENOENT, errno.ENOTSOCK):
                    logger.debug("wakeup.poke_failed path=%s error=%s", entry.path, error)
    return reached


class WakeSocket:
    """A worker's end: a bound, non-blocking datagram socket in the database's wake directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / f"{os.getpid()}-{secrets.token_hex(4)}{SOCKET_SUFFIX}"
        self.socket: socket.socket | None = None

    def open(self) -> WakeSocket:
        """Bind the socket (creating the private directory); raises OSError when it cannot."""
        _private_directory(self.directory)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.bind(os.fsencode(self.path))
        except OSError:
            sock.close()
            raise
        self.socket = sock
        return self

    def fileno(self) -> int:
        return self.socket.fileno()

    def drain(self) -> int:
        """Read the wake-ups waiting; returns how many there were (0 when none)."""
        count = 0
        while count < _RECEIVE_MAX:
            try:
                self.socket.recv(16)
            except (BlockingIOError, InterruptedError):
                break
            count += 1
        return count

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close()
            self.socket = None
            with contextlib.suppress(OSError):
                os.unlink(self.path)


def _private_directory(directory: Path) -> None:
    """``directory`` as a real directory of ours, mode 700 (a temp-dir name someone else made
    first, or a symlink planted there, is refused rather than used)."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(directory, 0o700)
    status = os.lstat(directory)
    if not stat.S_ISDIR(status.st_mode) or status.st_uid != os.geteuid():
        raise PermissionError(errno.EPERM, "not a directory of this user", str(directory))
