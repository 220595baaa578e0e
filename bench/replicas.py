"""Replicas: signed Twilio webhooks from many senders over one ``rasa run``, then two, then two of
which one is killed mid-run.

Starts the stack on throw-away state: a database migrated and seeded with the demo data (a
SQLite file by default, or with ``--database postgres`` a fresh schema of the PostgreSQL
database at ``testkit.database.DEFAULT_POSTGRES_URL``), one Twilio stand-in, the action server,
an orchestrator worker and replicas: ``rasa run`` processes (through ``connectors.serve``) on
ports of their own with the same database, endpoints and credentials. Each replica's Twilio API
URL carries its name (the stand-in answers under that prefix too), so every reply the stand-in
accepts says which replica sent it, and under which sid. The second replica is started after
the first phase (a model takes a minute or two to load here): the first phase has one replica
in every sense, nothing else sweeping the store.

Every sender is a WhatsApp number linked to the demo admin, so every message goes through NLU;
the rate limit is raised out of the way. In each phase ``--senders`` new senders post
``--messages`` webhooks each, really signed, one every ``--gap-s`` without waiting for replies
(their starts spread over ``--ramp-s``), each text unique in its conversation. Message k of
sender i goes to replica (i + k) mod n, as a load balancer without affinity spreads them: a
sender's messages land on both replicas and must still be processed and answered in order.
A webhook answered 503 (the store was unavailable: not stored) is posted again, the same signed
request, as the product asks of Twilio; one still unacknowledged after a few tries is counted.

1. one replica;
2. two replicas;
3. two replicas, the second SIGKILLed once half of the phase's webhooks were posted. Webhooks
   after the kill go to the survivor; one that was cut off unanswered by the kill is posted
   again, the same signed request, to the survivor, as a provider retries elsewhere.

After a phase's last post the bench waits until its messages are all processed (or failed).
Throughput: the acknowledged messages over the time from the first post to the last reply the
stand-in accepted. Then, from the store and the stand-in:

- order violations: messages processed (their user events in the sender's tracker,
  ``conversation_events``) or answered (the stand-in's replies in the order it accepted them,
  each tied to its message by its sid in ``outbound_messages``) right after one sent later;
- lost: acknowledged messages never processed (their inbox row is missing or not processed, or
  their text is not in the tracker), failed ones apart;
- duplicated: messages processed twice (their text twice in the tracker) or answered twice (the
  same reply text accepted twice for them, each reply tied to its message by its record; or
  begun again by a sender who got replies on no record, sent as their replica died), and one
  more for each sender who got replies on no record otherwise;
- takeover (phase 3): from the kill until the survivor had processed (``processed_at``) the
  first message the killed replica left: stored before the kill, unprocessed then, and either
  begun a second time (its attempt had been counted on the killed replica: in its turn, or
  waiting for a turn's slot) or of a sender whose last reply before the kill came from the
  killed replica (which held the sender's lock).

Each phase also reports the CPU each process spent over it (% of one core: the replicas, the
action server, the worker, this bench with its stand-in) and the whole machine's, which says
whether a second replica had a core to itself.

Figures are printed, never asserted: a line per phase, and last ``replicas n=2 msgs_per_s=<n>
vs_one=<x> order_violations=<n> lost=<n> duplicated=<n> takeover_s=<n>`` (throughput of phase 2
and its ratio to phase 1; the counts over every phase).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import pairwise
from pathlib import Path

import aiohttp
from sqlalchemy import select
from sqlalchemy.engine import Engine, Row

ROOT = Path(__file__).resolve().parents[1]
# Not bench/ itself: its queue.py would shadow the standard library's queue module.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from misybot.db.engine import create_db_engine
from misybot.db.models import ConversationEvent, ConversationMessage, OutboundMessage
from misybot.demo import demo_user
from misybot.enums import Channel, InboxStatus
from testkit.database import (
    DEFAULT_POSTGRES_URL,
    demo_database,
    link_identities,
    postgres_unavailable,
)
from testkit.measure import percentile
from testkit.payloads import inbound_form, signed_request
from testkit.processes import RasaProcess, action_server, worker_process
from testkit.standins import TwilioStandIn
from testkit.waiting import wait_until

ACCOUNT_SID = "AC" + "d" * 32
AUTH_TOKEN = "replicas-auth-token"
PUBLIC_URL = "https://replicas.example.com"  # every replica signs over the same public URL
WEBHOOK_PATH = "/webhooks/whatsapp_twilio/webhook"
USER = demo_user().email  # every sender is the demo admin (each number its own conversation)
REPLICAS = ("a", "b")
WARM_UP = 0  # the phase number of the warm-up senders (one per replica)
TICKS_PER_S = os.sysconf("SC_CLK_TCK")
POST_ATTEMPTS = 5  # of one webhook, over the replicas, before it counts as never acknowledged


def number(phase: int, index: int) -> str:
    """The WhatsApp number of sender ``index`` of ``phase`` (without ``whatsapp:``)."""
    return f"+1555{phase}{index:06d}"


def text_of(turn: int) -> str:
    """Message ``turn``'s text: unique in its conversation, so the tracker tells which it was.
    A greeting tagged with letters (a, b, … z, aa, ab, …): digits would be read as a quantity or
    a report number, and answered by another agent."""
    tag = ""
    turn += 1
    while turn:
        turn, letter = divmod(turn - 1, 26)
        tag = chr(ord("a") + letter) + tag
    return f"hi {tag}"


@dataclass(frozen=True)
class Delivery:
    """A reply the stand-in accepted: to whom, from which replica, what, when
    (``time.monotonic``)."""

    to: str
    replica: str
    body: str
    at: float


class AttributingTwilio(TwilioStandIn):
    """The Twilio stand-in, also under ``/<replica>/``: a replica whose API URL names it is
    recorded as the sender of each message it sends, with the sid it was given."""

    def __init__(self, account_sid: str, auth_token: str) -> None:
        super().__init__(account_sid, auth_token)
        self.deliveries: dict[str, Delivery] = {}  # by sid

    def api_url(self, replica: str) -> str:
        return f"{self.url}/{replica}"

    def routes(self, app) -> None:
        super().routes(app)
        app.router.add_post("/{replica}/2010-04-01/Accounts/{account}/Messages.json", self._create)

    def _record(self, request, auth, fields, status: int, answer: dict):
        if status == 201:
            to, body = (fields.get("To") or [""])[0], (fields.get("Body") or [""])[0]
            replica = request.match_info.get("replica", "")
            self.deliveries[answer["sid"]] = Delivery(to, replica, body, time.monotonic())
        return super()._record(request, auth, fields, status, answer)

    def deliveries_to(self, senders: set[str]) -> dict[str, Delivery]:
        return {sid: found for sid, found in list(self.deliveries.items()) if found.to in senders}


@dataclass(frozen=True)
class Posted:
    """One message a sender posted: which replica acknowledged it (None: none did)."""

    sender: str  # whatsapp:+…
    turn: int
    text: str
    sent_at: float  # time.monotonic
    acked_by: str | None
    ack_ms: float
    failed_over: bool  # posted again to another replica after its own was gone
    unavailable: int  # 503s answered (not stored) before it was acknowledged


@dataclass(frozen=True)
class Kill:
    replica: str
    at: float  # time.monotonic
    wall: datetime
    posted_before: int


def cpu_ticks(pid: int) -> int | None:
    """utime + stime of ``pid`` (every thread), None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])


