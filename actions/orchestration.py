"""The one path every command action takes to its agent: enqueue an execution, wait a moment,
then answer inline or say "working on it" and let the worker push the result later
(``EXTERNAL_agent_result`` → ``action_deliver_agent_result``)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError

from actions.people import db, db_write, identify, utter
from misybot.commands import BY_INTENT, reply_to
from misybot.enums import ExecutionStatus
from misybot.errors import MisybotError
from misybot.identity import Sender
from misybot.links import report_links
from misybot.notify.phrases import every_run
from misybot.orchestrator import submit
from misybot.orchestrator.queue import ExecutionView
from misybot.permissions import PermissionDenied
from misybot.replies import Reply, permission_variables
from misybot.settings import get_settings

logger = logging.getLogger(__name__)

# How often an action looks whether its execution finished: soon at first (most agents take
# milliseconds), then less often while a slow one runs.
FIRST_POLL_S = 0.005
MAX_POLL_S = 0.05


def describe(parameters: dict[str, Any]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in parameters.items()) or "no parameters"


def context_from_tracker(tracker: Tracker, command: str, entities: dict[str, Any]) -> dict:
    """Everything a worker and the delivery need: who, where, which message, what was asked."""
    latest = tracker.latest_message or {}
    return {
        "command": command,
        "intent": (latest.get("intent") or {}).get("name"),
        "entities": entities,
        "text": command_text(tracker, command),
        "sender_id": tracker.sender_id,
        "channel": tracker.get_latest_input_channel(),
        "message_id": latest.get("message_id"),
        "persona": tracker.get_slot("persona"),
    }


def command_text(tracker: Tracker, command: str) -> str:
    """What the user wrote when they asked for ``command`` (a form may have asked more since)."""
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        if ((event.get("parse_data") or {}).get("intent") or {}).get("name") == command:
            return event.get("text") or ""
    return (tracker.latest_message or {}).get("text") or ""


def permission_reply(command: str, error: PermissionDenied) -> Reply:
    return Reply(
        "utter_permission_denied",
        permission_variables(command, error.role.value, [r.value for r in error.allowed_roles]),
    )


async def run_command(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    sender: Sender,
    *,
    command: str,
    entities: dict[str, Any],
    shown: dict[str, Any],
) -> list[EventType]:
    """Enqueue ``command``'s agent and answer inline if it finishes within the deadline."""
    spec = BY_INTENT[command]
    words = command.replace("_", " ")
    context = context_from_tracker(tracker, command, entities)
    try:
        sender.actor.require(spec.operation)
    except PermissionDenied as error:
        utter(dispatcher, permission_reply(command, error))
        return []
    try:
        submitted = await db_write(
            submit.submit, sender.actor, spec.intent, context, spec.priority_key
        )
        execution_id = submitted.execution_id
        deadline = time.monotonic() + get_settings().inline_deadline_s
        view, pause = None, FIRST_POLL_S
        while view is None and time.monotonic() < deadline:
            await asyncio.sleep(pause)
            pause = min(pause * 2, MAX_POLL_S)
            view = await db(submit.finished_view, execution_id)
        if view is not None:
            await db_write(submit.answered_inline, execution_id)
        else:
            view = await db_write(submit.hand_over_or_finish, execution_id)
    except SQLAlchemyError as error:
        logger.warning("actions.orchestrator_unavailable command=%s error=%s", command, error)
        dispatcher.utter_message(
            response="utter_orchestrator_unavailable", command=words, details=describe(shown)
        )
        return []
    if view is None:
        dispatcher.utter_message(
            response="utter_working_on_it",
            command=words,
            details=describe(shown),
            execution_id=execution_id,
        )
        return []
    return render(dispatcher, view, sender.actor.company_slug)


async def control(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    sender: Sender,
    command: str,
    agent_type: str | None,
    *,
    entities: dict[str, Any] | None = None,
    interval_s: int | None = None,
) -> None:
    """run_agent / stop_agent / agent_status: immediate changes to the company's queue
    (``run_agent`` repeats every ``interval_s``, by default the configured interval)."""
    words = command.replace("_", " ")
    agent = (agent_type or "agents").replace("_", " ")
    context = context_from_tracker(tracker, command, {"agent_type": agent_type, **(entities or {})})
    interval = interval_s or get_settings().recurring_interval_s
    actor = sender.actor

    def act(session):
        if command == "stop_agent":
            return submit.stop_agent(session, actor, agent_type)
        if command == "run_agent":
            notify = "always" if every_run(context["text"]) else "new"
            return submit.start_recurring(session, actor, agent_type, context, interval, notify)
        return submit.agent_status(session, actor)

    try:
        outcome = await db_write(act)
    except PermissionDenied as error:
        utter(dispatcher, permission_reply(command, error))
        return
    except MisybotError as error:
        dispatcher.utter_message(response="utter_conflict", command=words, message=str(error))
        return
    except SQLAlchemyError as error:
        logger.warning("actions.orchestrator_unavailable command=%s error=%s", command, error)
        dispatcher.utter_message(
            response="utter_orchestrator_unavailable", command=words, details=agent
        )
        return
    if command == "stop_agent":
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
            minutes=round(interval / 60),
            every=every(interval),
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
        kv_lines = f"AGENTS_ACTIVE: {len(outcome)}\n" + "\n".join(
            f"EXECUTION_{v.id}: {v.agent_type.upper()}|"
            + (f"QUEUED|{v.position}" if v.position else "RUNNING|0")
            + f"|{round(v.age_s)}"
            for v in outcome
        )
        dispatcher.utter_message(response="utter_agent_status", lines=lines, kv_lines=kv_lines)


