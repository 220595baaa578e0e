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
