"""One action per command intent, plus help and the follow-ups replies advertise.

Every command runs its agent through ``actions.orchestration.run_command`` (inline answer when
the agent is quick, "working on it" and a pushed result otherwise). Each first checks who is
writing (unregistered senders reach no data) and clears the entity slots it used so one
command's subject never leaks into the next.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.orchestration import control, payload_command, run_command
from actions.people import db, identify, profile_events
from misybot.agents.reports import get_report
from misybot.commands import BY_INTENT, TOPICS, help_lines
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
ALERT_REF_KINDS = {
    "critical": "severity",
    "high": "severity",
    "medium": "severity",
    "low": "severity",
    "low_stock": "category",
    "out_of_stock": "category",
    "overstock": "category",
    "late_delivery": "category",
    "supplier": "category",
}


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
    """Base of the command actions: who is asking, what they asked, then the agent."""

    @property
    @abstractmethod
    def command(self) -> str:
        """The intent this action answers (subclasses set it as a class attribute)."""

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
        sender = await identify(tracker)
        profile = profile_events(tracker, sender)
        if not sender.registered:
            return profile + not_registered(dispatcher, sender)
        rendered = await run_command(
            dispatcher,
            tracker,
            sender,
            command=self.command,
            entities=self.entities(tracker, parameters),
            shown=parameters,
        )
        return profile + rendered

    def entities(self, tracker: Tracker, parameters: dict[str, Any]) -> dict[str, Any]:
        """What the agent's request is built from (the slots, by default)."""
        return dict(parameters)


def _item(entities: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """The forms' ``item`` is a SKU or a product name: the agents try it as a SKU, then a name."""
    item = parameters.get("item")
    if item and not entities.get("sku") and not entities.get("product"):
        entities.update(sku=item, product=item)
    return entities


def _dates(tracker: Tracker, entities: dict[str, Any]) -> dict[str, Any]:
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
            return {
                **entities,
                "start_date": found[-1]["start_date"],
                "end_date": found[-1]["end_date"],
            }
    return entities


class ActionCheckInventory(CommandAction):
    command = "check_inventory"

    def entities(self, tracker: Tracker, parameters: dict[str, Any]) -> dict[str, Any]:
        entities = {k: parameters[k] for k in ("sku", "product", "location") if k in parameters}
        return _item(entities, parameters)


class ActionReorderStock(CommandAction):
    command = "reorder_stock"

    def entities(self, tracker: Tracker, parameters: dict[str, Any]) -> dict[str, Any]:
        keys = ("sku", "product", "quantity", "supplier", "location")
        return _item({k: parameters[k] for k in keys if k in parameters}, parameters)


class ActionUpdateStock(CommandAction):
    command = "update_stock"

    def entities(self, tracker: Tracker, parameters: dict[str, Any]) -> dict[str, Any]:
        keys = ("sku", "product", "quantity", "location")
        return _item({k: parameters[k] for k in keys if k in parameters}, parameters)


class ActionViewAlerts(CommandAction):
    command = "view_alerts"


class _AlertChange(CommandAction):
    def entities(self, tracker: Tracker, parameters: dict[str, Any]) -> dict[str, Any]:
        entities = {
            k: parameters[k]
            for k in ("alert_id", "severity", "category", "location", "sku")
            if k in parameters
        }
        reference = str(parameters.get("alert_ref") or "").strip().lstrip("#")
        if reference and not ({"alert_id", "severity", "category"} & entities.keys()):
            if reference.isdigit():
                entities["alert_id"] = reference
            elif reference in ALERT_REF_KINDS:
                entities[ALERT_REF_KINDS[reference]] = reference
        return entities


class ActionAcknowledgeAlert(_AlertChange):
    command = "acknowledge_alert"


class ActionResolveAlert(_AlertChange):
    command = "resolve_alert"


class ActionGenerateReport(CommandAction):
    command = "generate_report"

    def entities(self, tracker: Tracker, parameters: dict[str, Any]) -> dict[str, Any]:
        return _dates(tracker, {"report_type": parameters.get("report_type")})


class ActionViewMetrics(CommandAction):
    command = "view_metrics"

    def entities(self, tracker: Tracker, parameters: dict[str, Any]) -> dict[str, Any]:
        return _dates(tracker, {})


class ActionDailyDigest(CommandAction):
    command = "daily_digest"


class ActionCheckSupplier(CommandAction):
    command = "check_supplier"

    def entities(self, tracker: Tracker, parameters: dict[str, Any]) -> dict[str, Any]:
        entities = {k: parameters[k] for k in ("supplier", "sku", "product") if k in parameters}
        reference = parameters.get("supplier_ref")
        if reference and not entities:
            # The form's answer: a supplier's name, or a product whose suppliers to list.
            entities = {"supplier": reference}
        return entities


class ActionSupplierPerformance(CommandAction):
    command = "supplier_performance"

    def entities(self, tracker: Tracker, parameters: dict[str, Any]) -> dict[str, Any]:
        return _dates(tracker, {k: parameters[k] for k in ("supplier",) if k in parameters})


class _AgentControl(CommandAction):
    async def execute(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, parameters: dict[str, Any]
    ) -> list[EventType]:
        sender = await identify(tracker)
        profile = profile_events(tracker, sender)
        if not sender.registered:
            return profile + not_registered(dispatcher, sender)
        await control(dispatcher, tracker, sender, self.command, parameters.get("agent_type"))
        return profile + [SlotSet("topic", BY_INTENT[self.command].topic)]


class ActionRunAgent(_AgentControl):
    command = "run_agent"


class ActionStopAgent(_AgentControl):
    command = "stop_agent"


class ActionAgentStatus(_AgentControl):
    command = "agent_status"


COMMAND_ACTIONS: dict[str, type[CommandAction]] = {
    cls.command: cls
    for cls in (
        ActionCheckInventory, ActionReorderStock, ActionUpdateStock, ActionViewAlerts,
        ActionAcknowledgeAlert, ActionResolveAlert, ActionGenerateReport, ActionViewMetrics,
        ActionDailyDigest, ActionCheckSupplier, ActionSupplierPerformance, ActionRunAgent,
        ActionStopAgent, ActionAgentStatus,
    )
}  # fmt: skip


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
            csv_path=report.file_path,
            chart_path=report.chart_path or "none",
        )
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