def every(seconds: int) -> str:
    """An interval in words: "week", "day", "hour", "15 minutes"."""
    for unit, size in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return unit if count == 1 else f"{count} {unit}s"
    return f"{seconds} seconds"


def render(
    dispatcher: CollectingDispatcher, view: ExecutionView, company: str | None = None
) -> list[EventType]:
    """The reply for a finished execution, whether inline or pushed later, with a report's
    files as links the channel sends as media (``company``'s, signed and expiring); returns
    the slot events that make its advertised follow-ups work (LEARN's topic, "yes" to a
    suggestion)."""
    command = view.context.get("command") or view.agent_type
    words = command.replace("_", " ")
    if view.status == ExecutionStatus.FAILED:
        timed_out = "timed out" in (view.error or "")
        dispatcher.utter_message(
            response="utter_agent_timeout" if timed_out else "utter_agent_failed",
            command=words,
            execution_id=view.id,
            error=view.error or "unknown error",
        )
        return []
    if view.status == ExecutionStatus.CANCELLED:
        dispatcher.utter_message(
            response="utter_agent_cancelled", command=words, execution_id=view.id
        )
        return []
    # A recurring run's context says "run_agent" (what started it): its agent's reply answers.
    answering = BY_INTENT.get(command)
    key = command if answering is not None and answering.reply is not None else view.agent_type
    reply = reply_to(key, view.result or {})
    utter(dispatcher, reply)
    if reply.response == "utter_report_ready" and company is not None:
        send_report_files(dispatcher, reply.variables, company)
    spec = BY_INTENT.get(key)
    events: list[EventType] = [SlotSet("topic", spec.topic if spec else "alerts")]
    # "yes" picks the first "did you mean" suggestion; anything else forgets it.
    suggested = reply.response == "utter_not_found_suggestions" and reply.buttons
    events.append(SlotSet("follow_up", reply.buttons[0]["payload"] if suggested else None))
    if "report_id" in reply.variables and reply.response == "utter_report_ready":
        events.append(SlotSet("report_id", str(reply.variables["report_id"])))
    return events


class ActionDeliverAgentResult(Action):
    """Render a result the worker pushed with ``EXTERNAL_agent_result`` (entity execution_id)."""

    def name(self) -> str:
        return "action_deliver_agent_result"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        raw = next(tracker.get_latest_entity_values("execution_id"), None)
        # Released only to the user who started it, in the conversation they started it from.
        sender = await identify(tracker)
        try:
            execution_id = int(str(raw))
            view = (
                await db(submit.result_for, execution_id, sender.actor, tracker.sender_id)
                if sender.registered
                else None
            )
        except (TypeError, ValueError, SQLAlchemyError):
            view = None
        if view is None or view.status not in (
            ExecutionStatus.SUCCEEDED,
            ExecutionStatus.FAILED,
            ExecutionStatus.CANCELLED,
        ):
            dispatcher.utter_message(response="utter_agent_result_unknown", execution_id=raw)
            return []
        return render(dispatcher, view, sender.actor.company_slug)


def send_report_files(
    dispatcher: CollectingDispatcher, variables: dict[str, Any], company: str
) -> None:
    """The report's chart as an image and its CSV as a document, by signed links."""
    links = report_links(company, variables["csv_path"], variables.get("chart_path"))
    if "png" in links:
        dispatcher.utter_message(image=links["png"])
    dispatcher.utter_message(attachment=links["csv"])


def payload_command(payload: str | None) -> tuple[str, dict[str, Any]] | None:
    """``/check_inventory{"sku": "WID-220"}`` as ``("check_inventory", {"sku": "WID-220"})``."""
    if not payload or not payload.startswith("/"):
        return None
    intent, brace, rest = payload[1:].partition("{")
    try:
        entities = json.loads(brace + rest) if brace else {}
    except json.JSONDecodeError:
        return None
    return (intent, entities) if intent in BY_INTENT and isinstance(entities, dict) else None
