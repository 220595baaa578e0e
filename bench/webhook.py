"""WhatsApp-through-Twilio webhooks under load, against Rasa's plain REST channel in the same run.

Starts the stack it measures: a local stand-in for api.twilio.com, the action server and
``rasa run`` with the ``whatsapp_twilio`` and ``rest`` channels on a throw-away inbox database
(a PostgreSQL schema when PostgreSQL answers, as in production; ``--database sqlite`` otherwise).
N senders post really signed webhooks concurrently (each waits for its reply before its next
message); they begin spread over ``--ramp-s`` (a ramp-up, as load tools do), so the harness's
own start is not taken for steady load: N webhooks arriving in the same millisecond are measured
on their own ("posted together"). Reports ack latency, webhook→reply latency, throughput, lost
and duplicated replies, a REST turn for scale (both channels one conversation at a time and with
all senders at once), and a burst of 5 messages from one sender. Figures are printed, never
asserted; the last line is the summary: ack p99 and throughput under the concurrent load, reply
p50/p95 one conversation at a time (the same load as its REST turn), lost/duplicated over every
webhook sent.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
# Not bench/ itself: its queue.py would shadow the standard library's queue module.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from misybot.enums import Channel  # noqa: E402
from testkit.database import (
    DEFAULT_POSTGRES_URL,
    link_identities,
    postgres_schema,
    postgres_unavailable,
    seed_demo,
    seeded_database_url,
)
from testkit.measure import percentile
from testkit.payloads import inbound_form, signed_request
from testkit.processes import RasaProcess, action_server
from testkit.standins import TwilioStandIn

ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "bench-auth-token"
MESSAGE = "hi"
BURST_SENDER = "whatsapp:+19999999999"
USER = "ana.ribeiro@misy-demo.example"  # every sender is her (each number its own conversation)


def numbers(senders: int) -> list[str]:
    """Every WhatsApp number the bench writes from (see ``Bench``)."""
    return [
        "+10000000000",
        BURST_SENDER.removeprefix("whatsapp:"),
        *(f"+1555{index:07d}" for index in [*range(senders), 10_000]),
        *(f"+1666{index:07d}" for index in range(senders)),
    ]


class CpuMeter:
    """CPU seconds spent by the Rasa process and by the whole machine between two readings."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.ticks = os.sysconf("SC_CLK_TCK")

    def read(self) -> tuple[float, float]:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        process = (int(fields[11]) + int(fields[12])) / self.ticks  # utime + stime
        cpu = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        busy = sum(int(value) for value in cpu) - int(cpu[3]) - int(cpu[4])  # less idle, iowait
        return process, busy / self.ticks

    def since(self, start: tuple[float, float], messages: int) -> str:
        process, machine = self.read()
        return (
            f"CPU ms per message: rasa {(process - start[0]) * 1000 / messages:.1f}, "
            f"machine {(machine - start[1]) * 1000 / messages:.1f}"
        )


