"""The one path every command action takes to its agent: enqueue an execution, wait a moment,
then answer inline or say "working on it" and let the worker push the result later
(``EXTERNAL_agent_result`` → ``action_deliver_agent_result``)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError

from misybot.db.session import session_scope
from misybot.enums import ExecutionStatus
from misybot.errors import MisybotError
from misybot.orchestrator import submit
from misybot.orchestrator.queue import ExecutionView
from misybot.settings import get_settings

logger = logging.getLogger(__name__)

POLL_S = 0.05
Renderer = Callable[[CollectingDispatcher, dict], None]


def _in_session(fn, *args):
    with session_scope() as session:
        return fn(session, *args)


async def _db(fn, *args):
    """A unit of work in a thread: the action server's event loop never waits on the database."""
    return await asyncio.to_thread(_in_session, fn, *args)


def describe(parameters: dict[str, Any]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in parameters.items()) or "no parameters"


def context_from_tracker(tracker: Tracker, command: str, entities: dict[str, Any]) -> dict:
    """Everything a worker and the delivery need: who, where, which message, what was asked."""
    latest = tracker.latest_message or {}
    # Provider connectors (``connectors/``) put the store's channel and the sender's address in
    # the message metadata ("whatsapp", "+351…"); their input channel ("whatsapp_twilio") and
    # conversation id ("whatsapp:+351…") are the transport's names for them.
    metadata = latest.get("metadata") or {}
    return {
        "command": command,
        "intent": (latest.get("intent") or {}).get("name"),
        "entities": entities,
        "sender_id": tracker.sender_id,
        "channel": metadata.get("channel") or tracker.get_latest_input_channel(),
        "address": metadata.get("address") or tracker.sender_id,
        "message_id": latest.get("message_id"),
        "persona": tracker.get_slot("persona"),
    }


async def run_command(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    *,
    command: str,
    agent_type: str,
    entities: dict[str, Any],
    shown: dict[str, Any],
) -> None:
    """Enqueue ``agent_type`` and answer inline if it finishes within the deadline."""
    words = command.replace("_", " ")
    context = context_from_tracker(tracker, command, entities)

    def start(session):
        actor = submit.actor_for_sender(session, context["channel"], context["address"])
        return None if actor is None else submit.submit(session, actor, agent_type, context)

    try:
        submitted = await _db(start)
        if submitted is None:
            dispatcher.utter_message(
                response="utter_unknown_sender", command=words, details=describe(shown)
            )
            return
        execution_id = submitted.execution_id
        deadline = time.monotonic() + get_settings().inline_deadline_s
        view = None
        while view is None and time.monotonic() < deadline:
            await asyncio.sleep(POLL_S)
            view = await _db(submit.finished_view, execution_id)
        if view is not None:
            await _db(submit.answered_inline, execution_id)
        else:
            view = await _db(submit.hand_over_or_finish, execution_id)
    except SQLAlchemyError as error:
        logger.warning("actions.orchestrator_unavailable command=%s error=%s", command, error)
        dispatcher.utter_message(
            response="utter_orchestrator_unavailable", command=words, details=describe(shown)
        )
        return
    if view is None:
        dispatcher.utter_message(
            response="utter_working_on_it",
            command=words,
            details=describe(shown),
            execution_id=execution_id,
        )
        return
    render(dispatcher, view)


