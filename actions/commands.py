"""One action per command intent, plus help and the follow-ups replies advertise.

Every command runs its agent through ``actions.orchestration.run_command`` (inline answer when
the agent is quick, "working on it" and a pushed result otherwise). Each first checks who is
writing (unregistered senders reach no data) and clears the entity slots it used so one
command's subject never leaks into the next.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import PurePath
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.orchestration import (
    command_text,
    control,
    payload_command,
    run_command,
    send_report_files,
)
from actions.people import db, identify, profile_events
from misybot.agents.reports import get_report
from misybot.commands import BY_INTENT, COMMANDS, TOPICS, help_lines
from misybot.errors import NotFound
from misybot.identity import Sender
from misybot.permissions import PermissionDenied

ENTITY_SLOTS = (
    "sku",
    "product",
    "quantity",
    "location",
    "supplier",
    "report_type",
    "date_range",
    "severity",
    "category",
    "alert_id",
    "agent_type",
    "item",
    "alert_ref",
    "supplier_ref",
)
WEEK_S = 7 * 24 * 3600  # SCHEDULE on a report: the same report every week


def not_registered(dispatcher: CollectingDispatcher, sender: Sender) -> list[EventType]:
    dispatcher.utter_message(response="utter_not_registered", address=sender.address)
    return []


class RegisteredUserAction(Action, ABC):
    """An action only a registered sender gets an answer from (others: "not registered")."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        sender = await identify(tracker)
        if not sender.registered:
            return not_registered(dispatcher, sender)
        return await self.respond(dispatcher, tracker, sender)

    @abstractmethod
    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, sender: Sender
    ) -> list[EventType]:
        """The answer for ``sender``, a registered user."""


class CommandAction(Action, ABC):
    """A command of ``misybot.commands``: who is asking, what they asked, then its agent. One
    subclass per row of the table (``COMMAND_ACTIONS``), named after its intent."""

    @property
    @abstractmethod
    def command(self) -> str:
        """The intent this action answers (each subclass sets it as a class attribute)."""

    def name(self) -> str:
        return f"action_{self.command}"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        parameters = {
            slot: tracker.get_slot(slot)
            for slot in ENTITY_SLOTS
            if tracker.get_slot(slot) not in (None, "")
        }
        cleared = [SlotSet(slot, None) for slot in parameters]
        return cleared + await self.execute(dispatcher, tracker, parameters)

    async def execute(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, parameters: dict[str, Any]
    ) -> list[EventType]:
        """Run the command for ``parameters`` (slots, or a follow-up's payload)."""
        spec = BY_INTENT[self.command]
        sender = await identify(tracker)
        profile = profile_events(tracker, sender)
        if not sender.registered:
            return profile + not_registered(dispatcher, sender)
        if spec.run is None:  # run_agent / stop_agent / agent_status
            await control(dispatcher, tracker, sender, self.command, parameters.get("agent_type"))
            return profile + [SlotSet("topic", spec.topic)]
        entities = spec.entities(
            parameters, _dates(tracker) if spec.dates else None, command_text(tracker, spec.intent)
        )
        rendered = await run_command(
            dispatcher, tracker, sender, command=self.command, entities=entities, shown=parameters
        )
        return profile + rendered


def _dates(tracker: Tracker) -> dict[str, str] | None:
    """The period the normaliser resolved on the latest ``date_range`` entity of the command."""
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        found = [
            e
            for e in (event.get("parse_data") or {}).get("entities") or []
            if e.get("entity") == "date_range" and e.get("start_date")
        ]
        if found:
            return {"start_date": found[-1]["start_date"], "end_date": found[-1]["end_date"]}
    return None


def _action_class(intent: str) -> type[CommandAction]:
    """``check_inventory`` → ``ActionCheckInventory`` (what rasa_sdk registers)."""
    name = "Action" + "".join(part.title() for part in intent.split("_"))
    return type(name, (CommandAction,), {"command": intent, "__module__": __name__})


COMMAND_ACTIONS: dict[str, type[CommandAction]] = {
    command.intent: _action_class(command.intent) for command in COMMANDS
}


class ActionHelp(RegisteredUserAction):
    """What the user can do — only the commands their role allows."""

    def name(self) -> str:
        return "action_help"

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, sender: Sender
    ) -> list[EventType]:
        dispatcher.utter_message(response="utter_help", **help_lines(sender.actor.role))
        return profile_events(tracker, sender)


class ActionFollowUp(Action):
    """ "yes" / "no" outside a form: runs or drops the suggestion the last reply offered."""

    def name(self) -> str:
        return "action_follow_up"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        pending = payload_command(tracker.get_slot("follow_up"))
        if pending is None:
            dispatcher.utter_message(response="utter_nothing_pending")
            return [SlotSet("follow_up", None)]
        if intent != "affirm":
            dispatcher.utter_message(response="utter_cancelled")
            return [SlotSet("follow_up", None)]
        command, entities = pending
        action = COMMAND_ACTIONS[command]()
        return [SlotSet("follow_up", None)] + await action.execute(dispatcher, tracker, entities)


class ActionLearnMore(Action):
    """LEARN: explain the idea behind the last answer (its topic slot)."""

    def name(self) -> str:
        return "action_learn_more"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        topic = tracker.get_slot("topic")
        if topic not in TOPICS:
            dispatcher.utter_message(response="utter_learn_nothing")
            return []
        dispatcher.utter_message(response=f"utter_learn_{topic}")
        return []


class ActionShareReport(RegisteredUserAction):
    """SHARE on a report: the report's files, ready to forward."""

    def name(self) -> str:
        return "action_share_report"

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, sender: Sender
    ) -> list[EventType]:
        raw = next(tracker.get_latest_entity_values("report_id"), None) or tracker.get_slot(
            "report_id"
        )
        if not str(raw or "").isdigit():
            dispatcher.utter_message(response="utter_share_unavailable", report_id=raw or "?")
            return []
        try:
            report = await db(get_report, sender.actor, int(raw))
        except (NotFound, PermissionDenied):
            dispatcher.utter_message(response="utter_share_unavailable", report_id=raw)
            return []
        dispatcher.utter_message(
            response="utter_report_shared",
            report_id=report.id,
            report_type=report.report_type.value,
            start=report.start_date.isoformat(),
            end=report.end_date.isoformat(),
            csv_file=PurePath(report.file_path or "none").name,
            chart_file=PurePath(report.chart_path).name if report.chart_path else "none",
        )
        if report.file_path:
            variables = {"csv_path": report.file_path, "chart_path": report.chart_path}
            send_report_files(dispatcher, variables, sender.actor.company_slug)
        return []


class ActionScheduleReport(RegisteredUserAction):
    """SCHEDULE on a report: the report generator every week until stopped."""

    def name(self) -> str:
        return "action_schedule_report"

    async def respond(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, sender: Sender
    ) -> list[EventType]:
        report_type = next(tracker.get_latest_entity_values("report_type"), None)
        await control(
            dispatcher,
            tracker,
            sender,
            "run_agent",
            "report_generator",
            entities={"report_type": report_type or tracker.get_slot("report_type") or "inventory"},
            interval_s=WEEK_S,
        )
        return [SlotSet("topic", "reports")]