class Bench:
    def __init__(self, server: RasaProcess, twilio: TwilioStandIn, session: aiohttp.ClientSession):
        self.server = server
        self.twilio = twilio
        self.session = session
        self.local_webhook = f"{server.url}/webhooks/whatsapp_twilio/webhook"

    async def post(self, sender: str, text: str) -> float:
        """Post one signed webhook; returns the ack latency in ms."""
        fields = inbound_form(sender, text, account_sid=ACCOUNT_SID)
        body, headers = signed_request(AUTH_TOKEN, self.server.webhook_url, fields)
        started = time.perf_counter()
        async with self.session.post(self.local_webhook, data=body, headers=headers) as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"webhook answered {response.status}")
        return (time.perf_counter() - started) * 1000

    async def wait_replies(self, to: str, count: int, timeout: float) -> list:
        return await self.twilio.wait_for(to, count, timeout=timeout)

    async def replies_per_message(self) -> int:
        """How many Twilio messages one turn produces (the bot may answer in several)."""
        to = "whatsapp:+10000000000"
        await self.post(to, MESSAGE)
        await self.wait_replies(to, 1, 60)
        await asyncio.sleep(1.0)
        replies = self.twilio.delivered_to(to)
        print("reply to the first message:", " | ".join(repr(r.one("Body")) for r in replies))
        return len(replies)

    async def sender(
        self, index: int, messages: int, per_turn: int, acks, replies, delay: float = 0.0
    ) -> None:
        to = f"whatsapp:+1555{index:07d}"
        await asyncio.sleep(delay)
        for turn in range(messages):
            started = time.monotonic()
            acks.append(await self.post(to, MESSAGE))
            arrived = await self.wait_replies(to, (turn + 1) * per_turn, timeout=30)
            if len(arrived) >= (turn + 1) * per_turn:
                replies.append((arrived[(turn + 1) * per_turn - 1].at - started) * 1000)

    async def rest_turns(self, count: int, sender: str = f"{USER}~rest") -> list[float]:
        timings = []
        for _ in range(count):
            started = time.perf_counter()
            async with self.session.post(
                f"{self.server.url}/webhooks/rest/webhook",
                json={"sender": sender, "message": MESSAGE},
            ) as response:
                await response.json()
            timings.append((time.perf_counter() - started) * 1000)
        return timings

    async def at_once(self, senders: int, per_turn: int) -> tuple[list[float], list[float]]:
        """One webhook from each of ``senders`` new senders, all posted together: acks and
        webhook->reply latencies."""
        started = time.monotonic()
        recipients = [f"whatsapp:+1666{i:07d}" for i in range(senders)]
        acks = await asyncio.gather(*(self.post(to, MESSAGE) for to in recipients))
        arrived = await asyncio.gather(
            *(self.wait_replies(to, per_turn, timeout=60) for to in recipients)
        )
        replies = [(found[-1].at - started) * 1000 for found in arrived if len(found) >= per_turn]
        return list(acks), replies

    async def burst(self, per_turn: int) -> float:
        to = BURST_SENDER
        started = time.monotonic()
        for _ in range(5):
            await self.post(to, MESSAGE)
        arrived = await self.wait_replies(to, 5 * per_turn, timeout=60)
        return (arrived[-1].at - started) * 1000 if len(arrived) >= 5 * per_turn else float("nan")


