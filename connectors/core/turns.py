"""The event loop conversation turns run on: its own thread, away from the webhooks' loop.

Rasa runs NLU and the policies synchronously inside ``handle_message`` (tens of milliseconds of
Python per turn). On Sanic's loop every webhook waits behind those stretches for its 200; on this
loop they only share the interpreter, which hands the GIL to a waiting thread every few
milliseconds (``MISYBOT_CHANNEL_SWITCH_INTERVAL_MS``: 1 ms rather than Python's 5, since an
acknowledgement changes threads several times and waits that long behind a turn at each; see
``tune_interpreter``). What a turn touches must not belong to Sanic's loop: Rasa's
in-memory/Redis/SQL tracker and lock stores hold no loop-bound objects, its action-endpoint
client opens a session per request, and ``HttpSender`` keeps one HTTP session per loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import logging
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

from connectors.core.settings import switch_interval_ms

logger = logging.getLogger(__name__)

T = TypeVar("T")

_tuning = threading.Lock()
_frozen = False


def tune_interpreter(freeze: bool = False) -> None:
    """Set the switch interval; with ``freeze``, once per process, move every object alive now
    out of the garbage collector's reach.

    Freeze once the model is loaded (a server-start listener): a loaded Rasa model is ~800k
    container objects that live as long as the process, and a full collection walks them all
    with the GIL held, stalling every acknowledgement and turn at once: 0.4-0.9 s measured on a
    2-core machine (one comes whenever the objects that survived since the last one reach a
    quarter of the long-lived ones). Frozen, it walks only what turns made since: 4 ms.
    Garbage is collected first, so none of it is frozen for good. What is frozen is never
    collected: a model replaced through the HTTP API (``PUT /model``) stays in memory, in part,
    until a restart.
    """
    global _frozen
    interval_ms = switch_interval_ms()
    if interval_ms > 0:
        sys.setswitchinterval(interval_ms / 1000)
    with _tuning:
        if not freeze or _frozen:
            return
        started = time.perf_counter()
        gc.collect()
        gc.freeze()
        _frozen = True
    logger.info(
        "channel.gc.frozen objects=%d ms=%.0f",
        gc.get_freeze_count(),
        (time.perf_counter() - started) * 1000,
    )


class AcknowledgementsFirst:
    """Webhooks still waiting for their 200 go before turns that have not begun.

    A webhook handler runs inside ``pending()`` (on the server's loop); a turn awaits ``clear()``
    (on the turn loop) just before it begins, while any webhook is pending, for at most
    ``max_wait_s``, so a steady stream of webhooks never starves the turns. A turn already under
    way is not paused (Rasa's NLU is one synchronous stretch). With 20 senders at once
    (bench/webhook.py), a turn that began while 200s were owed took half the interpreter from
    them: ack p50 21-27 ms and p99 52-58 ms without this, 14-17 and 36-40 ms with it.
    """

    def __init__(self, max_wait_s: float = 0.05) -> None:
        self.max_wait_s = max_wait_s
        self._pending = 0
        self._waiters: list[asyncio.Future[None]] = []
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def pending(self) -> Iterator[None]:
        with self._lock:
            self._pending += 1
        try:
            yield
        finally:
            with self._lock:
                self._pending -= 1
                waiters = self._waiters if self._pending == 0 else []
                if waiters:
                    self._waiters = []
            for waiter in waiters:
                wake_soon(waiter)

    @property
    def waiting(self) -> int:
        """How many turns wait at the gate now."""
        with self._lock:
            return len(self._waiters)

    async def clear(self) -> None:
        """Return once no webhook is pending, or after ``max_wait_s``."""
        with self._lock:
            if self._pending == 0:
                return
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, self.max_wait_s)
        except asyncio.TimeoutError:
            pass
        finally:
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)


def wake_soon(waiter: asyncio.Future[None]) -> None:
    """Resolve ``waiter`` on its own loop, from any thread (nothing if that loop has closed)."""

    def wake() -> None:
        if not waiter.done():
            waiter.set_result(None)

    with contextlib.suppress(RuntimeError):  # its loop is closed: nobody waits any more
        waiter.get_loop().call_soon_threadsafe(wake)


class TurnLoop:
    """An asyncio loop in a daemon thread, started on first use and shared by every channel.

    ``acknowledgements`` keeps its turns from beginning while webhooks wait for their 200."""

    def __init__(self, name: str = "misybot-turns") -> None:
        self.name = name
        self.acknowledgements = AcknowledgementsFirst()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The running loop (the thread is started here the first time)."""
        with self._starting:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                tune_interpreter()
                loop = asyncio.new_event_loop()
                ready = threading.Event()
                thread = threading.Thread(
                    target=self._serve, args=(loop, ready), name=self.name, daemon=True
                )
                thread.start()
                ready.wait()
                self._loop, self._thread = loop, thread
                logger.info("channel.turn_loop.started thread=%s", self.name)
            return self._loop

    @staticmethod
    def _serve(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
        finally:
            loop.close()

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> None:
        """Run ``callback(*args)`` on the turn loop; callbacks run in the order they were given."""
        self.loop.call_soon_threadsafe(callback, *args)

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coroutine`` on the turn loop from any thread."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    async def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Await ``coroutine`` run on the turn loop (from another loop)."""
        return await asyncio.wrap_future(self.submit(coroutine))

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the loop and wait for its thread (a later use starts a new one)."""
        with self._starting:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)


_shared = TurnLoop()


def shared_turn_loop() -> TurnLoop:
    """The process-wide turn loop: all channels' turns share one thread (and one GIL anyway)."""
    return _shared
