"""Is the installation healthy: does the database answer, is a worker alive, does the inbox keep
up? For load balancers and process managers (``misybot health``, the servers' ``/health``).

Each part carries its figure and its verdict. What leaves the machine (``HealthReport.public``)
is booleans and counts only: no host, URL or error text.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, or_, select, text
from sqlalchemy.engine import Connection, Engine

from misybot.db.models import ConversationMessage
from misybot.db.types import utc_now
from misybot.enums import InboxStatus
from misybot.orchestrator import heartbeats
from misybot.settings import Settings


@dataclass(frozen=True)
class HealthThresholds:
    """What counts as healthy."""

    worker_max_age_s: float = 15.0  # a worker is alive when it beat this recently
    backlog_age_s: float = 60.0  # an inbox message waiting longer than this is backlog
    backlog_limit: int = 100  # healthy while fewer messages than this are backlog
    timeout_s: float = 2.0  # the database must answer within this

    @classmethod
    def from_settings(cls, settings: Settings) -> HealthThresholds:
        return cls(
            worker_max_age_s=settings.health_worker_max_age_s,
            backlog_age_s=settings.health_backlog_age_s,
            backlog_limit=settings.health_backlog_limit,
            timeout_s=settings.health_timeout_s,
        )


@dataclass(frozen=True)
class DatabaseCheck:
    healthy: bool
    latency_ms: float | None = None  # a trivial query's round trip
    problem: str | None = None  # why not, for the operator's log and terminal only


@dataclass(frozen=True)
class WorkersCheck:
    healthy: bool
    alive: int | None  # workers that beat within ``max_age_s`` (None: the database did not say)
    max_age_s: float


@dataclass(frozen=True)
class BacklogCheck:
    healthy: bool
    waiting: int | None  # inbox messages received over ``age_s`` ago, still unprocessed
    age_s: float
    limit: int


@dataclass(frozen=True)
class HealthReport:
    database: DatabaseCheck
    workers: WorkersCheck
    backlog: BacklogCheck

    @property
    def healthy(self) -> bool:
        return self.database.healthy and self.workers.healthy and self.backlog.healthy

    @property
    def failing(self) -> tuple[str, ...]:
        """The names of the parts that are not healthy."""
        parts = (("database", self.database), ("workers", self.workers), ("backlog", self.backlog))
        return tuple(name for name, part in parts if not part.healthy)

    def figures(self) -> dict[str, Any]:
        """Everything, for the operator's terminal (the database's problem included)."""
        return {"healthy": self.healthy, "failing": list(self.failing), **asdict(self)}

    def public(self) -> dict[str, Any]:
        """What a load balancer may see: verdicts and counts."""
        return {
            "healthy": self.healthy,
            "failing": list(self.failing),
            "database": {"healthy": self.database.healthy},
            "workers": {"healthy": self.workers.healthy, "alive": self.workers.alive},
            "backlog": {"healthy": self.backlog.healthy, "waiting": self.backlog.waiting},
        }


def unreachable(thresholds: HealthThresholds, problem: str) -> HealthReport:
    """The report when the database did not answer: nothing else can be known either."""
    return HealthReport(
        database=DatabaseCheck(healthy=False, problem=problem),
        workers=WorkersCheck(healthy=False, alive=None, max_age_s=thresholds.worker_max_age_s),
        backlog=BacklogCheck(
            healthy=False,
            waiting=None,
            age_s=thresholds.backlog_age_s,
            limit=thresholds.backlog_limit,
        ),
    )


_STATEMENT_TIMEOUT = text("SELECT set_config('statement_timeout', :ms, true)")
_PING = text("SELECT 1")
_BACKLOG = (
    select(func.count(ConversationMessage.id))
    .where(ConversationMessage.status == InboxStatus.RECEIVED.value)
    .where(ConversationMessage.received_at < bindparam("before"))
    # A message over its sender's rate limit waits for its window by design: backlog only
    # once that has come too.
    .where(
        or_(ConversationMessage.due_at.is_(None), ConversationMessage.due_at < bindparam("before"))
    )
)


def measure(
    engine: Engine, thresholds: HealthThresholds, now: datetime | None = None
) -> HealthReport:
    """Ask the database (blocking, and as long as it takes to connect: ``HealthProbe`` bounds
    the wait); raises what the database raises."""
    now = now or utc_now()
    started = time.perf_counter()
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # Once connected, no statement of the check may run longer than the whole check.
            limit_ms = str(max(1, int(thresholds.timeout_s * 1000)))
            connection.execute(_STATEMENT_TIMEOUT, {"ms": limit_ms})
        connection.execute(_PING)
        latency_ms = (time.perf_counter() - started) * 1000
        alive = heartbeats.alive(connection, thresholds.worker_max_age_s, now)
        waiting = _backlog(connection, thresholds.backlog_age_s, now)
    return HealthReport(
        database=DatabaseCheck(healthy=True, latency_ms=round(latency_ms, 1)),
        workers=WorkersCheck(
            healthy=alive >= 1, alive=alive, max_age_s=thresholds.worker_max_age_s
        ),
        backlog=BacklogCheck(
            healthy=waiting < thresholds.backlog_limit,
            waiting=waiting,
            age_s=thresholds.backlog_age_s,
            limit=thresholds.backlog_limit,
        ),
    )


def _backlog(connection: Connection, age_s: float, now: datetime) -> int:
    before = now - timedelta(seconds=age_s)
    return connection.execute(_BACKLOG, {"before": before}).scalar_one()


class HealthProbe:
    """Checks within ``thresholds.timeout_s``, whatever the database does. At most one check
    waits on the database at a time: callers that come while it runs share its answer, so a
    hung database costs one thread, not one per load-balancer call."""

    def __init__(self, engine: Engine, thresholds: HealthThresholds | None = None) -> None:
        self.engine = engine
        self.thresholds = thresholds or HealthThresholds()
        self._lock = threading.Lock()
        self._pending: Future | None = None

    def check(self) -> HealthReport:
        """The report (blocking for at most ``thresholds.timeout_s``)."""
        with self._lock:
            pending = self._pending
            if pending is None or pending.done():
                pending = self._pending = Future()
                threading.Thread(
                    target=self._measure, args=(pending,), name="misybot-health", daemon=True
                ).start()
        timeout = self.thresholds.timeout_s
        try:
            return pending.result(timeout=timeout)
        except FutureTimeout:
            return unreachable(self.thresholds, f"no answer within {timeout:g} s")
        except Exception as error:  # noqa: BLE001 - any failure to answer is the verdict
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
            return unreachable(self.thresholds, f"{type(error).__name__}: {first_line}")

    def _measure(self, pending: Future) -> None:
        try:
            pending.set_result(measure(self.engine, self.thresholds))
        except BaseException as error:  # noqa: BLE001 - handed to the waiting caller
            pending.set_exception(error)


def describe(report: HealthReport) -> str:
    """The report for a terminal, one line per part."""

    def verdict(healthy: bool) -> str:
        return "ok" if healthy else "FAILING"

    database, workers, backlog = report.database, report.workers, report.backlog
    if database.healthy:
        database_line = f"answered in {database.latency_ms:g} ms"
    else:
        database_line = database.problem or "no answer"
    if workers.alive is None:
        workers_line = "unknown"
    else:
        workers_line = f"{workers.alive} beat within {workers.max_age_s:g} s"
    if backlog.waiting is None:
        backlog_line = "unknown"
    else:
        backlog_line = (
            f"{backlog.waiting} inbox message(s) waiting over {backlog.age_s:g} s, "
            f"healthy below {backlog.limit}"
        )
    return "\n".join(
        [
            f"healthy: {'yes' if report.healthy else 'no'}",
            f"database: {verdict(database.healthy)} ({database_line})",
            f"workers: {verdict(workers.healthy)} ({workers_line})",
            f"backlog: {verdict(backlog.healthy)} ({backlog_line})",
        ]
    )
