"""One action per command intent.

Until the agents and the orchestrator are wired in (store, orchestrator and actions issues), each
action confirms what it understood — the command and its normalised parameters — so the dialogue,
forms and NLU can be exercised end to end. Every command action clears the entity slots it used so
one command's subject never leaks into the next.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

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
        dispatcher.utter_message(
            response="utter_command_understood",
            command=self.command.replace("_", " "),
            details=", ".join(f"{k}: {v}" for k, v in parameters.items()) or "no parameters",
            note=f"The {self.agent} agent takes it from here.",
        )
        return [SlotSet(slot, None) for slot in ENTITY_SLOTS if slot in parameters]


class ActionCheckInventory(CommandAction):
    command = "check_inventory"
    agent = "inventory monitor"


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


class ActionStopAgent(CommandAction):
    command = "stop_agent"
    agent = "orchestrator"


class ActionAgentStatus(CommandAction):
    command = "agent_status"
    agent = "orchestrator"


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
