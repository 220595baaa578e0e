"""What the user reads for a finished execution: the domain response and the values it needs."""

from __future__ import annotations

import sys
from pathlib import Path

from rasa_sdk.executor import CollectingDispatcher

from actions.orchestration import render
from misybot.enums import ExecutionStatus
from misybot.orchestrator.queue import ExecutionView

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from domain_files import load_domain  # noqa: E402

RESPONSES = load_domain(ROOT / "domain")["responses"]


def _text(message: dict) -> str:
    """The response text as Rasa fills it in (``{name}`` from the message's variables)."""
    # The default voice: the variant without a persona condition.
    template = next(v["text"] for v in RESPONSES[message["response"]] if "condition" not in v)
    return template.format(**{k: v for k, v in message.items() if k not in ("response",)})


def _view(status: ExecutionStatus, **fields) -> ExecutionView:
    defaults = {
        "id": 42,
        "agent_type": "generate_report",
        "age_s": 3.0,
        "position": None,
        "result": None,
        "error": None,
        "context": {"command": "generate_report"},
    }
    return ExecutionView(status=status, **{**defaults, **fields})


def test_a_failed_execution_tells_the_user_with_its_id_and_the_error():
    dispatcher = CollectingDispatcher()
    render(dispatcher, _view(ExecutionStatus.FAILED, error="TransientError: portal down"))
    (message,) = dispatcher.messages
    text = _text({"response": message["response"], **_variables(message)})
    assert text.startswith(
        "❌ Sorry, **generate report** (#42) failed: TransientError: portal down"
    )


def test_a_cancelled_execution_says_so():
    dispatcher = CollectingDispatcher()
    render(dispatcher, _view(ExecutionStatus.CANCELLED))
    (message,) = dispatcher.messages
    assert _text({"response": message["response"], **_variables(message)}) == (
        "✖️ **generate report** (#42) was cancelled before it finished."
    )


def _variables(message: dict) -> dict:
    known = {
        "text",
        "buttons",
        "elements",
        "custom",
        "template",
        "response",
        "image",
        "attachment",
        "json_message",
    }
    return {k: v for k, v in message.items() if k not in known}