async def run(args, server: RasaProcess, twilio: TwilioStandIn) -> str:
    async with aiohttp.ClientSession() as session:
        bench = Bench(server, twilio, session)
        per_turn = await bench.replies_per_message()
        await bench.rest_turns(5)  # warm-up
        print(f"one turn = {per_turn} Twilio message(s)")

        cpu = CpuMeter(server.process.pid)
        acks: list[float] = []
        replies: list[float] = []
        started, cpu_started = time.monotonic(), cpu.read()
        await asyncio.gather(
            *(
                bench.sender(
                    i, args.messages, per_turn, acks, replies, i * args.ramp_s / args.senders
                )
                for i in range(args.senders)
            )
        )
        elapsed = time.monotonic() - started
        total = args.senders * args.messages
        twilio_cpu = cpu.since(cpu_started, total)

        # The same load on both channels: one conversation at a time, then all senders at once.
        rest = await bench.rest_turns(args.rest_turns)
        single_acks: list[float] = []
        single: list[float] = []
        await bench.sender(10_000, args.rest_turns, per_turn, single_acks, single)
        rest_loaded: list[float] = []
        cpu_started = cpu.read()
        for timings in await asyncio.gather(
            *(bench.rest_turns(args.messages, f"{USER}~rest-{i}") for i in range(args.senders))
        ):
            rest_loaded += timings
        rest_cpu = cpu.since(cpu_started, total)
        burst = await bench.burst(per_turn)
        together_acks, together_replies = await bench.at_once(args.senders, per_turn)
        await asyncio.sleep(1.0)

    # Every webhook sent: the concurrent senders, the single conversation and the burst.
    senders = [f"whatsapp:+1555{i:07d}" for i in (*range(args.senders), 10_000)]
    senders += [f"whatsapp:+1666{i:07d}" for i in range(args.senders)]
    expected = (total + args.rest_turns + 5 + args.senders) * per_turn
    delivered = sum(len(twilio.delivered_to(to)) for to in [*senders, BURST_SENDER])
    lost = max(0, expected - delivered) // per_turn
    duplicated = max(0, delivered - expected) // per_turn

    print(
        f"senders={args.senders} messages/sender={args.messages} total={total} "
        f"ramp-up={args.ramp_s:g} s"
    )
    print(
        f"ack ms: p50={percentile(acks, 0.5):.1f} p99={percentile(acks, 0.99):.1f} "
        f"max={max(acks):.1f}"
    )
    print(
        f"one conversation at a time: ack ms p50={percentile(single_acks, 0.5):.1f}, "
        f"webhook->reply ms p50={percentile(single, 0.5):.1f} "
        f"p95={percentile(single, 0.95):.1f} | REST turn ms p50={percentile(rest, 0.5):.1f} "
        f"p95={percentile(rest, 0.95):.1f}"
    )
    print(
        f"{args.senders} senders at once: webhook->reply ms p50={percentile(replies, 0.5):.1f} "
        f"p95={percentile(replies, 0.95):.1f} mean={statistics.mean(replies):.1f} | "
        f"REST turn ms p50={percentile(rest_loaded, 0.5):.1f} "
        f"p95={percentile(rest_loaded, 0.95):.1f} | "
        f"ratio p50={percentile(replies, 0.5) / percentile(rest_loaded, 0.5):.2f}"
    )
    print(f"  webhooks {twilio_cpu} | REST {rest_cpu}")
    print(
        "reply p50 / REST turn p50 one conversation at a time: "
        f"{percentile(single, 0.5) / percentile(rest, 0.5):.2f}"
    )
    print(f"throughput: {total / elapsed:.1f} msgs/s over {elapsed:.1f} s")
    print(f"burst of 5 from one sender: last reply after {burst:.0f} ms")
    print(
        f"{args.senders} new senders' webhooks posted together: ack ms "
        f"p50={percentile(together_acks, 0.5):.1f} max={max(together_acks):.1f}, "
        f"webhook->reply ms p50={percentile(together_replies, 0.5):.1f} "
        f"max={max(together_replies, default=float('nan')):.1f}"
    )
    return (
        f"webhook ack_p99_ms={percentile(acks, 0.99):.1f} "
        f"reply_p50_ms={percentile(single, 0.5):.1f} reply_p95_ms={percentile(single, 0.95):.1f} "
        f"rest_turn_p50_ms={percentile(rest, 0.5):.1f} msgs_per_s={total / elapsed:.1f} "
        f"burst5_last_ms={burst:.0f} lost={lost} duplicated={duplicated}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "misybot.tar.gz"))
    parser.add_argument("--senders", type=int, default=20)
    parser.add_argument("--messages", type=int, default=5, help="messages per sender")
    parser.add_argument("--rest-turns", type=int, default=50)
    parser.add_argument(
        "--ramp-s", type=float, default=1.0, help="the senders begin spread over this long"
    )
    parser.add_argument(
        "--database",
        choices=["auto", "postgresql", "sqlite"],
        default="auto",
        help="the inbox's database (auto: PostgreSQL when reachable, as in production)",
    )
    args = parser.parse_args()
    if args.database == "auto":
        args.database = "sqlite" if postgres_unavailable(DEFAULT_POSTGRES_URL) else "postgresql"
    print(f"inbox database: {args.database}")

    twilio = TwilioStandIn(ACCOUNT_SID, AUTH_TOKEN).start()
    server = None
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as stack:
        try:
            if args.database == "postgresql":
                engine = stack.enter_context(postgres_schema(DEFAULT_POSTGRES_URL))
                with engine.connect() as connection:
                    schema = connection.exec_driver_sql("SELECT current_schema()").scalar()
                database_url = f"{DEFAULT_POSTGRES_URL}?options=-csearch_path%3D{schema}"
                seed_demo(database_url)
            else:
                database_url = seeded_database_url(Path(scratch))
            # Every sender is a registered user, as on REST: the same work on both channels
            # (a sender nobody is linked to would be answered without NLU).
            senders = [(Channel.WHATSAPP, number) for number in numbers(args.senders)]
            link_identities([database_url], USER, senders)
            # The action server reads the same store the channel writes (senders, users).
            action_url = stack.enter_context(
                action_server({**os.environ, "MISYBOT_DATABASE_URL": database_url})
            )
            server = RasaProcess(
                root=ROOT,
                workdir=Path(scratch) / "rasa",
                model=args.model,
                action_url=action_url,
                twilio_url=twilio.url,
                account_sid=ACCOUNT_SID,
                auth_token=AUTH_TOKEN,
                public_url="https://bench.example.com",
                env={
                    "MISYBOT_DATABASE_URL": database_url,
                    "MISYBOT_CHANNEL_RATE_LIMIT": "100000",
                },
                rest=True,
            ).start()
            summary = asyncio.run(run(args, server, twilio))
        finally:
            if server is not None:
                server.stop()
            twilio.stop()
    print(summary)


if __name__ == "__main__":
    main()
