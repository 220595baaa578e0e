"""A worker process: claims executions, runs their agents in threads, renews leases, retries,
honours cancellation, runs recurring schedules, pushes slow results back to Rasa and says it is
alive (``worker_heartbeats``).

An idle worker sleeps: new work wakes it at once (NOTIFY on PostgreSQL, a poke on its wake socket
on SQLite: ``misybot.orchestrator.wakeup``); retries, expiring leases and schedules wake it when
they come due; and it looks once a second anyway, should a wake-up have been missed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import aiohttp
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from misybot.db.models import Company, User
from misybot.db.types import utc_now
from misybot.enums import Role
from misybot.errors import MisybotError
from misybot.identity import person_conversation
from misybot.notify import outbox, subscriptions, watch
from misybot.notify.times import quiet_until, zone
from misybot.orchestrator import heartbeats, queue, wakeup
from misybot.orchestrator.delivery import (
    NOTIFICATION_INTENT,
    DeliveryError,
    push_result,
    trigger,
)
from misybot.orchestrator.registry import (
    AgentSpec,
    Cancelled,
    RunContext,
    TransientError,
    default_registry,
)
from misybot.people.reach import delivery_channel, route
from misybot.permissions import PermissionDenied
from misybot.privacy.retention import apply_retention
from misybot.settings import Settings, get_settings
from misybot.store.tenancy import Actor, actor_for_user

logger = logging.getLogger(__name__)

IDLE_S = 1.0  # a safety net only: NOTIFY or the wake socket wakes an idle worker at once
SQLITE_POLL_S = 0.02  # on SQLite without a wake socket (it could not be bound), look this often:
# a chat reply waits for the pickup, so this bounds how much of a turn the queue adds
HOUSEKEEPING_S = 1.0  # schedules and delivery retries
RETENTION_EVERY_S = 3600.0  # message bodies past MISYBOT_RETENTION_DAYS


def actor_for_job(session: Session, job: queue.Job) -> Actor:
    """The user the execution runs for (re-read now: a role may have changed), or the guest."""
    if job.user_id is not None:
        user = session.get(User, job.user_id)
        if user is not None:
            return actor_for_user(session.get(Company, job.company_id), user)
    role = Role(job.context.get("role") or Role.VIEWER.value)
    return Actor(company_id=job.company_id, company_slug=_company_slug(session, job), role=role)


def _company_slug(session: Session, job: queue.Job) -> str:
    slug = _COMPANY_SLUGS.get(job.company_id)
    if slug is None:
        slug = _COMPANY_SLUGS[job.company_id] = session.get(Company, job.company_id).slug
    return slug


_COMPANY_SLUGS: dict[int, str] = {}  # slugs never change; saves a query per execution


class Worker:
    """Runs up to ``concurrency`` executions at once from the shared queue."""

    def __init__(
        self,
        engine: Engine,
        *,
        settings: Settings | None = None,
        registry: Mapping[str, AgentSpec] | None = None,
        concurrency: int | None = None,
        worker_id: str | None = None,
        deliver: bool = True,
        on_finished: Callable[[int, str], Any] | None = None,
        idle_s: float = IDLE_S,
    ) -> None:
        if engine.dialect.name == "sqlite":
            # One worker process; its threads write in turn (see misybot.db.engine).
            engine = engine.execution_options(sqlite_begin="BEGIN IMMEDIATE")
        self.engine = engine
        self.settings = settings or get_settings()
        self.registry = dict(registry if registry is not None else default_registry())
        self.concurrency = concurrency or self.settings.worker_concurrency
        host, pid = socket.gethostname(), os.getpid()
        self.worker_id = worker_id or f"{host}:{pid}:{uuid.uuid4().hex[:6]}"
        self.identity = heartbeats.WorkerIdentity(self.worker_id, host, pid, utc_now())
        self.idle_s = idle_s
        self.deliver = deliver
        self.on_finished = on_finished
        self.sessions = sessionmaker(bind=engine, future=True, expire_on_commit=False)
        self.postgres = engine.dialect.name == "postgresql"
        # A PostgreSQL claim is a single statement: it needs no BEGIN/COMMIT round trips.
        self.autocommit = (
            engine.execution_options(isolation_level="AUTOCOMMIT") if self.postgres else None
        )
        self.reader = self.autocommit or engine.execution_options(sqlite_begin="BEGIN")
        # Agents and DB calls run here; sized so lease renewals never wait behind agents.
        self.pool = ThreadPoolExecutor(self.concurrency + 4, thread_name_prefix="misybot-worker")
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._running: set[asyncio.Task] = set()
        self._runs: dict[int, RunContext] = {}  # the executions whose leases this worker holds
        # Whether a claim may find something: not after one came back short, until a NOTIFY,
        # a timer or a schedule says otherwise (saves a claim per finished execution).
        self._look = True
        self.wakeups = 0  # NOTIFYs or pokes received so far (observable progress)
        self.naps = 0  # times it waited for news with a free slot (observable progress)
        self.housekeeping_rounds = 0  # schedule checks done (observable progress)
        self.retention_sweeps = 0
        self._poll_s: float | None = None  # set when SQLite has no wake socket
        self._next_due = None
        self._delivery = _Sweep(self._deliver_due, "delivery")  # slow results, pushed
        self._notify = _Sweep(self._notify_all, "notify")  # notifications, pushed
        self.notifications_pushed = 0  # observable progress

    # ------------------------------------------------------------------------- plumbing
    async def _db(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    def _tx(self, fn: Callable[..., Any], *args: Any) -> Any:
        with self.sessions.begin() as session:
            if self.postgres:
                self._relaxed_commit(session.connection())
            return fn(session, *args)

    def _read(self, fn: Callable[..., Any], *args: Any) -> Any:
        """A read outside any write transaction (on SQLite it takes no write lock)."""
        with self.reader.connect() as connection:
            return fn(connection, *args)

    def _claim(self, free: int) -> list[queue.Job]:
        if not self.postgres:
            return self._tx(queue.claim, self.worker_id, self.settings.lease_s, free)
        with self.autocommit.connect() as connection:
            self._relaxed_commit(connection)
            return queue.claim(connection, self.worker_id, self.settings.lease_s, free)

    def _relaxed_commit(self, connection: Connection) -> None:
        """On PostgreSQL, do not wait for the WAL flush at commit. A database crash can lose only
        the last moments of worker transactions, atomically, and a lost claim, result or retry
        is redone after the lease expires (at-least-once, as for a dead worker). Enqueues (the
        action server's) stay fully synchronous: submitted work is never lost."""
        # Once per pooled connection (a round trip per transaction cost as much as the work).
        # Should the transaction that sets it roll back, the setting lapses: only slower.
        if not connection.info.get("misybot_relaxed_commit"):
            connection.exec_driver_sql("SET synchronous_commit TO OFF")
            connection.info["misybot_relaxed_commit"] = True

    def _wakeup(self) -> None:
        if self._wake is not None:
            self._wake.set()

    def _woken(self) -> None:
        self.wakeups += 1
        self._look = True
        self._wakeup()

    @contextlib.asynccontextmanager
    async def _listening(self):
        """Be woken when work is enqueued: on PostgreSQL, LISTEN on a dedicated connection; on
        SQLite, a wake socket the enqueuing side pokes after its commit."""
        if not self.postgres:
            async with self._wake_socket():
                yield
            return
        loop = asyncio.get_running_loop()
        raw = self.engine.raw_connection()
        # Its own connection, never handed back to the pool: it is switched to autocommit, and
        # a pooled connection in autocommit would make later transactions statement by statement.
        raw.detach()
        connection = raw.driver_connection if hasattr(raw, "driver_connection") else raw.connection
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f"LISTEN {queue.NOTIFY_CHANNEL}")

        def on_readable() -> None:
            connection.poll()
            if connection.notifies:
                connection.notifies.clear()
                self._woken()

        loop.add_reader(connection.fileno(), on_readable)
        try:
            yield
        finally:
            loop.remove_reader(connection.fileno())
            with contextlib.suppress(Exception), connection.cursor() as cursor:
                cursor.execute("UNLISTEN *")
            raw.close()

    @contextlib.asynccontextmanager
    async def _wake_socket(self):
        directory = wakeup.wake_directory(self.engine.url.database)
        try:
            if directory is None:
                raise OSError("no file to name a wake socket after")
            receiver = wakeup.WakeSocket(directory).open()
        except OSError as error:
            self._poll_s = SQLITE_POLL_S
            logger.warning("worker.polling interval_s=%s reason=%s", SQLITE_POLL_S, error)
            yield
            return

        def on_readable() -> None:
            if receiver.drain():
                self._woken()

        loop = asyncio.get_running_loop()
        loop.add_reader(receiver.fileno(), on_readable)
        try:
            yield
        finally:
            loop.remove_reader(receiver.fileno())
            receiver.close()

    # ------------------------------------------------------------------------- main loop
    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Work until ``stop`` is set; running executions are finished (or left to their lease)."""
        stop = stop or asyncio.Event()
        self._wake = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        stop_waiter = asyncio.ensure_future(stop.wait())
        stop_waiter.add_done_callback(lambda _: self._wakeup())
        logger.info("worker.started id=%s concurrency=%d", self.worker_id, self.concurrency)
        last_housekeeping = 0.0
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession() as http, self._listening():
            self.http = http
            leases = asyncio.create_task(self._keep_leases())
            beating = asyncio.create_task(self._keep_beating())
            retention = asyncio.create_task(self._keep_retention())
            while not stop.is_set():
                self._wake.clear()
                if loop.time() - last_housekeeping >= HOUSEKEEPING_S:
                    last_housekeeping = loop.time()
                    await self._housekeeping()
                free = self.concurrency - len(self._running)
                if free > 0 and self._look:
                    wakeups = self.wakeups
                    try:
                        claimed = await self._db(self._claim, free)
                    except (OperationalError, DBAPIError) as error:
                        logger.warning("worker.claim_failed error=%s", error)
                        await asyncio.sleep(1)
                        continue
                    # A short batch means nothing more is claimable until there is news (a
                    # wake-up during the claim may be about work its snapshot did not see).
                    self._look = len(claimed) == free or self.wakeups != wakeups
                    for job in claimed:
                        task = asyncio.create_task(self._guarded(job))
                        self._running.add(task)
                        task.add_done_callback(self._task_done)
                    if self._look:
                        continue
                if free > 0:
                    self.naps += 1
                timeout = self._poll_s or self._idle_timeout()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout)
                except asyncio.TimeoutError:
                    # A retry, lease or run came due (or a poll). After the plain safety-net
                    # time, the housekeeping it is now time for says whether to claim.
                    if self._poll_s or timeout < self.idle_s:
                        self._look = True
            stop_waiter.cancel()
            if self._running:
                await asyncio.gather(*self._running, return_exceptions=True)
            leases.cancel()
            beating.cancel()
            retention.cancel()
            await asyncio.gather(beating, retention, return_exceptions=True)
            await self._stop_beating()
            await self._delivery.finished()
            await self._notify.finished()
        self.pool.shutdown(wait=False)
        logger.info("worker.stopped id=%s", self.worker_id)

    def _task_done(self, task: asyncio.Task) -> None:
        self._running.discard(task)
        if self._look:  # a free slot matters only when there may be more to claim
            self._wakeup()

    def _idle_timeout(self) -> float:
        """Sleep until the next retry, lease expiry or scheduled run (wake-ups cover new work);
        housekeeping refreshes that time every second and retries we schedule lower it."""
        if self._next_due is None:
            return self.idle_s
        remaining = (self._next_due - utc_now()).total_seconds()
        if remaining <= 0:
            self._next_due = None  # passed: claim once, then wait for housekeeping's next time
            return 0
        return min(self.idle_s, remaining)

    def _due_at(self, moment) -> None:
        if moment is not None and (self._next_due is None or moment < self._next_due):
            self._next_due = moment

    async def _housekeeping(self) -> None:
        """Every second, one read: enqueue the recurring runs and digests that are due, push
        results and notifications whose (re)try is due, and note when a claim may next find
        something — which also catches work a missed wake-up would otherwise leave waiting."""
        try:
            attempts = self.settings.delivery_attempts
            due = await self._db(self._read, queue.due_times, attempts)
            now = utc_now()
            # Recurring runs, then subscribed digests: each enqueues what came due.
            for kind, enqueue_due in (
                ("schedule", queue.enqueue_due_schedules),
                ("digest", subscriptions.enqueue_due_digests),
            ):
                moment = getattr(due, kind)
                if moment is None or moment > now:
                    continue
                created = await self._db(
                    self._tx, enqueue_due, self.settings.priorities, self.settings.max_attempts
                )
                if created:
                    logger.info("worker.enqueued due=%s executions=%s", kind, created)
                due = await self._db(self._read, queue.due_times, attempts)
            self._next_due = due.next_claim
            if self._next_due is not None and self._next_due <= now:
                self._look = True
            if self.deliver and due.delivery is not None and due.delivery <= now:
                self._kick_delivery()  # retries of pushes that failed earlier
            if self.deliver:
                # Held notifications whose person wrote since go out now; others when due.
                released = (
                    due.held is not None
                    and await self._db(self._read, outbox.releasable)
                    and await self._db(self._tx, outbox.release_held)
                )
                if released or (due.notification is not None and due.notification <= now):
                    self._kick_notify()
            self.housekeeping_rounds += 1
        except (OperationalError, DBAPIError) as error:
            logger.warning("worker.housekeeping_failed error=%s", error)

    # ------------------------------------------------------------------------- heartbeat
    async def _keep_beating(self) -> None:
        """Record that this worker is alive every ``worker_heartbeat_s``, idle or not."""
        while True:
            try:
                await self._db(self._tx, heartbeats.beat, self.identity, len(self._running))
            except (OperationalError, DBAPIError) as error:
                logger.warning("worker.heartbeat_failed error=%s", error)
            await asyncio.sleep(self.settings.worker_heartbeat_s)

    async def _keep_retention(self) -> None:
        """With ``MISYBOT_RETENTION_DAYS``: blank older message bodies now and every hour
        (misybot.privacy.retention.apply_retention; idempotent, so several workers may)."""
        days = self.settings.retention_days
        while days:
            try:
                erased = await self._db(self._tx, apply_retention, days)
                if any(erased.values()):
                    logger.info("worker.retention days=%d erased=%s", days, erased)
                self.retention_sweeps += 1
            except (OperationalError, DBAPIError) as error:
                logger.warning("worker.retention_failed error=%s", error)
            await asyncio.sleep(RETENTION_EVERY_S)

    async def _stop_beating(self) -> None:
        try:
            await self._db(self._tx, heartbeats.forget, self.worker_id)
        except (OperationalError, DBAPIError) as error:
            logger.warning("worker.heartbeat_not_removed error=%s", error)

    # ------------------------------------------------------------------------- one execution
    async def _guarded(self, job: queue.Job) -> None:
        try:
            await self._execute(job)
        except Exception:  # noqa: BLE001 - the lease brings the job back; keep the worker up
            logger.exception("worker.execution_crashed id=%s agent=%s", job.id, job.agent_type)

    async def _execute(self, job: queue.Job) -> None:
        run = self._runs[job.id] = RunContext(execution_id=job.id, attempt=job.attempts)
        try:
            await self._execute_holding_lease(job, run)
        finally:
            del self._runs[job.id]

    async def _execute_holding_lease(self, job: queue.Job, run: RunContext) -> None:
        spec = self.registry.get(job.agent_type)
        if spec is None:
            await self._db(self._tx, queue.fail, job.id, self.worker_id, "unknown agent type")
            return await self._finished(job, "failed")
        if job.attempts > job.max_attempts:
            # Its workers kept dying (lease expiries count as attempts): stop trying.
            error = f"gave up after {job.max_attempts} attempts (worker lost)"
            await self._db(self._tx, queue.fail, job.id, self.worker_id, error)
            return await self._finished(job, "failed")
        timeout = spec.timeout_s or self.settings.agent_timeout_s
        work = asyncio.get_running_loop().run_in_executor(self.pool, self._run_sync, job, spec, run)
        try:
            outcome, error = await asyncio.wait_for(asyncio.shield(work), timeout)
        except asyncio.TimeoutError:
            run.abandon()  # the thread stops at its next check and rolls back
            outcome, error = "retry", f"timed out after {timeout:g} s"
        if outcome == "retry":
            outcome = await self._db(self._tx, self._retry_or_fail, job, error)
        logger.info(
            "worker.execution id=%s agent=%s attempt=%d outcome=%s error=%s",
            job.id,
            job.agent_type,
            job.attempts,
            outcome,
            error,
        )
        await self._finished(job, outcome)

    async def _finished(self, job: queue.Job, outcome: str) -> None:
        if outcome == "failed" and outbox.reports_to_someone(job.context):
            # A recurring run (a digest) that failed is news to whom it reports to.
            try:
                if await self._db(self._tx, self._failure_news, job):
                    self._kick_notify()
            except (OperationalError, DBAPIError) as error:
                logger.warning("worker.notify_failed id=%s error=%s", job.id, error)
        if self.on_finished is not None:
            self.on_finished(job.id, outcome)
        if outcome in ("succeeded", "failed", "cancelled") and self.deliver:
            self._kick_delivery()

    @staticmethod
    def _failure_news(session: Session, job: queue.Job) -> int | None:
        return outbox.on_finished(
            session,
            execution_id=job.id,
            company_id=job.company_id,
            user_id=job.user_id,
            agent_type=job.agent_type,
            context=job.context,
            result=None,
        )

    def _kick_delivery(self) -> None:
        """Push finished results soon."""
        self._delivery.kick()

    def _retry_or_fail(self, session: Session, job: queue.Job, error: str) -> str:
        if job.attempts < job.max_attempts:
            delay = queue.backoff_s(
                job.attempts, self.settings.retry_base_s, self.settings.retry_max_s
            )
            queue.retry_later(session, job.id, self.worker_id, error, delay)
            self._due_at(utc_now() + timedelta(seconds=delay))
            return "retry"
        queue.fail(session, job.id, self.worker_id, error)
        return "failed"

    async def _keep_leases(self) -> None:
        """Renew the leases of all running executions in one statement every third of a lease;
        tell a run to stop when its lease was lost or cancellation was requested."""
        interval = max(self.settings.lease_s / 3, 0.05)
        while True:
            await asyncio.sleep(interval)
            runs = dict(self._runs)
            if not runs:
                continue
            try:
                held = await self._db(
                    self._tx, queue.renew, list(runs), self.worker_id, self.settings.lease_s
                )
            except (OperationalError, DBAPIError) as error:
                logger.warning("worker.renew_failed error=%s", error)
                continue
            for execution_id, run in runs.items():
                if held.get(execution_id, True):  # lost, or cancellation requested
                    run.cancel_event.set()

    @staticmethod
    def _prepare(session: Session, job: queue.Job) -> tuple[bool, Actor]:
        # The claim read cancel_requested (stop_agent cancels queued rows outright).
        cancel = job.cancel_requested
        return cancel, actor_for_job(session, job)

    def _run_sync(self, job: queue.Job, spec: AgentSpec, run: RunContext) -> tuple[str, str | None]:
        """Run the agent and record its result in one transaction (all or nothing)."""
        session = self.sessions()
        try:
            if self.postgres:
                self._relaxed_commit(session.connection())
            # On SQLite the agent's transaction holds the write lock: read these in a short one.
            cancel, actor = (
                self._prepare(session, job) if self.postgres else self._tx(self._prepare, job)
            )
            if cancel:
                run.cancel_event.set()
            run.check()
            result = spec.run(session, actor, job.context, run)
            run.check()  # cancelled while it ran: nothing it wrote is kept
            if not queue.complete(session, job.id, self.worker_id, result):
                session.rollback()
                return "lost", "lease lost"
            # In the same transaction: what the result sets off (pushes, alerts, a scan).
            news = watch.after_success(
                session,
                execution_id=job.id,
                company_id=job.company_id,
                user_id=job.user_id,
                agent_type=job.agent_type,
                context=job.context,
                result=result,
                priorities=self.settings.priorities,
            )
            session.commit()
            if news:
                self._wakeup_threadsafe(self._kick_notify)
            return "succeeded", None
        except Cancelled:
            session.rollback()
            if run.abandoned:
                return "lost", "abandoned after its time limit"
            with self.sessions.begin() as cleanup:
                if queue.mark_cancelled(cleanup, job.id, self.worker_id):
                    return "cancelled", None
            return "lost", "lease lost"
        except (MisybotError, PermissionDenied) as error:
            # The request itself is wrong (unknown SKU, not allowed): retrying cannot help.
            session.rollback()
            with self.sessions.begin() as cleanup:
                queue.fail(cleanup, job.id, self.worker_id, str(error))
            return "failed", str(error)
        except (TransientError, OperationalError, DBAPIError, OSError, TimeoutError) as error:
            session.rollback()
            return "retry", f"{type(error).__name__}: {error}"
        except Exception as error:  # noqa: BLE001 - an agent bug: retried, then failed, kept
            logger.exception("worker.agent_error id=%s agent=%s", job.id, job.agent_type)
            session.rollback()
            return "retry", f"{type(error).__name__}: {error}"
        finally:
            session.close()

    # ------------------------------------------------------------------------- delivery
    async def _deliver_due(self) -> None:
        settings = self.settings
        due = await self._db(
            self._tx, queue.claim_delivery, self.worker_id, 60.0, settings.delivery_attempts
        )
        for execution in due:
            sender = (execution.context or {}).get("sender_id")
            try:
                if not sender:
                    raise DeliveryError("no sender id in the execution context")
                output = await self._db(self._read, delivery_channel, sender, utc_now())
                await push_result(
                    self.http,
                    settings.rasa_url,
                    sender,
                    execution.id,
                    settings.api_token,
                    output_channel=output,
                )
            except DeliveryError as error:
                retry_in = queue.backoff_s(execution.delivery_attempts, 1.0, 60.0)
                logger.warning(
                    "worker.delivery_failed id=%s attempt=%d retry_in_s=%.1f error=%s",
                    execution.id,
                    execution.delivery_attempts,
                    retry_in,
                    error,
                )
                await self._db(self._tx, queue.delivery_failed, execution.id, str(error), retry_in)
                continue
            await self._db(self._tx, queue.delivery_done, execution.id)
            logger.info("worker.delivered id=%s sender=%s", execution.id, sender)

    # ------------------------------------------------------------------------- notifications
    def _wakeup_threadsafe(self, callback: Callable[[], None]) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(callback)

    def _kick_notify(self) -> None:
        """Push due notifications soon."""
        if self.deliver:
            self._notify.kick()

    async def _notify_all(self) -> None:
        while await self._notify_due():
            pass

    async def _notify_due(self) -> int:
        """Push the notifications that are due: each on the channel that reaches the person now,
        later when they are in quiet hours, held when nothing can carry it; how many it took."""
        attempts = self.settings.delivery_attempts
        due = await self._db(self._tx, outbox.claim, self.worker_id, 60.0)
        for item in due:
            now = utc_now()
            if not item.active:  # deactivated since: kept, not sent
                await self._db(self._tx, outbox.give_up, item.id, "the person was deactivated")
                continue
            ends = quiet_until(item.quiet_from, item.quiet_until, zone(item.timezone), now)
            if ends is not None:
                await self._db(self._tx, outbox.later, item.id, ends, "quiet hours")
                continue
            way = await self._db(self._read, route, item.user_id, now)
            if way.transport is None:
                await self._db(self._tx, outbox.hold, item.id, way.reason)
                logger.info("worker.notification_held id=%s reason=%s", item.id, way.reason)
                continue
            try:
                await trigger(
                    self.http,
                    self.settings.rasa_url,
                    person_conversation(item.user_id),
                    NOTIFICATION_INTENT,
                    {"notification_id": str(item.id)},
                    self.settings.api_token,
                    output_channel=way.transport,
                )
            except DeliveryError as error:
                if item.attempts >= attempts:
                    await self._db(self._tx, outbox.give_up, item.id, str(error))
                    logger.error("worker.notification_failed id=%s error=%s", item.id, error)
                    continue
                retry_at = now + timedelta(seconds=queue.backoff_s(item.attempts, 1.0, 60.0))
                await self._db(self._tx, outbox.later, item.id, retry_at, str(error))
                self._due_at(retry_at)
                continue
            await self._db(self._tx, outbox.sent, item.id, way.transport)
            self.notifications_pushed += 1
            logger.info(
                "worker.notified id=%s kind=%s channel=%s", item.id, item.kind, way.transport
            )
        return len(due)


class _Sweep:
    """Runs ``sweep`` soon after a kick: one run at a time, kicks during a run coalesced into
    one more run."""

    def __init__(self, sweep: Callable[[], Any], name: str) -> None:
        self.sweep = sweep
        self.name = name
        self.wanted = False
        self.task: asyncio.Task | None = None

    def kick(self) -> None:
        self.wanted = True
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while self.wanted:
            self.wanted = False
            try:
                await self.sweep()
            except (OperationalError, DBAPIError) as error:
                logger.warning("worker.%s_sweep_failed error=%s", self.name, error)

    async def finished(self) -> None:
        if self.task is not None:
            await asyncio.gather(self.task, return_exceptions=True)


def run_worker(engine: Engine, concurrency: int | None = None) -> None:
    """Run a worker until SIGINT/SIGTERM (``misybot worker``)."""
    import signal

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await Worker(engine, concurrency=concurrency).run(stop)

    asyncio.run(main())
