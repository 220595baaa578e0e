"""Whether a turn costs more as its conversation grows, per tracker store (issue 17).

For each configuration (a tracker store on a database) this starts the real stack on throw-away
state: a database migrated and seeded with the demo data (a SQLite file in a temporary folder, or
a fresh schema of the PostgreSQL database at ``testkit.database.DEFAULT_POSTGRES_URL``), the
action server, an orchestrator worker and ``rasa run`` (through ``connectors.serve``, the HTTP API
behind a token made up for the run) with this project's REST channel. The stores:

- ``misybot``: ``endpoints.yml``'s own ``tracker_store`` and ``lock_store`` sections as they are
  (none: Rasa's in-memory store), with ``MISYBOT_DATABASE_URL`` on the configuration's database;
- ``rasa-sql``: Rasa's own ``SQLTrackerStore`` on the same server (on SQLite a file of its own
  for its ``events`` table, on PostgreSQL the configuration's throw-away schema, dropped with it);
- ``memory``: no ``tracker_store`` section, for reference.

The sender is the demo admin (Ana) talking from this machine, so every command runs its agent
and is answered for real. One conversation gets ``--turns`` messages one after the other, cycling
through read-only commands that answer inline (no reports, no stock changes); a turn's latency is
measured by the client, from the POST to the REST webhook until its reply is read. The p50 of the
first and of the last 20 turns and their ratio is the growth. A fresh conversation before it warms
the stack up.

Then the burst: 5 distinct questions from one new sender, each on its own connection opened
beforehand, written one after the other without waiting (so the order they were sent is well
defined, microseconds apart); ``burst5_last_ms`` is when the last reply had been read. The burst
is in order when the conversation's tracker (Rasa's HTTP API) holds the 5 messages in the order
they were sent, each followed by its own replies before the next, and each HTTP response carries
exactly the replies the tracker shows for its message: what the user sees matches what was
processed, turn by turn, whatever answers a question.

Each configuration also reports the events in its tracker, the events its store holds for the
conversation (Rasa's ``events`` table, or ``conversation_events`` for ``misybot``), failed turns
and the errors in Rasa's log, so that a store that silently fell back to memory shows. Every
process is stopped when a configuration ends, on an error or Ctrl-C too, and its ports are
checked to be closed. Figures are printed, never asserted. A ``growth store=...`` line per
configuration, and as the last line the issue's summary for the ``misybot`` store; with both
databases, the figures of the one whose ratio is worse and the slower of its two bursts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import yaml
from sqlalchemy import text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
# Not bench/ itself: its queue.py would shadow the standard library's queue module.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from connectors.local import conversation_id
from misybot.db.engine import create_db_engine
from misybot.demo import demo_user
from misybot.orchestrator.delivery import conversation_path
from testkit.database import DEFAULT_POSTGRES_URL, demo_database, postgres_unavailable
from testkit.processes import (
    RasaProcess,
    action_server,
    free_port,
    listening_addresses,
    worker_process,
)

# Read-only commands that answer inline: a long conversation of these changes no data, and no
# result is pushed into it later by the worker.
MESSAGES = (
    "how many WID-220 in Lisbon",
    "hi",
    "show alerts",
    "who supplies blue widgets",
    "what's stored in Porto?",
    "thanks",
    "stock AC4410 porto?",
    "help",
    "which agents are running",
    "contact for Northwind",
)
BURST = (  # distinct texts: the tracker's user events tell which message each was
    "how many WID-221 in Porto",
    "who supplies AC4410",
    "show critical alerts",
    "what's stored in Madrid?",
    "help",
)
WINDOW = 20  # turns at each end of the conversation whose p50 are compared
STORES = ("misybot", "rasa-sql", "memory")
STORED_EVENTS = {  # where each store keeps a conversation's events: (table, conversation column)
    "misybot": ("conversation_events", "conversation_id"),
    "rasa-sql": ("events", "sender_id"),
}
USER = demo_user().email  # the admin: every command is allowed, so every agent runs


@dataclass(frozen=True)
class Database:
    """A configuration's throw-away database, migrated and seeded."""

    kind: str  # sqlite | postgresql
    url: str
    folder: Path
    schema: str | None = None  # PostgreSQL's throw-away schema

    def rasa_sql_store(self) -> dict[str, Any]:
        """``endpoints.yml``'s section for Rasa's own SQL tracker store next to this database."""
        if self.schema is None:
            return {"type": "SQL", "dialect": "sqlite", "db": str(self.rasa_sqlite_file)}
        server = make_url(DEFAULT_POSTGRES_URL)
        section = {
            "type": "SQL",
            "dialect": "postgresql",
            "url": server.host,
            "port": server.port,
            "username": server.username,
            "db": server.database,
            # Its ``events`` table goes into this configuration's schema, dropped afterwards.
            "query": {"options": f"-csearch_path={self.schema}"},
        }
        if server.password:
            section["password"] = server.password
        return section

    @property
    def rasa_sqlite_file(self) -> Path:
        return self.folder / "rasa-events.db"

    def store_url(self, store: str) -> str:
        """The database holding ``store``'s events."""
        if store == "rasa-sql" and self.schema is None:
            return f"sqlite:///{self.rasa_sqlite_file}"
        return self.url


