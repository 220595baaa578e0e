"""Idle costs nothing: the CPU a quiet stack spends, and how soon it picks up a job afterwards.

Starts the real stack on throw-away state: a database migrated and seeded with the demo data (a
SQLite file in a temporary folder, or with ``--database postgres`` a fresh schema of the
PostgreSQL database at ``testkit.database.DEFAULT_POSTGRES_URL``), an orchestrator worker
(``misybot worker``), the action server and ``rasa run`` (through ``connectors.serve``, the HTTP
API behind a token made up for the run) with the REST and WhatsApp-through-Twilio channels, the
latter pointed at a local Twilio stand-in. All three processes share the database.

Once every process serves, nothing is sent for ``--settle-s`` (start-up work ends), then for
``--seconds`` more, over which each process's CPU time is read from ``/proc/<pid>/stat``
(user + system, every thread; its child processes too, should it have any): a line per process,
its share of one core, and its busiest threads with how often each woke up (context switches
per second, from ``/proc/<pid>/task/<tid>/status``) — a thread that polls wakes up often even
when each wake-up costs little. Python does not name its threads for the kernel, so a thread
is told apart by its id (``/proc/<pid>/task/<tid>/comm`` names the few that are named).

Then one execution is enqueued as the action server enqueues it (``misybot.orchestrator.submit``
for the demo admin, a read-only agent) and ``pickup_ms`` is how long after its enqueue
(``created_at``) the worker claimed it (``started_at``): an idle worker must still wake at once.
Figures are printed, never asserted; the last line is ``idle seconds=<n> database=<kind>
worker_pct=<x> rasa_pct=<x> actions_pct=<x> pickup_ms=<n>``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[1]
# Not bench/ itself: its queue.py would shadow the standard library's queue module.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from misybot.db.engine import create_db_engine
from misybot.db.models import AgentExecution, Company, User
from misybot.db.session import make_session_factory, session_scope
from misybot.demo import demo_user
from misybot.enums import ExecutionStatus
from misybot.orchestrator.queue import FINISHED
from misybot.orchestrator.submit import submit
from misybot.store.tenancy import actor_for_user
from testkit.database import DEFAULT_POSTGRES_URL, demo_database, postgres_unavailable
from testkit.processes import RasaProcess, action_server, free_port, worker_process
from testkit.standins import TwilioStandIn

ACCOUNT_SID = "AC" + "c" * 32
AUTH_TOKEN = "idle-auth-token"
AGENT = "view_alerts"  # read-only and quick: the pickup is measured, not the agent
TICKS_PER_S = os.sysconf("SC_CLK_TCK")
BUSIEST = 3  # threads listed per process


@dataclass(frozen=True)
class ThreadSample:
    """One thread's CPU ticks and context switches so far."""

    name: str
    ticks: int
    switches: int


def _stat_ticks(stat_path: Path) -> int:
    """utime + stime of a ``/proc/.../stat`` file (after the command name, which may hold
    spaces and parentheses)."""
    fields = stat_path.read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _switches(status_path: Path) -> int:
    total = 0
    for line in status_path.read_text().splitlines():
        if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
            total += int(line.split()[1])
    return total


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it, as /proc shows them now."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        children.setdefault(parent, []).append(int(entry.name))
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(children.get(current, []))
    return found


@dataclass(frozen=True)
class Sample:
    """A process tree's CPU ticks so far (its ended threads included), and each live thread's."""

    ticks: dict[int, int]  # by process
    threads: dict[tuple[int, int], ThreadSample]  # by (process, thread id)


def sample(pid: int) -> Sample:
    """``pid`` and its descendants, now."""
    ticks, threads = {}, {}
    for process in descendants(pid):
        try:
            ticks[process] = _stat_ticks(Path(f"/proc/{process}/stat"))
            tasks = list(Path(f"/proc/{process}/task").iterdir())
        except OSError:
            continue  # gone meanwhile
        for task in tasks:
            try:
                threads[(process, int(task.name))] = ThreadSample(
                    (task / "comm").read_text().strip(),
                    _stat_ticks(task / "stat"),
                    _switches(task / "status"),
                )
            except OSError:
                continue  # the thread ended meanwhile
    return Sample(ticks, threads)


@dataclass(frozen=True)
class IdleCost:
    """What one process spent between two samples."""

    label: str
    pid: int
    seconds: float
    cpu_s: float
    threads: int
    wakeups_per_s: float
    busiest: list[tuple[int, int, str, float, float]]  # (process, tid, name, cpu s, wakeups/s)

    @property
    def percent(self) -> float:
        """Of one core."""
        return 100 * self.cpu_s / self.seconds

    def line(self) -> str:
        threads = "; ".join(
            f"{process}/{tid} {name!r} {cpu:.2f} s {wakeups:.1f}/s"
            for process, tid, name, cpu, wakeups in self.busiest
        )
        return (
            f"{self.label} pid={self.pid} cpu_s={self.cpu_s:.2f} pct={self.percent:.2f} "
            f"threads={self.threads} wakeups_per_s={self.wakeups_per_s:.1f} | busiest: {threads}"
        )