async def control(
    dispatcher: CollectingDispatcher, tracker: Tracker, command: str, agent_type: str | None
) -> None:
    """run_agent / stop_agent / agent_status: immediate changes to the company's queue."""
    words = command.replace("_", " ")
    agent = (agent_type or "agents").replace("_", " ")
    context = context_from_tracker(tracker, command, {"agent_type": agent_type})

    def act(session):
        actor = submit.actor_for_sender(session, context["channel"], context["address"])
        if actor is None:
            return None
        if command == "stop_agent":
            return submit.stop_agent(session, actor, agent_type)
        if command == "run_agent":
            return submit.start_recurring(session, actor, agent_type, context)
        return submit.agent_status(session, actor)

    try:
        outcome = await _db(act)
    except MisybotError as error:
        dispatcher.utter_message(response="utter_agent_refused", command=words, reason=str(error))
        return
    except SQLAlchemyError as error:
        logger.warning("actions.orchestrator_unavailable command=%s error=%s", command, error)
        dispatcher.utter_message(
            response="utter_orchestrator_unavailable", command=words, details=agent
        )
        return
    if outcome is None:
        dispatcher.utter_message(response="utter_unknown_sender", command=words, details=agent)
    elif command == "stop_agent":
        note = " and its recurring run ended" if outcome["schedules"] else ""
        dispatcher.utter_message(
            response="utter_agents_stopped",
            agent=agent,
            count=outcome["queued"] + outcome["running"],
            schedule_note=note,
        )
    elif command == "run_agent":
        schedule_id, first = outcome
        dispatcher.utter_message(
            response="utter_agent_scheduled",
            agent=agent,
            minutes=round(get_settings().recurring_interval_s / 60),
            schedule_id=schedule_id,
            execution_id=first.execution_id,
        )
    elif not outcome:
        dispatcher.utter_message(response="utter_agents_idle")
    else:
        lines = "\n".join(
            f"- #{v.id} {v.agent_type.replace('_', ' ')}: "
            + (f"queued, position {v.position}" if v.position else "running")
            + f", {round(v.age_s)} s old"
            for v in outcome
        )
        dispatcher.utter_message(response="utter_agent_status", lines=lines)


# ---------------------------------------------------------------------------------- rendering
def _inventory(dispatcher: CollectingDispatcher, result: dict) -> None:
    locations = "".join(
        f"\n- {row['location']}: {row['quantity']}" for row in result.get("locations", [])
    )
    advice = "".join(f"\n{line}" for line in result.get("recommendations", [])[:2])
    dispatcher.utter_message(
        response="utter_inventory_status",
        sku=result["sku"],
        name=result["name"],
        total=result["total_quantity"],
        unit=result["unit"],
        status=result["status"].replace("_", " "),
        locations=locations,
        advice=advice,
    )


def _report(dispatcher: CollectingDispatcher, result: dict) -> None:
    summary = result.get("summary") or {}
    figures = "".join(
        f"\n- {key.replace('_', ' ')}: {value}"
        for key, value in list(summary.items())[:5]
        if not isinstance(value, dict | list)
    )
    dispatcher.utter_message(
        response="utter_report_ready",
        report_type=result["report_type"],
        start=result["start"],
        end=result["end"],
        report_id=result["report_id"],
        rows=result["row_count"],
        csv_path=result["csv_path"],
        summary=figures,
    )


RENDERERS: dict[str, Renderer] = {
    "check_inventory": _inventory,
    "generate_report": _report,
}


def render(dispatcher: CollectingDispatcher, view: ExecutionView) -> None:
    """The reply for a finished execution, whether inline or pushed later."""
    command = (view.context.get("command") or view.agent_type).replace("_", " ")
    if view.status == ExecutionStatus.FAILED:
        dispatcher.utter_message(
            response="utter_agent_failed",
            command=command,
            execution_id=view.id,
            error=view.error or "unknown error",
        )
    elif view.status == ExecutionStatus.CANCELLED:
        dispatcher.utter_message(
            response="utter_agent_cancelled", command=command, execution_id=view.id
        )
    else:
        renderer = RENDERERS.get(view.agent_type)
        if renderer is None:
            dispatcher.utter_message(text=f"{command} (#{view.id}): done.")
        else:
            renderer(dispatcher, view.result or {})


class ActionDeliverAgentResult(Action):
    """Render a result the worker pushed with ``EXTERNAL_agent_result`` (entity execution_id)."""

    def name(self) -> str:
        return "action_deliver_agent_result"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        raw = next(tracker.get_latest_entity_values("execution_id"), None)
        try:
            execution_id = int(str(raw))
            view = await _db(submit.result_for_sender, execution_id, tracker.sender_id)
        except (TypeError, ValueError, SQLAlchemyError):
            view = None
        if view is None or view.status not in (
            ExecutionStatus.SUCCEEDED,
            ExecutionStatus.FAILED,
            ExecutionStatus.CANCELLED,
        ):
            dispatcher.utter_message(response="utter_agent_result_unknown", execution_id=raw)
            return []
        render(dispatcher, view)
        return []