@dataclass(frozen=True)
class Burst:
    last_ms: float
    arrived_ms: list[float]  # per message, in the order sent
    statuses: list[int]
    processed: list[int]  # the messages' indexes in the order the tracker holds them
    mismatches: list[str]  # responses that differ from what the tracker holds for their message
    in_order: bool


@dataclass(frozen=True)
class Result:
    store: str
    database: str
    tracker_store: str
    timings: list[float]
    failed_turns: int
    burst: Burst
    tracker_events: int
    stored_events: int | None
    log_errors: list[str]
    left_listening: list[int]

    @property
    def first_p50(self) -> float:
        return statistics.median(self.timings[:WINDOW])

    @property
    def last_p50(self) -> float:
        return statistics.median(self.timings[-WINDOW:])

    @property
    def ratio(self) -> float:
        return self.last_p50 / self.first_p50

    def figures(self, burst_last_ms: float | None = None) -> str:
        """The issue's figures (``burst_last_ms``: another burst's, for a summary)."""
        burst = self.burst.last_ms if burst_last_ms is None else burst_last_ms
        return (
            f"turns={len(self.timings)} first{WINDOW}_p50_ms={self.first_p50:.0f} "
            f"last{WINDOW}_p50_ms={self.last_p50:.0f} ratio={self.ratio:.2f} "
            f"burst5_last_ms={burst:.0f}"
        )

    def line(self) -> str:
        return (
            f"growth store={self.store} database={self.database} {self.figures()} "
            f"burst_in_order={'yes' if self.burst.in_order else 'no'}"
        )


def endpoints(
    configured: dict[str, Any], store: str, database: Database, action_url: str
) -> dict[str, Any]:
    """The Rasa server's endpoints for ``store``: the repository's (``configured``) lock store
    and, for ``misybot``, its tracker store, as they are."""
    action = {**(configured.get("action_endpoint") or {}), "url": action_url}
    sections: dict[str, Any] = {"action_endpoint": action}
    if configured.get("lock_store"):
        sections["lock_store"] = configured["lock_store"]
    if store == "misybot" and configured.get("tracker_store"):
        sections["tracker_store"] = configured["tracker_store"]
    elif store == "rasa-sql":
        sections["tracker_store"] = database.rasa_sql_store()
    return sections


@contextmanager
def throwaway_database(kind: str, folder: Path) -> Iterator[Database]:
    with demo_database(kind, folder) as (url, schema):
        yield Database(kind, url, folder, schema)


def stored_events(
    store: str, tracker_store: str, database: Database, conversation: str
) -> int | None:
    """How many events ``store`` holds for ``conversation`` in its database (None: in memory)."""
    if store not in STORED_EVENTS or tracker_store == "memory":
        return None
    table, column = STORED_EVENTS[store]
    engine = create_db_engine(database.store_url(store))
    try:
        with engine.connect() as connection:
            # The names are constants above: identifiers cannot be bound.
            query = text(f"SELECT count(*) FROM {table} WHERE {column} = :conversation")
            return connection.execute(query, {"conversation": conversation}).scalar()
    finally:
        engine.dispose()


def rest_request(port: int, sender: str, message: str) -> bytes:
    """One REST webhook request, closing its connection after the reply."""
    body = json.dumps({"sender": sender, "message": message}).encode()
    head = (
        "POST /webhooks/rest/webhook HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


async def read_reply(reader: asyncio.StreamReader) -> tuple[int, list[dict], float]:
    """(status, replies, perf_counter when read) of a response on a closing connection."""
    raw = await reader.read()
    arrived = time.perf_counter()
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body) if status == 200 else [], arrived


def reply_texts(messages: list[dict]) -> list[str]:
    """The paragraphs of REST replies or of bot events, comparable: Rasa's output channel sends
    each paragraph of a text as a message of its own (but not a text with buttons), and an image
    or a custom payload apart from its text, which the tracker keeps as one event."""
    texts = [message.get("text") or "" for message in messages]
    paragraphs = [paragraph.strip() for text in texts for paragraph in text.split("\n\n")]
    return [paragraph for paragraph in paragraphs if paragraph]


def turns_in(events: list[dict]) -> list[tuple[str, list[dict]]]:
    """The tracker's turns: each user message's text with the bot events that follow it."""
    turns: list[tuple[str, list[dict]]] = []
    for event in events:
        if event.get("event") == "user":
            turns.append((event.get("text") or "", []))
        elif event.get("event") == "bot" and turns:
            turns[-1][1].append(event)
    return turns


