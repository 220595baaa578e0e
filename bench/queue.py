"""Queue throughput and pickup latency on PostgreSQL with 1 and 4 worker processes.

Each run uses a private schema (dropped afterwards) and real ``Worker`` processes running a no-op
agent registered only here. Two phases per worker count:
- burst: many jobs arrive at once (enqueued in one transaction, so they become visible together);
  jobs/s from that commit to the last finish, i.e. how fast the workers drain a full queue;
- stream: jobs arrive one by one at a steady rate (each in its own transaction, as the action
  server enqueues them); enqueue→start latency p50/p95, what a user waits before their agent starts.
The enqueue side runs in this process: it is timed separately and never part of the jobs/s figure.
The last line is ``queue workers=4 jobs_per_s=<n> pickup_p50_ms=<n> pickup_p95_ms=<n>``.
"""

from __future__ import annotations

import os
import sys

# Run as a script, this file's directory comes first on sys.path and its name would shadow the
# standard library's ``queue`` (which asyncio imports): put the project root there instead.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import dataclasses  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from datetime import datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import quote  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

from sqlalchemy import func, select, text  # noqa: E402

from misybot.db.models import AgentExecution  # noqa: E402
from misybot.db.session import make_session_factory, session_scope  # noqa: E402
from misybot.db.types import utc_now  # noqa: E402
from misybot.enums import ExecutionStatus  # noqa: E402
from misybot.orchestrator import queue  # noqa: E402
from testkit.database import DEFAULT_POSTGRES_URL, Builder, postgres_schema, postgres_unavailable


def noop(session, actor, context, run) -> dict:
    return {}


def worker_main(url: str, concurrency: int) -> None:
    from misybot.db.engine import create_db_engine
    from misybot.orchestrator.registry import AgentSpec
    from misybot.orchestrator.worker import Worker
    from misybot.settings import get_settings

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        worker = Worker(
            # As `misybot worker` builds it (no pre-ping; see misybot/cli.py).
            create_db_engine(url, pool_size=concurrency + 4, pool_pre_ping=False),
            settings=dataclasses.replace(get_settings(), lease_s=30.0),
            registry={"noop": AgentSpec(noop)},
            concurrency=concurrency,
            deliver=False,
        )
        task = asyncio.create_task(worker.run(stop))
        await asyncio.sleep(0.5)  # LISTEN is set up once run() starts
        print("ready", flush=True)
        await task

    asyncio.run(main())


def _process_url(engine) -> str:
    with engine.connect() as connection:
        schema = connection.execute(text("SELECT current_schema()")).scalar_one()
    base = engine.url.render_as_string(hide_password=False)
    return f"{base}?options={quote('-csearch_path=' + schema)}"


def _finished(sessions) -> int:
    with session_scope(sessions) as session:
        return session.execute(
            select(func.count(AgentExecution.id)).where(
                AgentExecution.status == ExecutionStatus.SUCCEEDED
            )
        ).scalar_one()


def _wait_all(sessions, total: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _finished(sessions) < total:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {_finished(sessions)}/{total} jobs finished in {timeout} s")
        time.sleep(0.05)


@dataclasses.dataclass(frozen=True)
class Figures:
    jobs_per_s: float
    burst_enqueue_s: float
    stream_rate: float  # jobs/s actually enqueued in the stream phase
    pickup_p50_ms: float
    pickup_p95_ms: float


def _enqueue_burst(sessions, company_id: int, burst: int) -> tuple[datetime, float]:
    """All of the burst in one transaction; returns when it committed and how long it took."""
    began = time.perf_counter()
    with session_scope(sessions) as session:
        for _ in range(burst):
            queue.enqueue(session, company_id=company_id, agent_type="noop", context={})
    return utc_now(), time.perf_counter() - began


def _enqueue_stream(sessions, company_id: int, count: int, rate: float) -> float:
    """One job per transaction on a fixed timetable (a late enqueue does not shift the rest);
    returns the rate achieved."""
    began = time.perf_counter()
    for index in range(count):
        delay = began + index / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        with session_scope(sessions) as session:
            queue.enqueue(session, company_id=company_id, agent_type="noop", context={})
    return count / max(time.perf_counter() - began, 1e-9)


def _percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[max(0, round(fraction * len(sorted_values)) - 1)]


def measure(
    engine, workers: int, burst: int, stream: int, stream_rate: float, concurrency: int
) -> Figures:
    sessions = make_session_factory(engine)
    with session_scope(sessions) as session:
        session.execute(AgentExecution.__table__.delete())
        company_id = Builder(session, "bench").id
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    processes = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", _process_url(engine), str(concurrency)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(workers)
    ]
    try:
        for process in processes:
            if process.stdout.readline().strip() != "ready":
                raise SystemExit("a worker process failed to start")
        committed_at, burst_enqueue_s = _enqueue_burst(sessions, company_id, burst)
        _wait_all(sessions, burst, timeout=300)
        with session_scope(sessions) as session:
            last = session.execute(select(func.max(AgentExecution.finished_at))).scalar_one()
            session.execute(AgentExecution.__table__.delete())
        jobs_per_s = burst / (last - committed_at).total_seconds()
        achieved_rate = _enqueue_stream(sessions, company_id, stream, stream_rate)
        _wait_all(sessions, stream, timeout=60)
        with session_scope(sessions) as session:
            rows = session.execute(
                select(AgentExecution.created_at, AgentExecution.started_at)
            ).all()
        latencies = sorted((s - c).total_seconds() * 1000 for c, s in rows)
        return Figures(
            jobs_per_s=jobs_per_s,
            burst_enqueue_s=burst_enqueue_s,
            stream_rate=achieved_rate,
            pickup_p50_ms=_percentile(latencies, 0.50),
            pickup_p95_ms=_percentile(latencies, 0.95),
        )
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=2, metavar=("URL", "CONCURRENCY"), help=argparse.SUPPRESS)
    parser.add_argument("--url", default=os.environ.get("MISYBOT_TEST_POSTGRES_URL"))
    parser.add_argument("--burst", type=int, default=3000, help="jobs in the burst phase")
    parser.add_argument("--stream", type=int, default=600, help="jobs in the stream phase")
    parser.add_argument("--stream-rate", type=float, default=200.0, help="stream jobs per second")
    parser.add_argument("--concurrency", type=int, default=5, help="executions per process")
    args = parser.parse_args()
    if args.worker:
        worker_main(args.worker[0], int(args.worker[1]))
        return 0
    url = args.url or DEFAULT_POSTGRES_URL
    reason = postgres_unavailable(url)
    if reason:
        print(f"bench/queue.py needs PostgreSQL: {reason}", file=sys.stderr)
        return 1
    with postgres_schema(url) as engine:
        results = {}
        for workers in (1, 4):
            figures = results[workers] = measure(
                engine, workers, args.burst, args.stream, args.stream_rate, args.concurrency
            )
            print(
                f"  {workers} worker process(es) x {args.concurrency}: "
                f"{figures.jobs_per_s:.0f} jobs/s draining a burst of {args.burst} no-op jobs "
                f"(enqueued in {figures.burst_enqueue_s:.2f} s); pickup p50 "
                f"{figures.pickup_p50_ms:.1f} ms p95 {figures.pickup_p95_ms:.1f} ms "
                f"({args.stream} jobs streamed at {figures.stream_rate:.0f}/s)",
                flush=True,
            )
    figures = results[4]
    print(
        f"queue workers=4 jobs_per_s={figures.jobs_per_s:.0f} "
        f"pickup_p50_ms={figures.pickup_p50_ms:.1f} pickup_p95_ms={figures.pickup_p95_ms:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
