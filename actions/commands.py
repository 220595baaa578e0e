"""One action per command intent.

Commands wired to the orchestrator (``AGENT_TYPES``) run their agent through
``actions.orchestration.run_command``: an answer inline when the agent is quick, "working on it"
and a pushed result otherwise. The others still confirm what they understood until the actions
issue wires them. Every command action clears the entity slots it used so one command's subject
never leaks into the next.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.orchestration import ActionDeliverAgentResult, control, run_command

PERSONAS = {"streamliner", "navigator", "hub", "spring", "processor"}
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
# Commands whose agent runs through the orchestrator (the actions issue adds the others).
AGENT_TYPES = {"check_inventory": "check_inventory", "generate_report": "generate_report"}


class CommandAction(Action, ABC):
    """Base of the command actions: report the understood command, then clear entity slots."""

    agent: ClassVar[str]

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
        events = [SlotSet(slot, None) for slot in ENTITY_SLOTS if slot in parameters]
        if self.command in AGENT_TYPES:
            await run_command(
                dispatcher,
                tracker,
                command=self.command,
                agent_type=AGENT_TYPES[self.command],
                entities=self.entities(tracker, parameters),
                shown=parameters,
            )
            return events
        dispatcher.utter_message(
            response="utter_command_understood",
            command=self.command.replace("_", " "),
            details=", ".join(f"{k}: {v}" for k, v in parameters.items()) or "no parameters",
            note=f"The {self.agent} agent takes it from here.",
        )
        return events

    def entities(self, tracker: Tracker, parameters: dict[str, Any]) -> dict[str, Any]:
        """What the agent's request is built from (the slots, by default)."""
        return dict(parameters)


class ActionCheckInventory(CommandAction):
    command = "check_inventory"
    agent = "inventory monitor"

    def entities(self, tracker: Tracker, parameters: dict[str, Any]) -> dict[str, Any]:
        # The form's ``item`` is a SKU or a product name: the agent tries it as a SKU, then a name.
        entities = {k: parameters[k] for k in ("sku", "product", "location") if k in parameters}
        item = parameters.get("item")
        if item and not entities.get("sku") and not entities.get("product"):
            entities.update(sku=item, product=item)
        return entities


class ActionReorderStock(CommandAction):
    command = "reorder_stock"
    agent = "reorder"


class ActionUpdateStock(CommandAction):
    command = "update_stock"
    agent = "stock update"


class ActionViewAlerts(CommandAction):
    command = "view_alerts"
    agent = "alert generator"


class ActionAcknowledgeAlert(CommandAction):
    command = "acknowledge_alert"
    agent = "alert generator"


class ActionResolveAlert(CommandAction):
    command = "resolve_alert"
    agent = "alert generator"


class ActionGenerateReport(CommandAction):
    command = "generate_report"
    agent = "report generator"

    def entities(self, tracker: Tracker, parameters: dict[str, Any]) -> dict[str, Any]:
        entities = {"report_type": parameters.get("report_type")}
        # The normaliser resolved the period to concrete dates on the date_range entity.
        for entity in reversed(tracker.latest_message.get("entities") or []):
            if entity.get("entity") == "date_range" and entity.get("start_date"):
                entities.update(start_date=entity["start_date"], end_date=entity["end_date"])
                break
        else:
            for event in reversed(tracker.events):
                found = [
                    e
                    for e in (event.get("parse_data") or {}).get("entities") or []
                    if e.get("entity") == "date_range" and e.get("start_date")
                ]
                if event.get("event") == "user" and found:
                    entities.update(
                        start_date=found[-1]["start_date"], end_date=found[-1]["end_date"]
                    )
                    break
        return entities


class ActionViewMetrics(CommandAction):
    command = "view_metrics"
    agent = "metrics"


class ActionDailyDigest(CommandAction):
    command = "daily_digest"
    agent = "daily digest"


class ActionCheckSupplier(CommandAction):
    command = "check_supplier"
    agent = "supplier"


class ActionSupplierPerformance(CommandAction):
    command = "supplier_performance"
    agent = "supplier"


class ActionRunAgent(CommandAction):
    command = "run_agent"
    agent = "orchestrator"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        await control(dispatcher, tracker, self.command, tracker.get_slot("agent_type"))
        return [SlotSet("agent_type", None)] if tracker.get_slot("agent_type") else []


class ActionStopAgent(CommandAction):
    command = "stop_agent"
    agent = "orchestrator"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        await control(dispatcher, tracker, self.command, tracker.get_slot("agent_type"))
        return [SlotSet("agent_type", None)] if tracker.get_slot("agent_type") else []


class ActionAgentStatus(CommandAction):
    command = "agent_status"
    agent = "orchestrator"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        await control(dispatcher, tracker, self.command, tracker.get_slot("agent_type"))
        return [SlotSet("agent_type", None)] if tracker.get_slot("agent_type") else []


__all__ = ["ActionDeliverAgentResult"]


class ActionSetPersona(Action):
    """Confirm the reply style the ``persona`` entity set (its slot mapping), or ask which one."""

    def name(self) -> str:
        return "action_set_persona"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        requested = next(tracker.get_latest_entity_values("persona"), None)
        if requested not in PERSONAS:
            dispatcher.utter_message(response="utter_ask_persona")
            # The slot mapping may have stored an unknown style: keep the last valid one instead.
            previous = next(
                (
                    event.get("value")
                    for event in reversed(tracker.events)
                    if event.get("event") == "slot"
                    and event.get("name") == "persona"
                    and event.get("value") in PERSONAS
                ),
                None,
            )
            return [SlotSet("persona", previous)] if tracker.get_slot("persona") else []
        dispatcher.utter_message(response="utter_persona_set", persona=requested)
        return []
