"""WhatsApp Cloud API webhooks under load: signed single-message webhooks and one large batch.

Starts the stack it measures: a local Graph API stand-in, the action server and ``rasa run`` with
the three Meta channels on a throw-away SQLite inbox. N senders post really signed webhooks
concurrently (each waits for its reply before its next message); then one webhook carries a batch
of messages from as many senders. Reports ack latency, webhook→reply latency, the batch's ack and
last reply, lost and duplicated replies. Figures are printed, never asserted; the last line is the
summary.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
# bench/ last: its queue.py must not shadow the standard library's queue module.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path[:0] = [str(ROOT)]
sys.path.append(str(ROOT / "bench"))
from webhook import USER  # (bench/webhook.py)

from misybot.enums import Channel  # noqa: E402
from testkit.database import link_identities, seeded_database_url
from testkit.measure import percentile
from testkit.payloads import signed_meta_request, whatsapp_message, whatsapp_webhook
from testkit.processes import RasaProcess, action_server
from testkit.standins import GraphStandIn

VERSION = "v23.0"
APP_SECRET = "bench-app-secret"
PHONE_NUMBER_ID = "100000000000001"
TOKENS = {"whatsapp": "bench-wa", "messenger": "bench-page", "instagram": "bench-ig"}


def credentials(graph_url: str) -> str:
    return (
        "connectors.meta.WhatsAppCloudInput:\n"
        f'  app_secret: "{APP_SECRET}"\n'
        '  verify_token: "bench"\n'
        f'  access_token: "{TOKENS["whatsapp"]}"\n'
        f'  phone_number_id: "{PHONE_NUMBER_ID}"\n'
        f'  api_url: "{graph_url}"\n'
        f'  api_version: "{VERSION}"\n'
    )


async def post(session: aiohttp.ClientSession, url: str, payload: dict) -> float:
    body, headers = signed_meta_request(APP_SECRET, payload)
    started = time.perf_counter()
    async with session.post(url, data=body, headers=headers) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"webhook answered {response.status}")
    return (time.perf_counter() - started) * 1000


async def sender(session, url, graph, wa_id: str, messages: int, acks, replies) -> None:
    for count in range(1, messages + 1):
        started = time.monotonic()
        payload = whatsapp_webhook(PHONE_NUMBER_ID, messages=[whatsapp_message(wa_id, body="hi")])
        acks.append(await post(session, url, payload))
        arrived = await graph.wait_for(wa_id, count, timeout=60)
        if len(arrived) >= count:
            replies.append((arrived[count - 1].at - started) * 1000)


async def run(args, server: RasaProcess, graph: GraphStandIn) -> str:
    url = f"{server.url}/webhooks/whatsapp_cloud/webhook"
    async with aiohttp.ClientSession() as session:
        await sender(session, url, graph, "19990000000", 3, [], [])  # warm-up
        acks: list[float] = []
        replies: list[float] = []
        started = time.monotonic()
        await asyncio.gather(
            *(
                sender(session, url, graph, f"1555{i:07d}", args.messages, acks, replies)
                for i in range(args.senders)
            )
        )
        elapsed = time.monotonic() - started

        batch_senders = [f"1666{i:07d}" for i in range(args.batch)]
        messages = [whatsapp_message(wa_id, body="hi") for wa_id in batch_senders]
        batch = whatsapp_webhook(PHONE_NUMBER_ID, messages=messages)
        batch_started = time.monotonic()
        batch_ack = await post(session, url, batch)
        last = 0.0
        for wa_id in batch_senders:
            arrived = await graph.wait_for(wa_id, 1, timeout=120)
            if arrived:
                last = max(last, (arrived[0].at - batch_started) * 1000)
        await asyncio.sleep(1.0)

    expected = {f"1555{i:07d}": args.messages for i in range(args.senders)}
    expected.update({wa_id: 1 for wa_id in batch_senders})
    counts = {to: len(graph.messages_to(to)) for to in expected}
    lost = sum(max(0, expected[to] - counts[to]) for to in expected)
    duplicated = sum(max(0, counts[to] - expected[to]) for to in expected)
    total = args.senders * args.messages
    print(f"senders={args.senders} messages/sender={args.messages} total={total}")
    print(f"ack ms: p50={percentile(acks, 0.5):.1f} p99={percentile(acks, 0.99):.1f}")
    print(
        f"webhook->reply ms: p50={percentile(replies, 0.5):.1f} "
        f"p95={percentile(replies, 0.95):.1f}; throughput {total / elapsed:.1f} msgs/s"
    )
    print(f"batch of {args.batch}: ack {batch_ack:.1f} ms, last reply after {last:.0f} ms")
    return (
        f"meta_webhook ack_p99_ms={percentile(acks, 0.99):.1f} "
        f"reply_p50_ms={percentile(replies, 0.5):.1f} reply_p95_ms={percentile(replies, 0.95):.1f} "
        f"batch{args.batch}_ack_ms={batch_ack:.1f} batch{args.batch}_last_reply_ms={last:.0f} "
        f"lost={lost} duplicated={duplicated}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "misybot.tar.gz"))
    parser.add_argument("--senders", type=int, default=10)
    parser.add_argument("--messages", type=int, default=5, help="messages per sender")
    parser.add_argument("--batch", type=int, default=20, help="messages in the batched webhook")
    args = parser.parse_args()

    graph = GraphStandIn(
        version=VERSION,
        phone_number_id=PHONE_NUMBER_ID,
        whatsapp_token=TOKENS["whatsapp"],
        messenger_token=TOKENS["messenger"],
        instagram_token=TOKENS["instagram"],
    ).start()
    server = None
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as stack:
        try:
            database_url = seeded_database_url(Path(scratch))
            # Every sender is a registered user: a sender nobody is linked to is answered
            # without NLU, which is not the load this measures.
            wa_ids = ["19990000000", *(f"1555{i:07d}" for i in range(args.senders))]
            wa_ids += [f"1666{i:07d}" for i in range(args.batch)]
            link_identities([database_url], USER, [(Channel.WHATSAPP, f"+{n}") for n in wa_ids])
            # The action server reads the same store the channel writes (senders, users).
            action_url = stack.enter_context(
                action_server({**os.environ, "MISYBOT_DATABASE_URL": database_url})
            )
            server = RasaProcess(
                root=ROOT,
                workdir=Path(scratch) / "rasa",
                model=args.model,
                action_url=action_url,
                credentials=credentials(graph.url),
                health_channel="whatsapp_cloud",
                env={
                    "MISYBOT_DATABASE_URL": database_url,
                    "MISYBOT_CHANNEL_RATE_LIMIT": "100000",
                },
            ).start()
            summary = asyncio.run(run(args, server, graph))
        finally:
            if server is not None:
                server.stop()
            graph.stop()
    print(summary)


if __name__ == "__main__":
    main()