def machine_ticks() -> int:
    """CPU ticks the whole machine was busy (not idle, not waiting for I/O)."""
    cpu = [int(value) for value in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(cpu) - cpu[3] - cpu[4]


class CpuShares:
    """What each process spent over a phase, in % of one core; the machine's too (of
    ``os.cpu_count()`` cores): whether a phase was bound by the CPU, and whose."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.began = time.monotonic()
        self.start = {label: cpu_ticks(pid) or 0 for label, pid in pids.items()}
        self.machine = machine_ticks()
        self.end: dict[str, int] = {}

    def freeze(self, label: str) -> None:
        """Take ``label``'s last reading now (it is about to be killed)."""
        self.end[label] = cpu_ticks(self.pids[label]) or self.start[label]

    def line(self) -> str:
        percent = (time.monotonic() - self.began) * TICKS_PER_S / 100  # ticks: 1 % of a core
        shares = []
        for label, pid in self.pids.items():
            end = self.end.get(label) or cpu_ticks(pid) or self.start[label]
            shares.append(f"{label}={(end - self.start[label]) / percent:.0f}")
        machine = (machine_ticks() - self.machine) / percent
        return (
            f"cpu % of a core: {' '.join(shares)} | machine {machine:.0f} "
            f"of {100 * (os.cpu_count() or 1)}"
        )


@dataclass
class Outcome:
    """What one phase measured."""

    name: str
    replicas: int
    posted: list[Posted]
    elapsed_s: float
    by_replica: Counter
    order_violations: int = 0
    lost: int = 0
    duplicated: int = 0
    processed_twice: int = 0  # of the duplicated: twice in the tracker
    answered_twice: int = 0  # of the duplicated: a response twice
    failed: int = 0
    redone: int = 0  # begun more than once
    unrecorded_replies: int = 0  # accepted by the stand-in, on no record
    kill: Kill | None = None
    left: int = 0  # messages the killed replica left
    takeover_s: float = float("nan")
    last_taken_over_s: float = float("nan")
    cpu: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def acked(self) -> int:
        return sum(posted.acked_by is not None for posted in self.posted)

    @property
    def msgs_per_s(self) -> float:
        return self.acked / self.elapsed_s if self.elapsed_s > 0 else float("nan")

    def line(self) -> str:
        acks = [posted.ack_ms for posted in self.posted if posted.acked_by is not None]
        replies = " ".join(f"{name}={count}" for name, count in sorted(self.by_replica.items()))
        text = (
            f"phase={self.name} replicas={self.replicas} acked={self.acked}/{len(self.posted)} "
            f"msgs_per_s={self.msgs_per_s:.1f} over {self.elapsed_s:.1f} s | ack ms "
            f"p50={percentile(acks, 0.5):.1f} p99={percentile(acks, 0.99):.1f} | replies by "
            f"{replies or 'none'} | order_violations={self.order_violations} lost={self.lost} "
            f"duplicated={self.duplicated} (processed twice {self.processed_twice}, answered "
            f"twice {self.answered_twice}) failed={self.failed} redone={self.redone} "
            f"unrecorded_replies={self.unrecorded_replies} "
            f"webhook_503s={sum(posted.unavailable for posted in self.posted)}"
        )
        if self.kill is not None:
            first_post = min(posted.sent_at for posted in self.posted)
            after = sum(posted.sent_at >= self.kill.at for posted in self.posted)
            moved = sum(posted.failed_over for posted in self.posted)
            text += (
                f"\n  killed {self.kill.replica} {self.kill.at - first_post:.1f} s after the "
                f"first post ({self.kill.posted_before} posted before, {after} after; "
                f"{moved} posted again to the survivor); it left {self.left} message(s): "
                f"takeover_s={self.takeover_s:.2f}, the last processed after "
                f"{self.last_taken_over_s:.2f} s"
            )
        return "\n".join([text, f"  {self.cpu}", *(f"  {note}" for note in self.notes)])


class Bench:
    """Senders posting to the running replicas."""

    def __init__(
        self,
        replicas: dict[str, RasaProcess],
        twilio: AttributingTwilio,
        http: aiohttp.ClientSession,
        store: Engine,
        args: argparse.Namespace,
        others: dict[str, int],
    ) -> None:
        self.replicas = replicas
        self.others = others  # the pids of the other processes whose CPU a phase reports
        self.twilio = twilio
        self.http = http
        self.store = store
        self.args = args
        self.down: set[str] = set()  # killed: a load balancer sends it nothing more
        self._posted = 0
        self._half_posted = asyncio.Event()
        self._half = 0
        self._cpu: CpuShares | None = None

    async def post(self, sender: str, turn: int, targets: list[str], first: str) -> Posted:
        """Post one signed webhook to ``first``: to the next live target should it be gone, and
        again (the same request) when it answers 503, as Twilio is told to retry then."""
        fields = inbound_form(sender, text_of(turn), account_sid=ACCOUNT_SID)
        body, headers = signed_request(AUTH_TOKEN, PUBLIC_URL + WEBHOOK_PATH, fields)
        sent_at = time.monotonic()
        candidates = [first, *(name for name in targets if name != first)]
        failed_over, unavailable = False, 0
        for attempt in range(1, POST_ATTEMPTS + 1):
            candidates = [name for name in candidates if name not in self.down]
            if not candidates:
                break
            name = candidates[0]
            try:
                async with self.http.post(
                    self.replicas[name].url + WEBHOOK_PATH, data=body, headers=headers
                ) as response:
                    await response.read()
                    status = response.status
            except aiohttp.ClientConnectionError:  # refused, or cut off by the kill
                failed_over = True
                candidates.pop(0)
                continue
            if status == 200:
                ack_ms = (time.monotonic() - sent_at) * 1000
                return Posted(
                    sender, turn, text_of(turn), sent_at, name, ack_ms, failed_over, unavailable
                )
            if status != 503:
                raise RuntimeError(f"replica {name} answered {status}")
            unavailable += 1  # not stored: try again, on the next replica if there is one
            candidates.append(candidates.pop(0))
            await asyncio.sleep(0.1 * attempt)
        return Posted(
            sender, turn, text_of(turn), sent_at, None, float("nan"), failed_over, unavailable
        )

    async def sender(
        self, phase: int, index: int, targets: list[str], delay: float
    ) -> list[Posted]:
        await asyncio.sleep(delay)
        sender = f"whatsapp:{number(phase, index)}"
        begun = time.monotonic()
        posted = []
        for turn in range(self.args.messages):
            wait = begun + turn * self.args.gap_s - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            first = targets[(index + turn) % len(targets)]
            posted.append(await self.post(sender, turn, targets, first))
            self._posted += 1
            if self._posted >= self._half:
                self._half_posted.set()
        return posted

    async def kill_halfway(self, name: str) -> Kill:
        await self._half_posted.wait()
        posted_before = self._posted
        self.down.add(name)
        self._cpu.freeze(name)
        at, wall = time.monotonic(), datetime.now(timezone.utc)
        await asyncio.to_thread(self.replicas[name].kill)
        return Kill(name, at, wall, posted_before)

    async def warm_up(self, name: str) -> None:
        """One message through ``name`` (its first turn loads what turns use); prints the
        reply."""
        sender = f"whatsapp:{number(WARM_UP, REPLICAS.index(name))}"
        await self.post(sender, 0, [name], name)
        await self.twilio.wait_for(sender, 1, timeout=120)
        await asyncio.sleep(1.0)  # a turn may answer in several messages
        replies = self.twilio.delivered_to(sender)
        bodies = " | ".join(repr((reply.one("Body") or "")[:80]) for reply in replies)
        print(f"warm-up through {name}: {text_of(0)!r} -> {len(replies)} repl(ies): {bodies}")

    async def phase(self, phase: int, name: str, targets: list[str], kill: str | None) -> Outcome:
        args = self.args
        self._posted = 0
        self._half = (args.senders * args.messages + 1) // 2
        self._half_posted = asyncio.Event()
        pids = {replica: self.replicas[replica].process.pid for replica in targets}
        self._cpu = CpuShares({**pids, **self.others})
        killing = asyncio.create_task(self.kill_halfway(kill)) if kill else None
        posted = [
            item
            for items in await asyncio.gather(
                *(
                    self.sender(phase, index, targets, index * args.ramp_s / args.senders)
                    for index in range(args.senders)
                )
            )
            for item in items
        ]
        killed = await killing if killing else None
        addresses = [number(phase, index) for index in range(args.senders)]
        acked = sum(item.acked_by is not None for item in posted)
        settled = await wait_until(
            lambda: settled_count(self.store, addresses) >= acked,
            timeout=args.timeout_s,
            interval=0.5,
        )
        cpu = self._cpu.line()
        outcome = analyse(self.store, name, len(targets), posted, self.twilio, killed)
        outcome.cpu = cpu
        if not settled:
            outcome.notes.append(f"not all processed within {args.timeout_s:g} s")
        return outcome


def settled_count(store: Engine, addresses: list[str]) -> int:
    """How many of these senders' messages were processed or failed."""
    done = (InboxStatus.PROCESSED.value, InboxStatus.FAILED.value)
    with store.connect() as connection:
        statuses = connection.execute(
            select(ConversationMessage.status).where(
                ConversationMessage.channel == Channel.WHATSAPP,
                ConversationMessage.sender_address.in_(addresses),
            )
        ).scalars()
        return sum(status in done for status in statuses)


def _out_of_order(sequence: list[int]) -> set[int]:
    """The items of ``sequence`` (send indexes) that come right after a later-sent one."""
    return {later for earlier, later in pairwise(sequence) if later < earlier}


@dataclass(frozen=True)
class Reply:
    """A reply the stand-in accepted, tied to its record in ``outbound_messages`` if any."""

    at: float  # time.monotonic
    replica: str
    body: str
    message_id: int | None  # the inbox message it answers; None: on no record


@dataclass(frozen=True)
class SenderView:
    """One sender's phase as the store and the stand-in saw it."""

    sent: list[Posted]  # acknowledged, in the order sent
    rows: dict[str, Row]  # inbox rows by text
    tracker: list[str]  # the user texts in the sender's tracker, in order
    replies: list[Reply]  # in the order the stand-in accepted them

    def order_violations(self) -> int:
        turn_of = {item.text: item.turn for item in self.sent}
        turn_of_row = {
            self.rows[text].id: turn for text, turn in turn_of.items() if text in self.rows
        }
        processed = [turn_of[text] for text in self.tracker if text in turn_of]
        answered = [turn_of_row[r.message_id] for r in self.replies if r.message_id in turn_of_row]
        return len(_out_of_order(processed) | _out_of_order(answered))

    @property
    def unrecorded(self) -> int:
        return sum(reply.message_id is None for reply in self.replies)

    def duplicated(self) -> tuple[set[int], set[int]]:
        """(turns processed twice: twice in the tracker; turns answered twice: the same text
        accepted twice for them, or begun again after replies on no record reached the
        sender)."""
        counts = Counter(self.tracker)
        processed_twice = {item.turn for item in self.sent if counts[item.text] > 1}
        answered_twice = set()
        for item in self.sent:
            row = self.rows.get(item.text)
            if row is None:
                continue
            bodies = Counter(r.body for r in self.replies if r.message_id == row.id)
            if any(count > 1 for count in bodies.values()) or (
                row.attempts > 1 and self.unrecorded
            ):
                answered_twice.add(item.turn)
        return processed_twice, answered_twice

    def left_by(self, kill: Kill) -> list[Row]:
        """The messages the killed replica left: stored before the kill, unprocessed then, and
        begun again (it was in their turn) or of a sender it was answering (it held the lock)."""
        before = [reply.replica for reply in self.replies if reply.at < kill.at]
        held = bool(before) and before[-1] == kill.replica
        return [
            row
            for row in self.rows.values()
            if row.received_at <= kill.wall
            and (row.processed_at is None or row.processed_at > kill.wall)
            and (row.attempts > 1 or held)
        ]


def sender_views(
    store: Engine, posted: list[Posted], twilio: AttributingTwilio
) -> dict[str, SenderView]:
    """What the store and the stand-in hold of these senders."""
    senders = sorted({item.sender for item in posted})
    addresses = [sender.removeprefix("whatsapp:") for sender in senders]
    with store.connect() as connection:
        rows = connection.execute(
            select(
                ConversationMessage.id,
                ConversationMessage.sender_address,
                ConversationMessage.body,
                ConversationMessage.status,
                ConversationMessage.attempts,
                ConversationMessage.received_at,
                ConversationMessage.processed_at,
            )
            .where(
                ConversationMessage.channel == Channel.WHATSAPP,
                ConversationMessage.sender_address.in_(addresses),
            )
            .order_by(ConversationMessage.id)
        ).all()
        recorded = dict(
            connection.execute(
                select(
                    OutboundMessage.provider_message_id, OutboundMessage.conversation_message_id
                ).where(
                    OutboundMessage.channel == Channel.WHATSAPP,
                    OutboundMessage.recipient_address.in_(addresses),
                )
            ).all()
        )
        events = connection.execute(
            select(ConversationEvent.conversation_id, ConversationEvent.data)
            .where(
                ConversationEvent.conversation_id.in_(senders),
                ConversationEvent.type_name == "user",
            )
            .order_by(ConversationEvent.id)
        ).all()
    views = {
        sender: SenderView(
            sorted(
                (item for item in posted if item.sender == sender and item.acked_by),
                key=lambda item: item.turn,
            ),
            {row.body: row for row in rows if f"whatsapp:{row.sender_address}" == sender},
            [],
            [],
        )
        for sender in senders
    }
    for conversation, data in events:
        views[conversation].tracker.append(json.loads(data).get("text") or "")
    for sid, found in sorted(twilio.deliveries_to(set(senders)).items(), key=lambda i: i[1].at):
        views[found.to].replies.append(
            Reply(found.at, found.replica, found.body, recorded.get(sid))
        )
    return views


def analyse(
    store: Engine,
    name: str,
    replicas: int,
    posted: list[Posted],
    twilio: AttributingTwilio,
    kill: Kill | None,
) -> Outcome:
    """Order, losses, duplicates and the takeover of one phase, from the store and the
    stand-in (see the module's docstring)."""
    views = sender_views(store, posted, twilio)
    replies = [reply for view in views.values() for reply in view.replies]
    last_reply = max((reply.at for reply in replies), default=float("nan"))
    first_post = min(item.sent_at for item in posted)
    by_replica = Counter(reply.replica for reply in replies)
    outcome = Outcome(name, replicas, posted, last_reply - first_post, by_replica, kill=kill)
    left = []
    for view in views.values():
        outcome.order_violations += view.order_violations()
        outcome.unrecorded_replies += view.unrecorded
        processed_twice, answered_twice = view.duplicated()
        outcome.processed_twice += len(processed_twice)
        outcome.answered_twice += len(answered_twice)
        outcome.duplicated += len(processed_twice | answered_twice)
        if view.unrecorded and not answered_twice:
            outcome.duplicated += 1  # replies on no record, and no message begun again
        counts = Counter(view.tracker)
        for item in view.sent:
            row = view.rows.get(item.text)
            outcome.redone += row is not None and row.attempts > 1
            if row is not None and row.status == InboxStatus.FAILED.value:
                outcome.failed += 1
            elif row is None or row.status != InboxStatus.PROCESSED.value or not counts[item.text]:
                outcome.lost += 1
        if kill is not None:
            left += view.left_by(kill)
    if kill is not None:
        outcome.left = len(left)
        taken = [(row.processed_at - kill.wall).total_seconds() for row in left if row.processed_at]
        if taken:
            outcome.takeover_s, outcome.last_taken_over_s = min(taken), max(taken)
    return outcome


def child_pid(marker: str) -> int:
    """The pid of this process's child whose command line has the word ``marker``."""
    for entry in Path("/proc").iterdir():
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            words = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue  # not a process, or gone
        if parent == os.getpid() and marker.encode() in words:
            return int(entry.name)
    raise RuntimeError(f"no child process runs {marker}")


def log_errors(rasa: RasaProcess) -> list[str]:
    """What a replica logged as an error or a warning."""
    marks = (" ERROR ", " WARNING ", "Traceback", "Exception")
    lines = Path(rasa.log.name).read_text(errors="replace").splitlines()
    return [line for line in lines if any(mark in line for mark in marks)]


async def measure(
    args: argparse.Namespace,
    url: str,
    replicas: dict[str, RasaProcess],
    twilio: AttributingTwilio,
    start_second: Callable[[], None],
    others: dict[str, int],
) -> list[Outcome]:
    store = create_db_engine(url)
    timeout = aiohttp.ClientTimeout(total=60)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as http:
            bench = Bench(replicas, twilio, http, store, args, others)
            await bench.warm_up("a")
            outcomes = [await bench.phase(1, "one", ["a"], kill=None)]
            print(outcomes[-1].line(), flush=True)
            await asyncio.to_thread(start_second)
            await bench.warm_up("b")
            outcomes.append(await bench.phase(2, "two", ["a", "b"], kill=None))
            print(outcomes[-1].line(), flush=True)
            outcomes.append(await bench.phase(3, "kill", ["a", "b"], kill="b"))
            print(outcomes[-1].line(), flush=True)
    finally:
        store.dispose()
    return outcomes


def run(args: argparse.Namespace) -> str:
    with ExitStack() as stack:
        if args.workdir:  # kept afterwards: the replicas' logs, the SQLite file
            folder = Path(args.workdir).resolve()
            folder.mkdir(parents=True, exist_ok=True)
        else:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="replicas-")))
        url, _ = stack.enter_context(demo_database(args.database, folder))
        senders = [number(WARM_UP, index) for index in range(len(REPLICAS))]
        senders += [number(phase, i) for phase in (1, 2, 3) for i in range(args.senders)]
        link_identities([url], USER, [(Channel.WHATSAPP, address) for address in senders])
        twilio = AttributingTwilio(ACCOUNT_SID, AUTH_TOKEN).start()
        stack.callback(twilio.stop)
        shared = {
            "MISYBOT_DATABASE_URL": url,
            "MISYBOT_REPORTS_DIR": str(folder / "reports"),
            "MISYBOT_SECRETS_FILE": str(folder / "secrets.json"),
            "MISYBOT_RASA_TOKEN": secrets.token_urlsafe(24),
            "MISYBOT_IDENTITY_KEY": secrets.token_urlsafe(32),
        }
        action_url = stack.enter_context(action_server({**os.environ, **shared}))
        replicas = {
            name: RasaProcess(
                root=ROOT,
                workdir=folder / f"rasa-{name}",
                model=args.model,
                action_url=action_url,
                twilio_url=twilio.api_url(name),
                account_sid=ACCOUNT_SID,
                auth_token=AUTH_TOKEN,
                public_url=PUBLIC_URL,
                env={**shared, "MISYBOT_CHANNEL_RATE_LIMIT": "100000"},
            )
            for name in REPLICAS
        }
        # Results are pushed to the first replica (any would do: the store is shared).
        worker_env = {**os.environ, **shared, "MISYBOT_RASA_URL": replicas["a"].url}
        worker = stack.enter_context(worker_process(worker_env, cwd=ROOT))
        others = {"actions": child_pid("rasa_sdk"), "worker": worker.pid, "bench": os.getpid()}
        for replica in replicas.values():
            stack.callback(replica.stop)

        def start(name: str) -> None:
            began = time.monotonic()
            replicas[name].start(timeout=300)
            print(f"replica {name} serving after {time.monotonic() - began:.0f} s", flush=True)

        start("a")
        outcomes = asyncio.run(measure(args, url, replicas, twilio, lambda: start("b"), others))
        for name, replica in replicas.items():
            errors = log_errors(replica)
            where = replica.log.name if args.workdir else "its log (--workdir keeps it)"
            print(f"replica {name}: {len(errors)} error/warning line(s) in {where}")
            for line in errors[:5]:
                print(f"  {line[:240]}")
    one, two, kill = outcomes
    return (
        f"replicas n=2 msgs_per_s={two.msgs_per_s:.1f} "
        f"vs_one={two.msgs_per_s / one.msgs_per_s:.2f} "
        f"order_violations={sum(item.order_violations for item in outcomes)} "
        f"lost={sum(item.lost for item in outcomes)} "
        f"duplicated={sum(item.duplicated for item in outcomes)} takeover_s={kill.takeover_s:.1f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "misybot.tar.gz"))
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--messages", type=int, default=6, help="messages per sender per phase")
    parser.add_argument(
        "--gap-s", type=float, default=0.5, help="between a sender's messages (no waiting)"
    )
    parser.add_argument(
        "--ramp-s", type=float, default=1.0, help="the senders begin spread over this long"
    )
    parser.add_argument(
        "--timeout-s", type=float, default=180.0, help="for a phase's messages to be processed"
    )
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--workdir", help="a folder to keep the logs (and the SQLite file) in; default: temporary"
    )
    args = parser.parse_args()
    if args.database == "postgres" and (reason := postgres_unavailable(DEFAULT_POSTGRES_URL)):
        parser.exit(1, f"{reason}\n")
    print(
        f"replicas database={args.database} senders={args.senders} "
        f"messages/sender={args.messages} gap={args.gap_s:g} s",
        flush=True,
    )
    print(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
