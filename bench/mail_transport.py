"""The e-mail transports without Rasa: how long a mail takes from the IMAP server into the inbox,
and a reply from composition to the SMTP server's acceptance.

Starts a private Dovecot (``scripts/test-services.sh`` installs it when missing) and an aiosmtpd
server with AUTH on loopback, and a throw-away SQLite inbox. N mails are APPENDed one at a time
while the poller waits in IDLE; each is timed from the APPEND until the channel core stored it
(Dovecot itself batches change notices for about 0.5 s). Then N threaded replies (text + HTML,
a CSV attached) are composed and sent through the SMTP outbox (a new connection, AUTH, DATA per
reply, as in production). Figures are printed, never asserted; the last line is the summary.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# This folder's queue.py must not stand in for the standard library's queue (Rasa imports it).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from connectors.core.inbox import Inbox  # noqa: E402
from connectors.core.runtime import ChannelRuntime  # noqa: E402
from connectors.core.settings import ChannelTuning
from connectors.email.channel import CHANNEL_NAME, inbound_message  # noqa: E402
from connectors.email.compose import Thread, compose_reply  # noqa: E402
from connectors.email.imap import ImapPoller, ImapSettings  # noqa: E402
from connectors.email.mailbox import MailboxStore  # noqa: E402
from connectors.email.parsing import parse_email  # noqa: E402
from connectors.email.smtp import SmtpOutbox, SmtpSettings  # noqa: E402
from misybot.db.session import make_session_factory  # noqa: E402
from testkit.database import migrated_sqlite
from testkit.mail import DovecotServer, SmtpServer, make_mail
from testkit.measure import percentile

BOT = "bot@misy.example"


def report(name: str, values: list[float]) -> str:
    line = (
        f"{name}: n={len(values)} p50={statistics.median(values):.1f} ms "
        f"p95={percentile(values, 0.95):.1f} ms max={max(values):.1f} ms"
    )
    print(line)
    return line


async def inbound(dovecot: DovecotServer, factory, count: int) -> list[float]:
    """APPEND → stored in the inbox, the poller waiting in IDLE."""
    stored: dict[str, float] = {}
    inbox = Inbox(factory)
    tuning = ChannelTuning(rate_limit_per_minute=10_000, retry_poll_s=0)
    runtime = ChannelRuntime(CHANNEL_NAME, inbox, lambda stored: None, tuning)

    async def accept(raw: bytes) -> None:
        parsed = parse_email(raw)
        await runtime.accept(inbound_message(parsed, "imap"))
        stored[parsed.message_id] = time.perf_counter()

    async def discard(message) -> None:  # the bench measures the way in, not a turn
        return None

    await runtime.start(discard)
    settings = ImapSettings("127.0.0.1", dovecot.port, BOT, "imap-secret", security="none")
    poller = ImapPoller(settings, MailboxStore(factory), accept)
    stop = asyncio.Event()
    task = asyncio.ensure_future(poller.run(stop))
    while poller.rounds < 1:
        await asyncio.sleep(0.01)
    latencies = []
    for index in range(count):
        message_id = f"<bench-{index}-{time.time_ns()}@client.example>"
        raw = make_mail(f"user{index}@client.example", "how many WID-220?", message_id=message_id)
        await asyncio.sleep(0.2)  # let the poller go back to IDLE
        started = time.perf_counter()
        await asyncio.to_thread(dovecot.append, BOT, raw)
        while message_id not in stored:
            await asyncio.sleep(0.002)
        latencies.append((stored[message_id] - started) * 1000)
    stop.set()
    await task
    return latencies


async def outbound(smtp: SmtpServer, factory, count: int, attachment: Path) -> list[float]:
    """Compose (text + HTML + CSV) → accepted by the SMTP server."""
    settings = SmtpSettings("127.0.0.1", smtp.port, security="none", user=BOT, password="pw")
    outbox = SmtpOutbox(settings, BOT, MailboxStore(factory), Inbox(factory))
    latencies = []
    for index in range(count):
        started = time.perf_counter()
        message = compose_reply(
            from_address=BOT,
            from_name="MisyBot",
            to=f"user{index}@client.example",
            thread=Thread("Re: stock", "<q@c>", ("<q@c>",)),
            markdown="**WID-220** blue widgets: 430 each in total (ok).\n- Lisbon: 234",
            attachments=[attachment],
        )
        ok = await outbox.submit(
            message, recipient=f"user{index}@client.example", body="", conversation_message_id=None
        )
        latencies.append((time.perf_counter() - started) * 1000)
        if not ok:
            raise RuntimeError("the SMTP server refused a reply")
    return latencies


async def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        engine = migrated_sqlite(folder / "bench.db")
        factory = make_session_factory(engine)
        attachment = folder / "sales.csv"
        attachment.write_text("sku,units\n" + "".join(f"WID-{i},{i}\n" for i in range(500)))
        dovecot = DovecotServer({BOT: "imap-secret"}).start()
        smtp = SmtpServer(BOT, "pw").start()
        try:
            mail_in = report("imap append→stored (IDLE)", await inbound(dovecot, factory, count))
            mail_out = report(
                "reply compose→smtp accepted", await outbound(smtp, factory, count, attachment)
            )
        finally:
            smtp.stop()
            dovecot.stop()
            engine.dispose()
    print(f"summary: {mail_in.split(': ', 1)[1]} | {mail_out.split(': ', 1)[1]}")


if __name__ == "__main__":
    logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd's per-connection notes
    warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=30)
    asyncio.run(main(parser.parse_args().mails))
