"""Workers' signs of life (``worker_heartbeats``): each running worker refreshes its row every few
seconds and deletes it when it stops cleanly; a killed worker's row simply goes stale."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, insert, select, update

from misybot.db.models import WorkerHeartbeat
from misybot.db.types import utc_now
from misybot.orchestrator.queue.common import Database

FORGET_AFTER = timedelta(days=1)  # a dead worker's row stays this long, for whoever looks

_heartbeats = WorkerHeartbeat.__table__
_columns = _heartbeats.c

_BEAT = (
    update(_heartbeats)
    .where(_columns.worker_id == bindparam("beating"))
    .values(beat_at=bindparam("now"), running=bindparam("executions"))
)


@dataclass(frozen=True)
class WorkerIdentity:
    """Who beats: the worker's id and where it runs."""

    worker_id: str
    host: str
    pid: int
    started_at: datetime


def beat(db: Database, worker: WorkerIdentity, running: int) -> None:
    """Record that ``worker`` is alive now, running ``running`` executions (its row is created
    on the first beat, or again should someone have removed it)."""
    now = utc_now()
    if db.execute(_BEAT, {"beating": worker.worker_id, "now": now, "executions": running}).rowcount:
        return
    row = {
        "worker_id": worker.worker_id,
        "host": worker.host,
        "pid": worker.pid,
        "started_at": worker.started_at,
        "beat_at": now,
        "running": running,
    }
    db.execute(insert(_heartbeats), row)
    # A new worker tidies up after the dead ones (rare: a row is deleted on a clean stop).
    db.execute(delete(_heartbeats).where(_columns.beat_at < now - FORGET_AFTER))


def forget(db: Database, worker_id: str) -> None:
    """The worker stops cleanly: its row goes."""
    db.execute(delete(_heartbeats).where(_columns.worker_id == worker_id))


def alive(db: Database, max_age_s: float, now: datetime | None = None) -> int:
    """How many workers beat within the last ``max_age_s`` seconds."""
    since = (now or utc_now()) - timedelta(seconds=max_age_s)
    query = select(func.count()).select_from(_heartbeats).where(_columns.beat_at >= since)
    return db.execute(query).scalar_one()
