"""``make transcript``: the same three commands answered for every persona by the real bot.

Seeds a private demo database, starts a worker and the action server on it, loads the trained
model and asks, as the demo user of each persona (and the one without a preference), for a stock
check, the open alerts and a report. The replies are written to ``docs/personas.md`` as they came.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.local import local_turn  # noqa: E402
from misybot.demo import demo_user  # noqa: E402
from testkit.processes import action_endpoint, action_server, worker_process

COMMANDS = (
    ("An inventory check", "how many WID-220 do we have?"),
    ("A location's stock", "what's stored in Porto?"),
    ("The open alerts", "show me the open alerts"),
    ("A report request", "sales report for last week"),
)
VOICES = (
    ("streamliner", "terse: numbers first, a status mark, two or three lines"),
    ("navigator", "full analysis with recommendations and next actions"),
    ("hub", "per location, with a network total"),
    ("spring", "the answer plus a short lesson and a LEARN offer"),
    ("processor", "KEY: value lines a script can parse"),
    ("default", "no preference set"),
)


async def converse(model: Path, action_url: str) -> dict[str, list[list[str]]]:
    from rasa.core.agent import Agent
    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog

    configure_logging_and_warnings(logging.WARNING)
    configure_structlog(logging.WARNING)
    agent = Agent.load(str(model), action_endpoint=action_endpoint(action_url))
    answers: dict[str, list[list[str]]] = {}
    for persona, _ in VOICES:
        user = demo_user(persona)
        sender = f"{user.email}~transcript"
        answers[persona] = []
        for _, text in COMMANDS:
            replies = await local_turn(agent, sender, text)
            answers[persona].append([reply.get("text") or "" for reply in replies])
    return answers


def quoted(parts: list[str], persona: str) -> str:
    text = "\n\n".join(parts).strip()
    if persona == "processor":
        return f"```text\n{text}\n```"
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines())


def document(answers: dict[str, list[list[str]]], today: str) -> str:
    lines = [
        "# The same commands in every voice",
        "",
        "Produced by `make transcript` from the trained model, the action server and a worker on",
        f"a freshly seeded demo database ({today}); regenerate it after changing responses.",
        'Each user\'s persona is on their profile (`set_persona` changes it: "be brief",',
        '"switch to hub mode"). The demo users: '
        + ", ".join(f"{p} — {demo_user(p).name}" for p, _ in VOICES)
        + ".",
        "",
    ]
    for index, (title, text) in enumerate(COMMANDS):
        lines += [f"## {title}: “{text}”", ""]
        for persona, description in VOICES:
            lines += [
                f"### {persona} ({description})",
                "",
                quoted(answers[persona][index], persona),
                "",
            ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "misybot.tar.gz")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "personas.md")
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory(prefix="misybot-transcript-") as scratch:
        workdir = Path(scratch)
        env = {
            **os.environ,
            "MISYBOT_DATABASE_URL": f"sqlite:///{workdir / 'misybot.db'}",
            "MISYBOT_REPORTS_DIR": "var/reports",  # relative: the transcript shows short paths
            "MISYBOT_INLINE_DEADLINE_S": "60",  # every answer inline, as on a quiet machine
        }
        subprocess.run([str(bin_dir / "misybot"), "demo", "seed"], env=env, check=True, cwd=workdir)
        with worker_process(env, cwd=workdir), action_server(env) as url:
            os.environ.update(env)
            answers = asyncio.run(converse(args.model, url))
    today = datetime.now(timezone.utc).date().isoformat()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(document(answers, today))
    print(f"transcript: {args.out} ({len(VOICES)} voices × {len(COMMANDS)} commands)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