class Conversations:
    """REST conversations with one running Rasa server, as its users' clients see them."""

    def __init__(self, http: aiohttp.ClientSession, rasa: RasaProcess, token: str) -> None:
        self.http = http
        self.rasa = rasa
        self.token = token

    async def turn(self, sender: str, message: str) -> tuple[float, int, list[dict]]:
        """(ms from the POST until its reply was read, HTTP status, replies)."""
        started = time.perf_counter()
        body = {"sender": sender, "message": message}
        async with self.http.post(f"{self.rasa.url}/webhooks/rest/webhook", json=body) as response:
            replies = await response.json() if response.status == 200 else []
            status = response.status
        return (time.perf_counter() - started) * 1000, status, replies

    async def tracker_events(self, sender: str) -> list[dict]:
        path = conversation_path(conversation_id(sender))
        async with self.http.get(
            f"{self.rasa.url}/conversations/{path}/tracker",
            params={"token": self.token, "include_events": "ALL"},
        ) as response:
            response.raise_for_status()
            return (await response.json())["events"]

    async def long_conversation(self, sender: str, turns: int) -> tuple[list[float], int]:
        """``turns`` messages one after the other; (each turn's ms, turns that failed)."""
        timings, failed = [], 0
        for index in range(turns):
            message = MESSAGES[index % len(MESSAGES)]
            elapsed, status, replies = await self.turn(sender, message)
            timings.append(elapsed)
            failed += status != 200 or not replies
            if index < len(MESSAGES):  # what the user gets, once per command
                first = (replies[0].get("text") or "").strip() if replies else ""
                print(f"  {message!r} -> {status} {first.splitlines()[0][:70] if first else ''!r}")
            if (index + 1) % 100 == 0:
                recent = statistics.median(timings[-WINDOW:])
                print(f"  turn {index + 1}/{turns}: p50 of the last {WINDOW} {recent:.0f} ms")
        return timings, failed

    async def burst(self, sender: str) -> Burst:
        connections = [await asyncio.open_connection("127.0.0.1", self.rasa.port) for _ in BURST]
        started = time.perf_counter()
        for (_, writer), message in zip(connections, BURST, strict=True):
            writer.write(rest_request(self.rasa.port, sender, message))  # in order, no await
        for _, writer in connections:
            await writer.drain()
        try:
            read = await asyncio.gather(*(read_reply(reader) for reader, _ in connections))
        finally:
            for _, writer in connections:
                writer.close()
        statuses = [status for status, _, _ in read]
        arrived = [(at - started) * 1000 for _, _, at in read]
        turns = [turn for turn in turns_in(await self.tracker_events(sender)) if turn[0] in BURST]
        processed = [BURST.index(message) for message, _ in turns]
        replies_of = dict(turns)
        mismatches = []
        for message, (_, replies, _) in zip(BURST, read, strict=True):
            answered, held = reply_texts(replies), reply_texts(replies_of.get(message, []))
            if answered != held:
                mismatches.append(f"{message!r}: answered {answered!r}, tracker {held!r}")
        in_order = (
            not mismatches and processed == list(range(len(BURST))) and set(statuses) == {200}
        )
        return Burst(max(arrived), arrived, statuses, processed, mismatches, in_order)


async def measure(rasa: RasaProcess, token: str, turns: int, tag: str) -> tuple:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as http:
        conversations = Conversations(http, rasa, token)
        for message in MESSAGES:  # a warm stack: models, connections, the actions' caches
            await conversations.turn(f"{USER}~{tag}-warm-up", message)
        sender = f"{USER}~{tag}-growth"
        timings, failed = await conversations.long_conversation(sender, turns)
        burst = await conversations.burst(f"{USER}~{tag}-burst")
        tracker_events = len(await conversations.tracker_events(sender))
    return sender, timings, failed, burst, tracker_events


def log_errors(rasa: RasaProcess) -> list[str]:
    """What Rasa logged as an error (a failing tracker store falls back to memory, and says so)."""
    marks = (" ERROR ", "Traceback", "Falling back", "InMemoryTrackerStore")
    lines = Path(rasa.log.name).read_text(errors="replace").splitlines()
    return [line for line in lines if any(mark in line for mark in marks)]


