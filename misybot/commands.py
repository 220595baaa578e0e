"""The command set, one row per command: everything a command is, in one place.

A row says which intent it answers, who may run it, which entities its agent reads (and how a
form's answer or a reference becomes one), the runner that calls its agent, the reply builder
that turns the result into a response, its time limit and its priority class. Everything else is
derived from this table: the orchestrator's registry, the reply lookup, the actions (one per
row), the help list a role sees, what LEARN explains next. Adding a command is one row here,
its runner and reply, and its YAML (intent examples, rules, responses).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from misybot import replies
from misybot.enums import Role
from misybot.nlu.stock_words import stock_change
from misybot.orchestrator import runners
from misybot.orchestrator.registry import Runner
from misybot.permissions import Operation, allowed
from misybot.replies import Reply, ReplyBuilder

# LEARN topics (responses utter_learn_<topic>).
TOPICS = (
    "reorder_point",
    "lead_time",
    "alerts",
    "turnover",
    "fill_rate",
    "coverage",
    "stock_movements",
    "reports",
)
# A form's alert reference ("ack critical") as the entity it names.
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


@dataclass(frozen=True)
class Command:
    """One command of the assistant (see the module's notes)."""

    intent: str
    operation: Operation  # what the role must be allowed to do
    area: str  # its group in the help list
    example: str  # how the help list shows it
    topic: str  # what LEARN explains after its answer
    run: Runner | None  # its agent; None: it controls the orchestrator itself (run/stop/status)
    reply: ReplyBuilder | None
    reads: tuple[str, ...] = ()  # the slots its agent reads
    # How a form's answer becomes an entity: "item" (a SKU or a product name), "alert" (an
    # alert's id, severity or category), "supplier" (a supplier's name).
    reference: str | None = None
    dates: bool = False  # reads the date range resolved on the message ("last week")
    from_text: Callable[[str], dict[str, Any]] | None = None  # entities the words carry
    timeout_s: float = 30.0
    priority_class: str | None = None  # whose queue priority it gets (default: its intent)

    @property
    def priority_key(self) -> str:
        """What its executions' queue priority is looked up by (``MISYBOT_PRIORITIES``)."""
        return self.priority_class or self.intent

    def entities(
        self, slots: Mapping[str, Any], dates: Mapping[str, str] | None = None, text: str = ""
    ) -> dict[str, Any]:
        """What the agent is given: the slots it reads, a form's answer as the entity it names,
        the resolved dates and what the words of ``text`` carry."""
        entities = {name: slots[name] for name in self.reads if slots.get(name) not in (None, "")}
        if self.reference == "item":
            item = slots.get("item")
            if item and not entities.get("sku") and not entities.get("product"):
                entities.update(sku=item, product=item)  # tried as a SKU, then as a name
        elif self.reference == "alert":
            reference = str(slots.get("alert_ref") or "").strip().lstrip("#")
            if reference and not ({"alert_id", "severity", "category"} & entities.keys()):
                if reference.isdigit():
                    entities["alert_id"] = reference
                elif reference in ALERT_REF_KINDS:
                    entities[ALERT_REF_KINDS[reference]] = reference
        elif self.reference == "supplier" and slots.get("supplier_ref") and not entities:
            entities = {"supplier": slots["supplier_ref"]}  # a supplier's name, or a product's
        if self.dates and dates:
            entities.update(start_date=dates["start_date"], end_date=dates["end_date"])
        if self.from_text is not None:
            entities.update(self.from_text(text))
        return entities


def _stock_words(text: str) -> dict[str, Any]:
    """received / sold / counted …: the direction and kind of a stock change, and its reason."""
    change = asdict(stock_change(text))
    return {**change, "kind": change["kind"].value}


STOCK = ("sku", "product", "location")
# The design's priority classes: stock commands queue like the inventory monitor (8), alert
# commands like the alert generator (9); the streamliner persona's go first (10).
INVENTORY, ALERTS = "inventory_monitor", "alert_generator"
ALERT_FILTER = ("alert_id", "severity", "category", "location", "sku")

COMMANDS: tuple[Command, ...] = (
    Command("check_inventory", Operation.VIEW, "Stock", "how many WID-220 in Lisbon?",
            "reorder_point", runners.run_check_inventory, replies.inventory_reply,
            reads=STOCK, reference="item", priority_class=INVENTORY),
    Command("check_location", Operation.VIEW, "Stock", "what's stored in Porto?", "reorder_point",
            runners.run_check_location, replies.location_reply, reads=("location",),
            priority_class=INVENTORY),
    Command("update_stock", Operation.UPDATE_STOCK, "Stock", "received 200 WID-220 in Lisbon",
            "stock_movements", runners.run_update_stock, replies.stock_update_reply,
            reads=(*STOCK, "quantity"), reference="item", from_text=_stock_words,
            priority_class=INVENTORY),
    Command("reorder_stock", Operation.REORDER, "Stock", "reorder blue widgets", "lead_time",
            runners.run_reorder, replies.reorder_reply,
            reads=(*STOCK, "quantity", "supplier"), reference="item", priority_class=INVENTORY),
    Command("view_alerts", Operation.VIEW, "Alerts", "show critical alerts", "alerts",
            runners.run_view_alerts, replies.alerts_reply, reads=ALERT_FILTER,
            priority_class=ALERTS),
    Command("acknowledge_alert", Operation.ACKNOWLEDGE_ALERT, "Alerts", "ack 1042", "alerts",
            runners.run_acknowledge_alert, replies.alert_change_reply,
            reads=ALERT_FILTER, reference="alert", priority_class=ALERTS),
    Command("resolve_alert", Operation.RESOLVE_ALERT, "Alerts", "resolve all low stock alerts",
            "alerts", runners.run_resolve_alert, replies.alert_change_reply,
            reads=ALERT_FILTER, reference="alert", priority_class=ALERTS),
    Command("generate_report", Operation.GENERATE_REPORT, "Reports", "sales report for last week",
            "reports", runners.run_generate_report, replies.report_reply,
            reads=("report_type",), dates=True, timeout_s=120),
    Command("view_metrics", Operation.VIEW, "Reports", "kpis this month", "turnover",
            runners.run_view_metrics, replies.metrics_reply, dates=True, timeout_s=60),
    Command("daily_digest", Operation.VIEW, "Reports", "daily digest", "coverage",
            runners.run_daily_digest, replies.digest_reply, timeout_s=60),
    Command("check_supplier", Operation.VIEW, "Suppliers", "contact for Acme Supply",
            "lead_time", runners.run_check_supplier, replies.suppliers_reply,
            reads=("supplier", "sku", "product"), reference="supplier"),
    Command("supplier_performance", Operation.VIEW, "Suppliers",
            "supplier performance last quarter", "fill_rate", runners.run_supplier_performance,
            replies.performance_reply, reads=("supplier",), dates=True, timeout_s=60),
    Command("run_agent", Operation.RUN_AGENT, "Agents", "run the inventory monitor", "alerts",
            None, None, reads=("agent_type",)),
    Command("stop_agent", Operation.STOP_AGENT, "Agents", "stop the alert generator", "alerts",
            None, None, reads=("agent_type",)),
    Command("agent_status", Operation.VIEW, "Agents", "agent status", "alerts", None, None),
)  # fmt: skip
BY_INTENT = {command.intent: command for command in COMMANDS}


@dataclass(frozen=True)
class Monitor:
    """A recurring agent ``run_agent`` starts; its results are pushed like a command's."""

    agent_type: str
    run: Runner
    reply: ReplyBuilder
    timeout_s: float


MONITORS: tuple[Monitor, ...] = (
    # A stock and delivery scan that raises and clears alerts.
    Monitor("inventory_monitor", runners.run_scan_alerts, replies.scan_reply, 120),
    Monitor("alert_generator", runners.run_scan_alerts, replies.scan_reply, 120),
    Monitor("report_generator", runners.run_recurring_report, replies.report_reply, 300),
)
MONITOR_BY_TYPE = {monitor.agent_type: monitor for monitor in MONITORS}


def reply_to(key: str, result: Mapping[str, Any]) -> Reply:
    """The reply for a finished execution of command or monitor ``key``."""
    command = BY_INTENT.get(key)
    build = command.reply if command is not None else MONITOR_BY_TYPE[key].reply
    return replies.reply_for(key, result, build)


def commands_for(role: Role | str) -> list[Command]:
    """The commands ``role`` may run, in help order."""
    return [command for command in COMMANDS if allowed(Role(role), command.operation)]


def help_lines(role: Role | str) -> dict[str, str]:
    """The help list for ``role``: markdown by area, a one-line version and command codes."""
    allowed_commands = commands_for(role)
    areas: dict[str, list[str]] = {}
    for command in allowed_commands:
        areas.setdefault(command.area, []).append(f'"{command.example}"')
    return {
        "commands": "\n".join(
            f"- **{area}**: {', '.join(examples)}" for area, examples in areas.items()
        )
        + '\n- **Style**: "be brief", "switch to navigator mode"',
        "commands_compact": " · ".join(
            f"{area}: {examples[0].strip(chr(34))}" for area, examples in areas.items()
        ),
        "commands_codes": ",".join(command.intent.upper() for command in allowed_commands),
        "role": Role(role).value,
        "role_code": Role(role).value.upper(),
    }
