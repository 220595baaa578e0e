"""Per-conversation locks across processes: one holder at a time, first come first served in a
process, released by a holder that is killed; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading

from connectors.state.lock_store import DatabaseLockStore
from misybot.db.locks import NamedLocks
from testkit.waiting import wait_until

HOLD_AND_WAIT = """
import sys, time
from sqlalchemy import create_engine
from misybot.db.locks import NamedLocks
held = NamedLocks(create_engine(sys.argv[1], future=True)).acquire(sys.argv[2])
print("held", flush=True)
time.sleep(600)
"""


def test_a_name_has_one_holder_and_the_next_is_woken_by_the_release(engine):
    locks = NamedLocks(engine)
    first = locks.acquire("conversation:ana")
    assert locks.acquire("conversation:ana", wait=False) is None  # the same process, too
    other = locks.acquire("conversation:bruno", wait=False)
    assert other is not None
    other.release()

    woken = threading.Event()

    def wait_for_it() -> None:
        locks.acquire("conversation:ana").release()
        woken.set()

    waiter = threading.Thread(target=wait_for_it)
    waiter.start()
    first.release()
    waiter.join(30)
    assert woken.is_set()


async def test_a_killed_holder_releases_its_lock(engine):
    url = engine.url.render_as_string(hide_password=False)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_AND_WAIT, url, "conversation:ana"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        locks = NamedLocks(engine)
        assert locks.acquire("conversation:ana", wait=False) is None
        holder.kill()
        holder.wait(30)
        assert await wait_until(lambda: _try(locks, "conversation:ana"), timeout=30)
    finally:
        holder.kill()


def _try(locks: NamedLocks, name: str) -> bool:
    held = locks.acquire(name, wait=False)
    if held is not None:
        held.release()
    return held is not None


async def test_turns_of_a_conversation_run_one_at_a_time_in_arrival_order(engine):
    # Two stores on one database: two replicas.
    replicas = [DatabaseLockStore(locks=NamedLocks(engine)) for _ in range(2)]
    running, order = [], []

    async def turn(number: int) -> None:
        async with replicas[number % 2].lock("ana"):
            running.append(number)
            assert len(running) == 1, running
            order.append(number)
            await asyncio.sleep(0)  # others get their chance to barge in (they must not)
            running.remove(number)

    # In one process, first come first served; across replicas, one at a time.
    same_process = [asyncio.create_task(_in(replicas[0], "bruno", n, order)) for n in range(5)]
    await asyncio.gather(*same_process)
    assert order == [f"bruno {n}" for n in range(5)]
    order.clear()
    await asyncio.gather(*(turn(n) for n in range(10)))
    assert sorted(order) == list(range(10))
    assert not replicas[0].is_someone_waiting("ana")


async def _in(store: DatabaseLockStore, conversation: str, number: int, order: list) -> None:
    async with store.lock(conversation):
        order.append(f"{conversation} {number}")
        await asyncio.sleep(0)


def test_a_pooled_connection_the_server_closed_is_replaced(postgres_engine):
    """A PostgreSQL restart (or an idle timeout) closes pooled connections: the next lock
    still comes, on a new one."""
    from sqlalchemy import text

    backend = text("SELECT pg_backend_pid()")
    locks = NamedLocks(postgres_engine)
    locks.acquire("conversation:ana").release()  # its connection goes back to the pool
    with locks.engine.connect() as pooled:
        pid = pooled.execute(backend).scalar_one()
    with postgres_engine.connect() as admin:
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    again = locks.acquire("conversation:ana", wait=False)
    assert again is not None
    again.release()
    with locks.engine.connect() as pooled:
        assert pooled.execute(backend).scalar_one() != pid
