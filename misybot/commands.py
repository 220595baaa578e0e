"""The command set: which agent answers each command, what it needs and who may run it.

The design's agent mapping as one table. Actions read it to enqueue the right agent, check the
role before anything runs, build the help list a role sees, and pick what LEARN explains next.
"""

from __future__ import annotations

from dataclasses import dataclass

from misybot.enums import Role
from misybot.permissions import Operation, allowed


@dataclass(frozen=True)
class Command:
    intent: str
    agent_type: str  # the orchestrator's agent type (misybot.orchestrator.registry)
    operation: Operation  # what the role must be allowed to do
    area: str
    example: str
    topic: str  # what LEARN explains after this command's answer


COMMANDS: tuple[Command, ...] = (
    Command(
        "check_inventory",
        "check_inventory",
        Operation.VIEW,
        "Stock",
        "how many WID-220 in Lisbon?",
        "reorder_point",
    ),
    Command(
        "update_stock",
        "update_stock",
        Operation.UPDATE_STOCK,
        "Stock",
        "received 200 WID-220 in Lisbon",
        "stock_movements",
    ),
    Command(
        "reorder_stock",
        "reorder_stock",
        Operation.REORDER,
        "Stock",
        "reorder blue widgets",
        "lead_time",
    ),
    Command(
        "view_alerts", "view_alerts", Operation.VIEW, "Alerts", "show critical alerts", "alerts"
    ),
    Command(
        "acknowledge_alert",
        "acknowledge_alert",
        Operation.ACKNOWLEDGE_ALERT,
        "Alerts",
        "ack 1042",
        "alerts",
    ),
    Command(
        "resolve_alert",
        "resolve_alert",
        Operation.RESOLVE_ALERT,
        "Alerts",
        "resolve all low stock alerts",
        "alerts",
    ),
    Command(
        "generate_report",
        "generate_report",
        Operation.GENERATE_REPORT,
        "Reports",
        "sales report for last week",
        "reports",
    ),
    Command(
        "view_metrics", "view_metrics", Operation.VIEW, "Reports", "kpis this month", "turnover"
    ),
    Command("daily_digest", "daily_digest", Operation.VIEW, "Reports", "daily digest", "coverage"),
    Command(
        "check_supplier",
        "check_supplier",
        Operation.VIEW,
        "Suppliers",
        "contact for Acme Supply",
        "lead_time",
    ),
    Command(
        "supplier_performance",
        "supplier_performance",
        Operation.VIEW,
        "Suppliers",
        "supplier performance last quarter",
        "fill_rate",
    ),
    Command("run_agent", "", Operation.RUN_AGENT, "Agents", "run the inventory monitor", "alerts"),
    Command("stop_agent", "", Operation.STOP_AGENT, "Agents", "stop the alert generator", "alerts"),
    Command("agent_status", "", Operation.VIEW, "Agents", "agent status", "alerts"),
)
BY_INTENT = {command.intent: command for command in COMMANDS}
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
