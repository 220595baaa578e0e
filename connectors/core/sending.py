"""Async HTTP sends to provider APIs: retry with backoff on 429/5xx, a per-channel send rate."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twilio.http.async_http_client import AsyncTwilioHttpClient

logger = logging.getLogger(__name__)

RETRYABLE = {408, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class SendResult:
    """The provider's last answer to one send (``status`` 0: no answer at all)."""

    ok: bool
    status: int
    body: str
    attempts: int


class SendRate:
    """A token bucket: ``per_second`` sends on average, bursts of up to ``burst`` at once.

    Shared by sends on any thread or event loop (turns run on their own loop, Rasa's API pushes
    on Sanic's): each send reserves the next token under a thread lock, then sleeps until it is due,
    so sends go out in the order they asked.
    """

    def __init__(
        self,
        per_second: float,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_second = per_second
        self.burst = float(burst if burst is not None else max(1, int(per_second)))
        self._clock = clock
        self._tokens = self.burst
        self._updated = clock()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take the next token; how many seconds until it may be used (0: now)."""
        if self.per_second <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.per_second)
            self._updated = now
            self._tokens -= 1
            return max(0.0, -self._tokens / self.per_second)

    async def wait(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)


class HttpSender:
    """POSTs to a provider API with twilio's async aiohttp client, retrying transient failures."""

    def __init__(
        self,
        *,
        attempts: int = 4,
        backoff_s: float = 0.5,
        per_second: float = 30.0,
        burst: int | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.attempts = max(1, attempts)
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.rate = SendRate(per_second, burst)
        # An aiohttp session belongs to the loop it was created on: one client per loop that sends.
        self._clients: dict[asyncio.AbstractEventLoop, AsyncTwilioHttpClient] = {}

    @property
    def client(self) -> AsyncTwilioHttpClient:
        """The client of the running loop (created on its first send there)."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = self._clients[loop] = AsyncTwilioHttpClient(timeout=self.timeout_s)
        return client

    async def post(
        self,
        url: str,
        *,
        data: Any = None,
        auth: tuple[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> SendResult:
        status, body = 0, ""
        for attempt in range(1, self.attempts + 1):
            await self.rate.wait()
            try:
                response = await self.client.request(
                    "POST", url, data=data, auth=auth, headers=headers, timeout=self.timeout_s
                )
                status, body = response.status_code, response.text
            except (OSError, asyncio.TimeoutError) as error:
                status, body = 0, f"{type(error).__name__}: {error}"
            if 200 <= status < 300:
                return SendResult(True, status, body, attempt)
            if status and status not in RETRYABLE:
                break
            if attempt < self.attempts:
                delay = self.backoff_s * 2 ** (attempt - 1)
                logger.warning(
                    "channel.send.retry url=%s status=%s attempt=%d delay_s=%.2f",
                    url,
                    status,
                    attempt,
                    delay,
                )
                await asyncio.sleep(delay)
        logger.error("channel.send.failed url=%s status=%s body=%.200s", url, status, body)
        return SendResult(False, status, body, attempt)

    async def close(self) -> None:
        """Close every loop's client, each on its own loop (a stopped loop's went with it)."""
        clients, self._clients = self._clients, {}
        current = asyncio.get_running_loop()
        for loop, client in clients.items():
            if loop is current:
                await client.close()
            elif loop.is_running():
                closing = asyncio.run_coroutine_threadsafe(client.close(), loop)
                await asyncio.wait_for(asyncio.wrap_future(closing), self.timeout_s)
