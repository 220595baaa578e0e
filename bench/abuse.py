"""A 100 KB and a 1 MB message on every channel while another sender talks (issue 14's target:
each answered or refused within seconds, the other sender answered in under 1 s, the Rasa process
under 2 GB).

Starts what it measures: stand-ins for Twilio, the Graph API and SMTP, the action server, a
worker and ``rasa run`` with every channel, on a throw-away database with the demo users (SQLite,
or a PostgreSQL schema with ``--database postgresql``). For each size and channel, one registered
user sends the huge message and, right after, another registered user says "hi" on WhatsApp
Cloud. Reports per case: the huge message's HTTP status and how long until it was answered (or
refused), how long the other sender waited for their reply, and the Rasa process's peak memory.
A baseline of the other sender's reply with nothing else going on comes first. Figures are
printed, never asserted; the last line is the summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
# Not bench/ itself: its queue.py would shadow the standard library's queue module.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from connectors.core.signatures import hub_signature, twilio_signature  # noqa: E402
from connectors.email.mailgun import mailgun_signature  # noqa: E402
from connectors.twilio import parse_form  # noqa: E402
from misybot.enums import Channel  # noqa: E402
from testkit.database import (
    DEFAULT_POSTGRES_URL,
    link_identities,
    postgres_schema,
    seed_demo,
    seeded_database_url,
)
from testkit.payloads import (
    inbound_form,
    messaging_event,
    messaging_webhook,
    whatsapp_message,
    whatsapp_webhook,
)
from testkit.stack import Provider, every_channel_stack

PHONE_NUMBER_ID, PAGE_ID, IG_ID = "100000000000001", "100000000000002", "100000000000003"
PUBLIC_URL = "https://bench.example.com"
BOT_EMAIL = "bot@bench.example"
SECRETS = {
    "account_sid": "AC" + "c" * 32,
    "auth_token": "bench-auth-token",
    "app_secret": "bench-app-secret",
    "mailgun_signing_key": "bench-mailgun-key",
    "whatsapp_token": "bench-wa",
    "messenger_token": "bench-page",
    "instagram_token": "bench-ig",
}
HUGE_SENDER = {  # Tiago's ids on each channel (linked below); Ana's e-mail is the demo's
    "whatsapp_twilio": "whatsapp:+351910000004",
    "whatsapp_cloud": "351910000501",
    "messenger": "6005000000000001",
    "instagram": "7005000000000001",
    "email": "ana.ribeiro@misy-demo.example",
    "rest": "ana.ribeiro@misy-demo.example~huge",
}
OTHER = "351910000502"  # Marta on WhatsApp Cloud: the sender who must not wait


class Stack:
    def __init__(self, url: str, twilio, graph, smtp) -> None:
        self.url = url
        self.twilio, self.graph, self.smtp = twilio, graph, smtp
        self.http: aiohttp.ClientSession | None = None

    async def post(self, path: str, body: bytes, headers: dict) -> int:
        async with self.http.post(f"{self.url}{path}", data=body, headers=headers) as response:
            await response.read()
            return response.status

    async def send(self, channel: str, text: str) -> int:
        sender = HUGE_SENDER[channel]
        if channel == "whatsapp_twilio":
            body = urlencode(inbound_form(sender, text, account_sid=SECRETS["account_sid"]))
            url = f"{PUBLIC_URL}/webhooks/whatsapp_twilio/webhook"
            signature = twilio_signature(SECRETS["auth_token"], url, parse_form(body.encode()))
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": signature,
            }
            return await self.post("/webhooks/whatsapp_twilio/webhook", body.encode(), headers)
        if channel == "rest":
            body = json.dumps({"sender": sender, "message": text}).encode()
            return await self.post("/webhooks/rest/webhook", body, {})
        if channel == "email":
            stamp, token = str(int(time.time())), f"t{time.time_ns()}"
            form = {
                "from": sender,
                "subject": "a long one",
                "body-plain": text,
                "timestamp": stamp,
                "token": token,
                "signature": mailgun_signature(SECRETS["mailgun_signing_key"], stamp, token),
            }
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            return await self.post("/webhooks/email/mailgun", urlencode(form).encode(), headers)
        if channel == "whatsapp_cloud":
            payload = whatsapp_webhook(
                PHONE_NUMBER_ID, messages=[whatsapp_message(sender, body=text)]
            )
        else:
            account = PAGE_ID if channel == "messenger" else IG_ID
            kind = "page" if channel == "messenger" else "instagram"
            event = messaging_event(sender, account, message={"text": text})
            payload = messaging_webhook(kind, account, [event])
        body = json.dumps(payload).encode()
        headers = {"X-Hub-Signature-256": hub_signature(SECRETS["app_secret"], body)}
        return await self.post(f"/webhooks/{channel}/webhook", body, headers)

    def answers(self, channel: str) -> int:
        sender = HUGE_SENDER[channel]
        if channel == "whatsapp_twilio":
            return len(self.twilio.delivered_to(sender))
        if channel == "email":
            return len(self.smtp.delivered_to(sender))
        if channel == "rest":
            return 0
        return len(self.graph.messages_to(sender))

    async def other_replied(self) -> float:
        """ms from the other sender's "hi" to its reply."""
        before = len(self.graph.messages_to(OTHER))
        started = time.monotonic()
        payload = whatsapp_webhook(PHONE_NUMBER_ID, messages=[whatsapp_message(OTHER, body="hi")])
        body = json.dumps(payload).encode()
        headers = {"X-Hub-Signature-256": hub_signature(SECRETS["app_secret"], body)}
        await self.post("/webhooks/whatsapp_cloud/webhook", body, headers)
        arrived = await self.graph.wait_for(OTHER, before + 1, timeout=120)
        return (arrived[before].at - started) * 1000 if len(arrived) > before else float("nan")