def idle_cost(label: str, pid: int, before: Sample, after: Sample, seconds: float) -> IdleCost:
    """What ``pid``'s tree spent between two samples; its threads ranked by CPU, then wake-ups
    (a thread born in between counts from zero)."""
    cpu_s = sum(ticks - before.ticks.get(process, 0) for process, ticks in after.ticks.items())
    spent = []
    for key, end in after.threads.items():
        start = before.threads.get(key, ThreadSample(end.name, 0, 0))
        spent.append((*key, end.name, end.ticks - start.ticks, end.switches - start.switches))
    wakeups = sum(switches for *_, switches in spent) / seconds
    ranked = sorted(spent, key=lambda item: (item[3], item[4]), reverse=True)[:BUSIEST]
    busiest = [
        (process, tid, name, ticks / TICKS_PER_S, switches / seconds)
        for process, tid, name, ticks, switches in ranked
    ]
    return IdleCost(label, pid, seconds, cpu_s / TICKS_PER_S, len(after.threads), wakeups, busiest)


def action_server_pid(action_url: str) -> int:
    """The pid of the action server this process started on ``action_url``'s port."""
    port = str(urlsplit(action_url).port)
    for pid in descendants(os.getpid())[1:]:
        try:
            arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [argument.decode() for argument in arguments]
        if "rasa_sdk" in words and port in words:
            return pid
    raise RuntimeError(f"no action server of ours listens on port {port}")


def measure_pickup(url: str, timeout: float = 30.0) -> tuple[float, str]:
    """Enqueue one execution as the action server does; (ms from its enqueue until a worker
    claimed it, how it ended)."""
    engine = create_db_engine(url)
    sessions = make_session_factory(engine)
    try:
        with session_scope(sessions) as session:
            user = session.execute(select(User).where(User.email == demo_user().email)).scalar_one()
            actor = actor_for_user(session.get(Company, user.company_id), user)
            execution_id = submit(session, actor, AGENT, {}).execution_id
        deadline = time.monotonic() + timeout
        while True:
            with session_scope(sessions) as session:
                row = session.get(AgentExecution, execution_id)
                created, started, status = row.created_at, row.started_at, row.status
            if status in FINISHED or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    finally:
        engine.dispose()
    if started is None:
        return float("nan"), f"not claimed within {timeout:g} s ({status})"
    return (started - created).total_seconds() * 1000, ExecutionStatus(status).value


def log_errors(rasa: RasaProcess) -> list[str]:
    marks = (" ERROR ", "Traceback", "Exception")
    lines = Path(rasa.log.name).read_text(errors="replace").splitlines()
    return [line for line in lines if any(mark in line for mark in marks)]


def run(args: argparse.Namespace) -> str:
    with tempfile.TemporaryDirectory(prefix="misybot-idle-") as scratch, ExitStack() as stack:
        folder = Path(scratch)
        rasa_port = free_port()
        url, _ = stack.enter_context(demo_database(args.database, folder))
        shared = {
            "MISYBOT_DATABASE_URL": url,
            "MISYBOT_REPORTS_DIR": str(folder / "reports"),
            "MISYBOT_SECRETS_FILE": str(folder / "secrets.json"),
            "MISYBOT_RASA_TOKEN": secrets.token_urlsafe(24),
            "MISYBOT_IDENTITY_KEY": secrets.token_urlsafe(32),
            "MISYBOT_RASA_URL": f"http://127.0.0.1:{rasa_port}",
        }
        twilio = TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN).start()
        stack.callback(twilio.stop)
        action_url = stack.enter_context(action_server({**os.environ, **shared}))
        worker = stack.enter_context(worker_process({**os.environ, **shared}, cwd=ROOT))
        rasa = RasaProcess(
            root=ROOT,
            workdir=folder / "rasa",
            model=args.model,
            action_url=action_url,
            twilio_url=twilio.url,
            account_sid=ACCOUNT_SID,
            auth_token=AUTH_TOKEN,
            public_url="https://idle.example.com",
            env=shared,
            rest=True,
            port=rasa_port,
        )
        stack.callback(rasa.stop)
        rasa.start(timeout=300)
        processes = {
            "worker": worker.pid,
            "rasa": rasa.process.pid,
            "actions": action_server_pid(action_url),
        }
        print(f"stack up on {args.database}: {processes}; settling {args.settle_s:g} s", flush=True)
        time.sleep(args.settle_s)

        before = {label: sample(pid) for label, pid in processes.items()}
        started = time.monotonic()
        time.sleep(args.seconds)
        elapsed = time.monotonic() - started
        after = {label: sample(pid) for label, pid in processes.items()}
        costs = {
            label: idle_cost(label, pid, before[label], after[label], elapsed)
            for label, pid in processes.items()
        }
        for cost in costs.values():
            print(cost.line(), flush=True)

        pickup_ms, outcome = measure_pickup(url)
        print(f"after {elapsed:.0f} s idle: {AGENT} claimed after {pickup_ms:.1f} ms, {outcome}")
        errors = log_errors(rasa)
        print(f"errors in Rasa's log: {len(errors)}")
        for line in errors[:3]:
            print(f"  {line[:200]}")
    return (
        f"idle seconds={elapsed:.0f} database={args.database} "
        f"worker_pct={costs['worker'].percent:.2f} rasa_pct={costs['rasa'].percent:.2f} "
        f"actions_pct={costs['actions'].percent:.2f} pickup_ms={pickup_ms:.1f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "misybot.tar.gz"))
    parser.add_argument("--seconds", type=float, default=60.0, help="idle time measured")
    parser.add_argument(
        "--settle-s", type=float, default=5.0, help="idle time before measuring (start-up work)"
    )
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    if args.database == "postgres" and (reason := postgres_unavailable(DEFAULT_POSTGRES_URL)):
        parser.exit(1, f"{reason}\n")
    print(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
