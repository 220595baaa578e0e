"""A whole turn through a real Rasa server, the real action server and a worker: a quick command
is answered inline; a slow one gets "working on it" and its result is pushed into the same
conversation through ``trigger_intent``."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import yaml

from connectors.local import conversation_id
from misybot.db.engine import create_db_engine
from misybot.db.models import AgentExecution
from misybot.db.session import make_session_factory, session_scope
from misybot.demo import seed_demo
from misybot.orchestrator.delivery import conversation_path
from misybot.orchestrator.registry import AgentSpec, default_registry
from misybot.orchestrator.worker import Worker
from misybot.settings import get_settings
from testkit.database import migrated_sqlite
from testkit.processes import free_port, wait_for_http

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.rasa_model
TOKEN = "e2e-secret"
SLOW_REPORT_S = 2.5


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("e2e") / "demo.db"
    engine = migrated_sqlite(path)
    with session_scope(make_session_factory(engine)) as session:
        seed_demo(session)
    engine.dispose()
    return f"sqlite:///{path}"


def _serve(command: list[str], env: dict, health: str, log: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
    )
    try:
        wait_for_http(health, process, timeout=180)
    except BaseException:
        process.kill()
        raise
    return process


@pytest.fixture(scope="module")
def servers(model_path, demo_url, tmp_path_factory) -> Iterator[dict]:
    """The action server (on the demo database) and one Rasa server with the HTTP API."""
    logs = tmp_path_factory.mktemp("e2e-logs")
    env = {
        **os.environ,
        "MISYBOT_DATABASE_URL": demo_url,
        "MISYBOT_INLINE_DEADLINE_S": "1.5",
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    actions_port, rasa_port = free_port(), free_port()
    actions = _serve(
        [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(actions_port)],
        env,
        f"http://127.0.0.1:{actions_port}/health",
        logs / "actions.log",
    )
    endpoints = yaml.safe_load((ROOT / "endpoints.yml").read_text())
    endpoints["action_endpoint"]["url"] = f"http://127.0.0.1:{actions_port}/webhook"
    endpoints_file = logs / "endpoints.yml"
    endpoints_file.write_text(yaml.safe_dump(endpoints))
    rasa = None
    try:
        rasa = _serve(
            [
                str(Path(sys.executable).with_name("rasa")),
                "run",
                "--model",
                str(model_path),
                "--enable-api",
                "--port",
                str(rasa_port),
                "--endpoints",
                str(endpoints_file),
                "--auth-token",
                TOKEN,
            ],
            env,
            f"http://127.0.0.1:{rasa_port}/",
            logs / "rasa.log",
        )
        yield {"rasa": f"http://127.0.0.1:{rasa_port}", "logs": logs}
    finally:
        for process in (rasa, actions):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)


def _slow(spec: AgentSpec) -> AgentSpec:
    def run(session, actor, context, run_context):
        time.sleep(SLOW_REPORT_S)
        return spec.run(session, actor, context, run_context)

    return AgentSpec(run, spec.timeout_s)


@pytest.fixture
async def worker(servers, demo_url) -> Iterator[Worker]:
    registry = default_registry()
    registry["generate_report"] = _slow(registry["generate_report"])
    settings = dataclasses.replace(
        get_settings(), rasa_url=servers["rasa"], rasa_token=TOKEN, database_url=demo_url
    )
    engine = create_db_engine(demo_url)
    worker = Worker(engine, settings=settings, registry=registry)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    yield worker
    stop.set()
    await task
    engine.dispose()


async def say(http: aiohttp.ClientSession, rasa: str, sender: str, text: str) -> list[str]:
    async with http.post(
        f"{rasa}/webhooks/rest/webhook", json={"sender": sender, "message": text}
    ) as response:
        assert response.status == 200
        return [message.get("text", "") for message in await response.json()]


async def bot_texts(http: aiohttp.ClientSession, rasa: str, sender: str) -> list[str]:
    async with http.get(
        f"{rasa}/conversations/{conversation_path(conversation_id(sender))}/tracker",
        params={"token": TOKEN},
    ) as response:
        tracker = await response.json()
    return [event.get("text") or "" for event in tracker["events"] if event["event"] == "bot"]


# A demo operator (local senders are users' e-mail addresses; "~…" names this conversation).
SENDER = "marta.costa@misy-demo.example~e2e"


async def test_quick_command_answers_inline_slow_one_is_pushed_later(servers, worker, demo_url):
    async with aiohttp.ClientSession() as http:
        (inline,) = await say(http, servers["rasa"], SENDER, "how many WID-220 in Lisbon")
        # Marta's persona is streamliner: a glance with the SKU and the per-location figures.
        assert "**WID-220**" in inline and "LIS " in inline

        replies = await say(http, servers["rasa"], SENDER, "sales report for last week")
        (working,) = replies
        assert working.startswith("⏳ #")
        execution_id = int(working.split("#")[1].split(" ")[0])

        deadline = time.monotonic() + 60
        while True:
            texts = await bot_texts(http, servers["rasa"], SENDER)
            if any(t.startswith("📊 sales #") for t in texts):
                break
            assert time.monotonic() < deadline, f"no pushed result; bot said {texts}"
            await asyncio.sleep(0.2)
        pushed = next(t for t in texts if t.startswith("📊 sales #"))
        assert "ready" in pushed and ".csv" in pushed
        assert texts.index(pushed) > texts.index(working)

    engine = create_db_engine(demo_url)
    with session_scope(make_session_factory(engine)) as session:
        row = session.get(AgentExecution, execution_id)
        assert row.status == "succeeded" and row.deliver and row.response_sent
        assert row.context["channel"] == "rest"
        assert row.context["sender_id"] == conversation_id(SENDER)
    engine.dispose()
