"""Agents that only the tests register: they record how they ran, sleep, fail or loop."""

from __future__ import annotations

import threading
import time
from collections import Counter

from misybot.orchestrator.registry import AgentSpec, TransientError


class Ledger:
    """Which executions ran, how often, and whether one ever ran twice at the same time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.runs: Counter[int] = Counter()
        self.active: set[int] = set()
        self.overlaps: list[int] = []

    def record(self, session, actor, context, run) -> dict:
        with self.lock:
            if run.execution_id in self.active:
                self.overlaps.append(run.execution_id)
            self.active.add(run.execution_id)
            self.runs[run.execution_id] += 1
        time.sleep(context.get("sleep_s", 0))
        with self.lock:
            self.active.discard(run.execution_id)
        return {"n": context.get("n"), "attempt": run.attempt}


def sleepy(session, actor, context, run) -> dict:
    """Sleeps on its first attempt (the one that gets killed), returns at once afterwards."""
    if run.attempt == 1:
        time.sleep(context.get("first_attempt_sleep_s", 60))
    return {"attempt": run.attempt}


def flaky(session, actor, context, run) -> dict:
    raise TransientError("supplier portal unreachable")


def looping(session, actor, context, run) -> dict:
    """Works in steps until cancelled (the cooperative check between steps)."""
    from misybot.db.models import Alert

    for _ in range(600):
        run.check()
        time.sleep(0.05)
    session.add(
        Alert(
            company_id=actor.company_id,
            severity="low",
            category="supplier",
            title="half-done work",
            message="must be rolled back when the execution is cancelled",
        )
    )
    session.flush()
    return {"finished": True}


def registry(ledger: Ledger | None = None) -> dict[str, AgentSpec]:
    ledger = ledger or Ledger()
    return {
        "record": AgentSpec(ledger.record),
        "sleepy": AgentSpec(sleepy),
        "flaky": AgentSpec(flaky),
        "looping": AgentSpec(looping),
        "slow_timeout": AgentSpec(lambda s, a, c, r: time.sleep(5) or {}, timeout_s=0.3),
    }
