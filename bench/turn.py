"""Latency of a whole turn (NLU, policies, custom action over HTTP, reply) on the trained model.

Reports p50/p95 for: a fresh conversation, the same conversation after many turns (what
`session_config` bounds), and — with ``--with-ted`` — a model that also has TEDPolicy, to show what
that policy costs. A seeded demo database, an orchestrator worker and the action server are
started here, and the conversations are a registered demo user's, so every command runs its agent
as it would for a real user. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Not bench/ itself: its queue.py would shadow the standard library's queue module.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))
from connectors.local import local_turn  # noqa: E402
from misybot.demo import demo_user  # noqa: E402
from testkit.measure import percentile
from testkit.processes import action_endpoint, action_server, worker_process

MESSAGES = [
    "how many WID-220 do we have in Lisbon",
    "show critical alerts",
    "ack 1042",
    "sales report for last week",
    "kpis this month",
    "reorder a dozen hard hats",
    "who supplies AC4410",
    "agent status",
    "hi",
    "thanks",
]
TED_POLICY = """
  - name: TEDPolicy
    max_history: 5
    epochs: 50
    random_seed: 20261122
"""


BY_MESSAGE: dict[str, list[float]] = {}


async def measure(agent, sender: str, turns: int) -> list[float]:
    timings = []
    for index in range(turns):
        message = MESSAGES[index % len(MESSAGES)]
        started = time.perf_counter()
        await local_turn(agent, sender, message)
        timings.append((time.perf_counter() - started) * 1000)
        BY_MESSAGE.setdefault(message, []).append(timings[-1])
    return timings


def train_with_ted(out_dir: Path) -> Path:
    config = (ROOT / "config.yml").read_text().replace("policies:\n", "policies:\n" + TED_POLICY, 1)
    config_path = out_dir / "config-ted.yml"
    config_path.write_text(config)
    rasa = Path(sys.executable).with_name("rasa")
    subprocess.run(
        [str(rasa), "train", "--config", str(config_path), "--domain", "domain",
         "--data", "data", "--out", str(out_dir), "--fixed-model-name", "ted"],
        cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return out_dir / "ted.tar.gz"


def report(label: str, timings: list[float]) -> str:
    return (
        f"{label}: n={len(timings)} p50_ms={statistics.median(timings):.1f} "
        f"p95_ms={percentile(timings, 0.95):.1f}"
    )


async def run(model: Path, action_url: str, turns: int, long_turns: int) -> dict[str, list[float]]:
    from rasa.core.agent import Agent
    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog

    # As `rasa run` does: without it Rasa's structlog prints every debug event of every turn.
    configure_logging_and_warnings(logging.WARNING)
    configure_structlog(logging.WARNING)

    agent = Agent.load(str(model), action_endpoint=action_endpoint(action_url))
    user = demo_user().email  # the admin: every command is allowed, so every agent runs
    tag = model.stem.split(".")[0]
    await measure(agent, f"{user}~{tag}-warm-up", len(MESSAGES))
    BY_MESSAGE.clear()
    results = {"fresh": await measure(agent, f"{user}~{tag}-fresh", turns)}
    for message, timings in BY_MESSAGE.items():
        print(f"  fresh, {message!r}: p50_ms={statistics.median(timings):.1f}")
    await measure(agent, f"{user}~{tag}-long", long_turns)
    results[f"after_{long_turns}_turns"] = await measure(agent, f"{user}~{tag}-long", turns)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(ROOT / "models" / "misybot.tar.gz"))
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--long-turns", type=int, default=150)
    parser.add_argument("--with-ted", action="store_true", help="also train and measure TEDPolicy")
    args = parser.parse_args()

    scratch_db = tempfile.TemporaryDirectory(prefix="misybot-turn-")
    env = {**os.environ, "MISYBOT_DATABASE_URL": f"sqlite:///{scratch_db.name}/misybot.db",
           "MISYBOT_REPORTS_DIR": f"{scratch_db.name}/reports"}  # fmt: skip
    os.environ.update(env)
    misybot = Path(sys.executable).with_name("misybot")
    subprocess.run([str(misybot), "demo", "seed"], env=env, check=True, capture_output=True)
    stack = ExitStack()
    try:
        stack.enter_context(worker_process(env, cwd=ROOT))
        url = stack.enter_context(action_server(env))
        lines = [
            report(f"rules+memo {name}", timings)
            for name, timings in asyncio.run(
                run(Path(args.model), url, args.turns, args.long_turns)
            ).items()
        ]
        if args.with_ted:
            with tempfile.TemporaryDirectory() as scratch:
                ted_model = train_with_ted(Path(scratch))
                results = asyncio.run(run(ted_model, url, args.turns, args.long_turns))
                lines += [report(f"with TED {name}", timings) for name, timings in results.items()]
    finally:
        stack.close()
        scratch_db.cleanup()
    print("\n".join(lines))
    fresh = next(line for line in lines if line.startswith("rules+memo fresh"))
    print("turn " + " ".join(fresh.split(": ", 1)[1].split()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
