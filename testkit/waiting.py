"""Waiting for something observable (a row, a reply, a counter) instead of sleeping a fixed time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


async def wait_until(
    predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.05
) -> T:
    """``predicate()``'s value once it is true (polled every ``interval``), or its last value at
    ``timeout`` for the caller's assertion to show."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() >= deadline:
            return result
        await asyncio.sleep(interval)


async def run_until(workers, done: Callable[[], object], timeout: float = 30.0) -> None:
    """Run orchestrator ``workers`` (``misybot.orchestrator.worker.Worker``) until ``done()``
    holds (asked in a thread: it may read the database), or fail after ``timeout``."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(worker.run(stop)) for worker in workers]
    try:
        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(done):
            assert time.monotonic() < deadline, "the workers did not finish in time"
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