def run_configuration(
    configured: dict[str, Any], store: str, kind: str, model: Path, turns: int
) -> Result:
    """Start the stack for ``store`` on a new ``kind`` database, measure, stop everything."""
    with tempfile.TemporaryDirectory(prefix=f"misybot-growth-{store}-") as scratch:
        folder = Path(scratch)
        token = secrets.token_urlsafe(24)
        rasa_port = free_port()
        with ExitStack() as resources:
            database = resources.enter_context(throwaway_database(kind, folder))
            shared = {
                "MISYBOT_DATABASE_URL": database.url,
                "MISYBOT_REPORTS_DIR": str(folder / "reports"),
                "MISYBOT_SECRETS_FILE": str(folder / "secrets.json"),
                "MISYBOT_RASA_TOKEN": token,
                "MISYBOT_IDENTITY_KEY": secrets.token_urlsafe(32),
                "MISYBOT_RASA_URL": f"http://127.0.0.1:{rasa_port}",
            }
            action_url = resources.enter_context(action_server({**os.environ, **shared}))
            resources.enter_context(worker_process({**os.environ, **shared}, cwd=ROOT))
            rasa = RasaProcess(
                root=ROOT,
                workdir=folder / "rasa",
                model=model,
                action_url=action_url,
                credentials="connectors.local.LocalInput:\n",
                health_channel="rest",
                port=rasa_port,
                env=shared,
            )
            sections = endpoints(configured, store, database, action_url)
            # RasaProcess wrote an endpoints file with the action endpoint only; it starts Rasa
            # with this one.
            (rasa.workdir / "endpoints.yml").write_text(yaml.safe_dump(sections))
            tracker_store = (sections.get("tracker_store") or {}).get("type", "memory")
            resources.callback(rasa.stop)
            rasa.start(timeout=240)
            print(f"{store} on {kind}: tracker_store={tracker_store}", flush=True)
            sender, timings, failed, burst, tracker_events = asyncio.run(
                measure(rasa, token, turns, store)
            )
            stored = stored_events(store, tracker_store, database, conversation_id(sender))
        action_port = urlsplit(action_url).port
        left = [port for port in (rasa_port, action_port) if listening_addresses(port)]
        return Result(
            store, kind, tracker_store, timings, failed, burst, tracker_events, stored,
            log_errors(rasa), left,
        )  # fmt: skip


def report(result: Result) -> None:
    tenth = max(1, len(result.timings) // 10)
    curve = [
        statistics.median(result.timings[start : start + tenth])
        for start in range(0, len(result.timings) - tenth + 1, tenth)
    ]
    burst = result.burst
    print(f"  p50 per tenth of the conversation (ms): {' '.join(f'{ms:.0f}' for ms in curve)}")
    print(
        f"  events: in the tracker {result.tracker_events}, in the store's table "
        f"{'-' if result.stored_events is None else result.stored_events}; "
        f"failed turns {result.failed_turns}; errors in Rasa's log {len(result.log_errors)}"
    )
    for line in result.log_errors[:3]:
        print(f"    {line[:200]}")
    print(
        f"  burst: statuses {burst.statuses}, replies read after (ms) "
        f"{' '.join(f'{ms:.0f}' for ms in burst.arrived_ms)}; processed in the order "
        f"{[index + 1 for index in burst.processed]} (sent 1-{len(BURST)}), responses that "
        f"differ from the tracker: {len(burst.mismatches)}"
    )
    for mismatch in burst.mismatches[:2]:
        print(f"    {mismatch[:300]}")
    left = ", ".join(map(str, result.left_listening)) or "nothing"
    print(f"  stopped: {left} left listening")
    print(result.line(), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "misybot.tar.gz"))
    parser.add_argument("--turns", type=int, default=600)
    parser.add_argument(
        "--stores", default="all", help=f"comma-separated, of {', '.join(STORES)} (or all)"
    )
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    if args.turns < 2 * WINDOW:
        parser.error(f"--turns must be at least {2 * WINDOW}: the first and last {WINDOW} apart")
    stores = STORES if args.stores == "all" else tuple(args.stores.split(","))
    if unknown := set(stores) - set(STORES):
        parser.error(f"unknown stores: {', '.join(sorted(unknown))}")
    databases = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    if "postgresql" in databases and (reason := postgres_unavailable(DEFAULT_POSTGRES_URL)):
        if args.database == "postgresql":
            parser.exit(1, f"{reason}\n")
        print(f"{reason}: PostgreSQL skipped")
        databases.remove("postgresql")

    # Read once: every configuration runs with the same file, even if it changes meanwhile.
    configured = yaml.safe_load((ROOT / "endpoints.yml").read_text()) or {}
    results = []
    for kind in databases:
        for store in stores:
            results.append(run_configuration(configured, store, kind, Path(args.model), args.turns))
            report(results[-1])
    print()
    for result in results:
        print(result.line())
    ours = [result for result in results if result.store == "misybot"]
    if not ours:
        print("no growth summary: the misybot store was not measured")
        return 0
    worst = max(ours, key=lambda result: result.ratio)
    slowest_burst = max(result.burst.last_ms for result in ours)
    print(f"growth {worst.figures(slowest_burst)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