class PeakMemory:
    """The Rasa process's largest resident set while it runs (sampled every 20 ms)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak_mb = pid, 0.0

    async def watch(self) -> None:
        status = Path(f"/proc/{self.pid}/status")
        while True:
            for line in status.read_text().splitlines():
                if line.startswith("VmRSS:"):
                    self.peak_mb = max(self.peak_mb, int(line.split()[1]) / 1024)
            await asyncio.sleep(0.02)


async def case(stack: Stack, channel: str, size: int) -> tuple[int, float, float]:
    """(status, ms until the huge message was answered or refused, the other sender's ms)."""
    text = ("stock WID-220 in Lisbon please " * (size // 31 + 1))[:size]
    before = stack.answers(channel)
    started = time.monotonic()
    status, other = await asyncio.gather(stack.send(channel, text), stack.other_replied())
    if status == 200 and channel != "rest":
        deadline = time.monotonic() + 120
        while stack.answers(channel) <= before and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
    return status, (time.monotonic() - started) * 1000, other


async def run(stack: Stack, pid: int) -> str:
    memory = PeakMemory(pid)
    watcher = asyncio.ensure_future(memory.watch())
    async with aiohttp.ClientSession() as http:
        stack.http = http
        baseline = sorted([await stack.other_replied() for _ in range(6)][1:])
        print(f"other sender alone: reply p50 {baseline[len(baseline) // 2]:.0f} ms")
        worst_other, worst_answer = 0.0, 0.0
        for size in (100_000, 1_000_000):
            for channel in HUGE_SENDER:
                status, answered, other = await case(stack, channel, size)
                worst_other, worst_answer = max(worst_other, other), max(worst_answer, answered)
                print(
                    f"{size // 1000:>5} KB {channel:<16} status {status}  answered/refused in "
                    f"{answered:6.0f} ms  other sender answered in {other:5.0f} ms  "
                    f"rasa peak {memory.peak_mb:.0f} MB"
                )
    watcher.cancel()
    return (
        f"abuse huge_answered_max_ms={worst_answer:.0f} other_sender_max_ms={worst_other:.0f} "
        f"rasa_peak_mb={memory.peak_mb:.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "misybot.tar.gz"))
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as resources:
        if args.database == "postgresql":
            engine = resources.enter_context(postgres_schema(DEFAULT_POSTGRES_URL))
            with engine.connect() as connection:
                schema = connection.exec_driver_sql("SELECT current_schema()").scalar()
            url = f"{DEFAULT_POSTGRES_URL}?options=-csearch_path%3D{schema}"
            seed_demo(url)
        else:
            url = seeded_database_url(Path(scratch))
        tiago = [
            (Channel.WHATSAPP, f"+{HUGE_SENDER['whatsapp_cloud']}"),
            (Channel.MESSENGER, HUGE_SENDER["messenger"]),
            (Channel.INSTAGRAM, HUGE_SENDER["instagram"]),
        ]
        link_identities([url], "tiago.ferreira@misy-demo.example", tiago)
        link_identities([url], "marta.costa@misy-demo.example", [(Channel.WHATSAPP, f"+{OTHER}")])
        running = resources.enter_context(
            every_channel_stack(
                Provider(SECRETS, (PHONE_NUMBER_ID, PAGE_ID, IG_ID), PUBLIC_URL, BOT_EMAIL),
                model=Path(args.model),
                workdir=Path(scratch) / "rasa",
                env={"MISYBOT_DATABASE_URL": url},
                rasa_env={"MISYBOT_CHANNEL_RATE_LIMIT": "100000"},
            )
        )
        server, twilio, graph, smtp = running.rasa, running.twilio, running.graph, running.smtp
        print(f"database: {args.database}")
        summary = asyncio.run(run(Stack(server.url, twilio, graph, smtp), server.process.pid))
    print(summary)


if __name__ == "__main__":
    main()
