"""Every command action against the seeded store and a real worker, read in every voice."""

from __future__ import annotations

import re

import pytest
from chat import (
    ANA,
    JOAO,
    LUCIA,
    MARTA,
    PERSONAS,
    PRIYA,
    TIAGO,
    render,
    run_action,
    texts,
    tracker,
)
from sqlalchemy import func, select

from actions.commands import (
    COMMAND_ACTIONS,
    ActionFollowUp,
    ActionHelp,
    ActionLearnMore,
    ActionScheduleReport,
    ActionShareReport,
)
from actions.people import ActionSessionStart, ActionSetPersona
from misybot.db.models import AgentExecution, PurchaseOrder, User
from misybot.db.session import session_scope

# One action class per row of the command table (misybot/commands.py).
ActionAcknowledgeAlert = COMMAND_ACTIONS["acknowledge_alert"]
ActionAgentStatus = COMMAND_ACTIONS["agent_status"]
ActionCheckInventory = COMMAND_ACTIONS["check_inventory"]
ActionCheckLocation = COMMAND_ACTIONS["check_location"]
ActionCheckSupplier = COMMAND_ACTIONS["check_supplier"]
ActionDailyDigest = COMMAND_ACTIONS["daily_digest"]
ActionGenerateReport = COMMAND_ACTIONS["generate_report"]
ActionReorderStock = COMMAND_ACTIONS["reorder_stock"]
ActionResolveAlert = COMMAND_ACTIONS["resolve_alert"]
ActionRunAgent = COMMAND_ACTIONS["run_agent"]
ActionStopAgent = COMMAND_ACTIONS["stop_agent"]
ActionSupplierPerformance = COMMAND_ACTIONS["supplier_performance"]
ActionUpdateStock = COMMAND_ACTIONS["update_stock"]
ActionViewAlerts = COMMAND_ACTIONS["view_alerts"]
ActionViewMetrics = COMMAND_ACTIONS["view_metrics"]

pytestmark = pytest.mark.usefixtures("store")
KEY_VALUE = re.compile(r"^[A-Z][A-Z0-9_-]*: .*$")


def slot_events(events: list) -> dict:
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


async def every_voice(domain, messages) -> dict[str | None, str]:
    """The messages in each persona and the default; none may leave a placeholder unfilled."""
    voices = {}
    for persona in (*PERSONAS, None):
        text = await texts(domain, messages, persona)
        assert text.strip(), persona
        assert not re.search(r"\{[a-z_]+\}", text), (persona, text)
        voices[persona] = text
    assert len(set(voices.values())) == len(voices), "each voice reads differently"
    assert len(voices["streamliner"].splitlines()) <= 3, voices["streamliner"]
    return voices


def assert_machine_readable(text: str) -> dict[str, str]:
    lines = text.splitlines()
    assert lines and all(KEY_VALUE.match(line) for line in lines), text
    return dict(line.split(": ", 1) for line in lines)


async def test_inventory_check_in_every_voice(domain):
    messages, events = await run_action(
        ActionCheckInventory(),
        tracker(TIAGO, "check_inventory", {"sku": "WID-220"}, text="stock WID-220"),
    )
    assert [m["response"] for m in messages] == ["utter_inventory_status"]
    voices = await every_voice(domain, messages)
    assert len(voices["streamliner"].splitlines()) <= 3 and "WID-220" in voices["streamliner"]
    assert all(site in voices["hub"] for site in ("Lisbon", "Porto", "Madrid"))
    assert "Network total" in voices["hub"]
    assert "Reorder point" in voices["navigator"] and "Next actions" in voices["navigator"]
    assert "Did you know?" in voices["spring"] and "LEARN" in voices["spring"]
    fields = assert_machine_readable(voices["processor"])
    assert fields["SKU"] == "WID-220" and fields["REORDER_STATUS"] in {"REQUIRED", "NOT_REQUIRED"}
    assert float(fields["QUERY_MS"]) >= 0
    # LEARN after it explains the reorder point; the entity slot is cleared for the next command.
    assert slot_events(events)["topic"] == "reorder_point" and slot_events(events)["sku"] is None
    lesson, _ = await run_action(
        ActionLearnMore(), tracker(JOAO, "learn_more", {"topic": "reorder_point"})
    )
    assert "reorder point" in (await render(domain, lesson[0], "spring"))["text"].lower()


@pytest.mark.parametrize(
    ("action", "sender", "slots", "text", "response", "fact"),
    [
        (ActionViewAlerts, TIAGO, {}, "show alerts", "utter_alerts_list", "#"),
        (
            ActionCheckLocation,
            JOAO,
            {"location": "Porto"},
            "what's stored in Porto?",
            "utter_location_stock",
            "Porto",
        ),
        (
            ActionGenerateReport,
            ANA,
            {"report_type": "sales"},
            "sales report",
            "utter_report_ready",
            "sales",
        ),
        (ActionViewMetrics, PRIYA, {}, "kpis", "utter_metrics", "turnover"),
        (ActionDailyDigest, MARTA, {}, "daily digest", "utter_daily_digest", "DRL-680"),
        (
            ActionCheckSupplier,
            LUCIA,
            {"supplier": "Acme Supply"},
            "acme contact",
            "utter_supplier_info",
            "Acme Supply",
        ),
        (
            ActionSupplierPerformance,
            JOAO,
            {},
            "supplier performance",
            "utter_supplier_performance",
            "Globex",
        ),
        (
            ActionReorderStock,
            MARTA,
            {"sku": "WID-221"},
            "reorder WID-221",
            "utter_reorder_created",
            "WID-221",
        ),
        (
            ActionUpdateStock,
            TIAGO,
            {"sku": "WID-230", "quantity": 20, "location": "Lisbon"},
            "received 20 WID-230 in Lisbon",
            "utter_stock_updated",
            "+20",
        ),
    ],
)
async def test_each_command_answers_with_its_facts_in_every_voice(
    domain, action, sender, slots, text, response, fact
):
    messages, _ = await run_action(action(), tracker(sender, action.command, slots, text=text))
    assert messages[0]["response"] == response
    files = messages[1:]  # a report's chart and CSV follow as media, by signed links
    if response == "utter_report_ready":
        assert [bool(m.get("image")) for m in files] == [True, False]
        assert ".png?expires=" in files[0]["image"] and ".csv?" in files[1]["attachment"]
        assert all("/files/" in (m.get("image") or m.get("attachment")) for m in files)
    else:
        assert files == []
    voices = await every_voice(domain, messages[:1])
    assert fact.lower() in voices["navigator"].lower(), voices["navigator"]
    assert_machine_readable(voices["processor"])


async def test_stock_words_decide_the_direction_of_a_change(domain):
    sold, _ = await run_action(
        ActionUpdateStock(),
        tracker(
            TIAGO,
            "update_stock",
            {"sku": "WID-230", "quantity": 5, "location": "Porto"},
            text="sold 5 WID-230 in porto",
        ),
    )
    counted, _ = await run_action(
        ActionUpdateStock(),
        tracker(
            TIAGO,
            "update_stock",
            {"sku": "WID-230", "quantity": 40, "location": "Porto"},
            text="counted 40 WID-230 in porto",
        ),
    )
    assert sold[0]["change"] == "-5" and sold[0]["kind"] == "sale"
    assert counted[0]["new"] == "40" and counted[0]["kind"] == "adjustment"


async def test_alert_details_then_acknowledge_and_resolve_it(domain):
    listed, _ = await run_action(ActionViewAlerts(), tracker(MARTA, "view_alerts", text="alerts"))
    alert_id = str(listed[0]["first_id"])
    detail, _ = await run_action(
        ActionViewAlerts(),
        tracker(MARTA, "view_alerts", {"alert_id": alert_id}, text=f"#{alert_id}"),
    )
    assert detail[0]["response"] == "utter_alert_detail"
    assert {b["title"] for b in detail[0]["buttons"]} == {
        f"Ack #{alert_id}",
        f"Resolve #{alert_id}",
    }
    acked, _ = await run_action(
        ActionAcknowledgeAlert(),
        tracker(MARTA, "acknowledge_alert", {"alert_ref": alert_id}, text=f"ack {alert_id}"),
    )
    assert acked[0]["response"] == "utter_alerts_changed" and acked[0]["ids"] == f"#{alert_id}"
    resolved, _ = await run_action(
        ActionResolveAlert(),
        tracker(PRIYA, "resolve_alert", {"alert_id": alert_id}, text=f"resolve {alert_id}"),
    )
    assert resolved[0]["action"] == "resolved"
    fields = assert_machine_readable(await texts(domain, resolved, "processor"))
    assert fields["ACTION"] == "RESOLVED" and fields["IDS"] == f"#{alert_id}"
    # Acknowledging a resolved alert is a conflict the user reads, not a crash.
    again, _ = await run_action(
        ActionAcknowledgeAlert(),
        tracker(MARTA, "acknowledge_alert", {"alert_ref": alert_id}, text="ack"),
    )
    assert again[0]["response"] == "utter_conflict"
    await every_voice(domain, again)


async def test_a_viewer_asking_to_reorder_gets_the_permission_answer_and_no_order(domain):
    with session_scope() as session:
        orders_before = session.execute(select(func.count(PurchaseOrder.id))).scalar_one()
        runs_before = session.execute(select(func.count(AgentExecution.id))).scalar_one()
    messages, _ = await run_action(
        ActionReorderStock(),
        tracker(LUCIA, "reorder_stock", {"sku": "WID-220"}, text="reorder WID-220"),
    )
    assert [m["response"] for m in messages] == ["utter_permission_denied"]
    voices = await every_voice(domain, messages)
    assert "viewer" in voices["navigator"] and "operator" in voices["navigator"]
    assert assert_machine_readable(voices["processor"])["ERROR"] == "PERMISSION_DENIED"
    with session_scope() as session:
        assert session.execute(select(func.count(PurchaseOrder.id))).scalar_one() == orders_before
        assert session.execute(select(func.count(AgentExecution.id))).scalar_one() == runs_before


async def test_unknown_product_suggests_and_yes_takes_the_first_suggestion(domain):
    messages, events = await run_action(
        ActionCheckInventory(),
        tracker(MARTA, "check_inventory", {"sku": "WID-22"}, text="stock WID-22"),
    )
    assert messages[0]["response"] == "utter_not_found_suggestions"
    assert "WID-220" in messages[0]["suggestions"]
    await every_voice(domain, messages)
    offered = slot_events(events)["follow_up"]
    assert offered.startswith('/check_inventory{"sku": "WID-2')
    answered, _ = await run_action(
        ActionFollowUp(), tracker(MARTA, "affirm", {"follow_up": offered}, text="yes")
    )
    assert answered[0]["response"] == "utter_inventory_status"
    nothing, _ = await run_action(ActionFollowUp(), tracker(MARTA, "affirm", text="yes"))
    assert nothing[0]["response"] == "utter_nothing_pending"


async def test_an_unregistered_sender_reaches_no_data(domain):
    with session_scope() as session:
        runs_before = session.execute(select(func.count(AgentExecution.id))).scalar_one()
    stranger = "+15550001111"
    for action in (ActionCheckInventory(), ActionViewAlerts(), ActionHelp(), ActionAgentStatus()):
        messages, _ = await run_action(
            action, tracker(stranger, "check_inventory", {"sku": "WID-220"}, text="x")
        )
        assert [m["response"] for m in messages] == ["utter_not_registered"]
        assert stranger in (await render(domain, messages[0], None))["text"]
    # A provider channel's sender is looked up as that channel's identity only.
    twilio = tracker(
        "whatsapp:+15550001111", "view_alerts", text="alerts", channel="whatsapp_twilio"
    )
    messages, _ = await run_action(ActionViewAlerts(), twilio)
    assert "+15550001111" in (await render(domain, messages[0], None))["text"]
    with session_scope() as session:
        assert session.execute(select(func.count(AgentExecution.id))).scalar_one() == runs_before


async def test_a_registered_whatsapp_number_is_recognised():
    twilio = tracker(
        "whatsapp:+351910000004", "check_inventory", {"sku": "WID-220"}, channel="whatsapp_twilio"
    )
    messages, events = await run_action(ActionCheckInventory(), twilio)
    assert messages[0]["response"] == "utter_inventory_status"
    assert slot_events(events)["persona"] == "hub" and slot_events(events)["role"] == "operator"


async def test_session_start_fills_the_profile_slots():
    _, events = await run_action(ActionSessionStart(), tracker(PRIYA, "greet"))
    slots = slot_events(events)
    assert (slots["persona"], slots["role"], slots["user_name"]) == (
        "processor",
        "operator",
        "Priya Nair",
    )
    assert events[0]["event"] == "session_started" and events[-1]["name"] == "action_listen"
    _, events = await run_action(
        ActionSessionStart(), tracker("nobody@example.com", "greet", {"persona": "hub"})
    )
    assert slot_events(events)["persona"] is None and slot_events(events)["user_id"] is None


async def test_help_lists_only_what_the_role_allows(domain):
    viewer, _ = await run_action(ActionHelp(), tracker(LUCIA, "help"))
    admin, _ = await run_action(ActionHelp(), tracker(ANA, "help"))
    viewer_text = await texts(domain, viewer, "navigator")
    admin_text = await texts(domain, admin, "navigator")
    assert "reorder" not in viewer_text and "ack 1042" not in viewer_text
    assert "reorder blue widgets" in admin_text and "run the inventory monitor" in admin_text
    codes = assert_machine_readable(await texts(domain, viewer, "processor"))["COMMANDS"]
    assert "REORDER_STOCK" not in codes and "CHECK_INVENTORY" in codes
    await every_voice(domain, admin)


async def test_set_persona_is_kept_on_the_profile(domain):
    conversation = tracker(
        JOAO,
        "set_persona",
        {"persona": "processor"},
        entities=[{"entity": "persona", "value": "processor"}],
        text="machine readable please",
    )
    messages, events = await run_action(ActionSetPersona(), conversation)
    assert slot_events(events)["persona"] == "processor"
    assert (await render(domain, messages[0], "processor"))["text"].startswith("PERSONA: PROCESSOR")
    with session_scope() as session:
        assert (
            session.execute(select(User.persona).where(User.email == JOAO)).scalar_one().value
            == "processor"
        )
    await run_action(
        ActionSetPersona(),
        tracker(
            JOAO,
            "set_persona",
            {"persona": "spring"},
            entities=[{"entity": "persona", "value": "spring"}],
        ),
    )


async def test_agents_run_report_status_and_stop(domain):
    started, _ = await run_action(
        ActionRunAgent(),
        tracker(ANA, "run_agent", {"agent_type": "inventory_monitor"}, text="run monitor"),
    )
    assert started[0]["response"] == "utter_agent_scheduled"
    assert started[0]["every"] == "15 minutes"  # MISYBOT_RECURRING_INTERVAL_S's default
    await every_voice(domain, started)
    status, _ = await run_action(ActionAgentStatus(), tracker(ANA, "agent_status", text="status"))
    assert status[0]["response"] in {"utter_agent_status", "utter_agents_idle"}
    await every_voice(domain, status)
    stopped, _ = await run_action(
        ActionStopAgent(),
        tracker(ANA, "stop_agent", {"agent_type": "inventory_monitor"}, text="stop"),
    )
    assert (
        stopped[0]["response"] == "utter_agents_stopped"
        and "recurring" in stopped[0]["schedule_note"]
    )
    denied, _ = await run_action(
        ActionRunAgent(),
        tracker(JOAO, "run_agent", {"agent_type": "inventory_monitor"}, text="run"),
    )
    assert denied[0]["response"] == "utter_permission_denied"


async def test_a_command_missing_what_its_agent_needs_is_answered_not_crashed(domain):
    # Forms ask for the product and the quantity first (tests/test_assistant.py); an action
    # reached without them (a follow-up payload, a pushed run) gets the agent's reason.
    messages, _ = await run_action(
        ActionUpdateStock(), tracker(TIAGO, "update_stock", {"sku": "WID-230"}, text="WID-230")
    )
    assert messages[0]["response"] == "utter_invalid_input"
    assert messages[0]["field"] == "quantity"
    voices = await every_voice(domain, messages)
    assert "Nothing was changed" in voices["navigator"]
    assert assert_machine_readable(voices["processor"])["FIELD"] == "quantity"
    nothing, _ = await run_action(ActionCheckInventory(), tracker(MARTA, "check_inventory"))
    assert nothing[0]["response"] == "utter_invalid_input" and nothing[0]["field"] == "product"


async def test_a_report_s_share_and_schedule_follow_ups(domain):
    made, events = await run_action(
        ActionGenerateReport(),
        tracker(ANA, "generate_report", {"report_type": "inventory"}, text="inventory report"),
    )
    report_id = slot_events(events)["report_id"]
    assert made[0]["buttons"][0]["payload"] == f'/share_report{{"report_id": "{report_id}"}}'
    # "share it": the report this conversation produced (its slot), files ready to forward.
    shared, _ = await run_action(
        ActionShareReport(), tracker(ANA, "share_report", {"report_id": report_id}, text="share it")
    )
    assert shared[0]["response"] == "utter_report_shared"
    assert shared[0]["csv_file"].endswith(".csv") and shared[0]["report_id"] == int(report_id)
    assert "/" not in shared[0]["csv_file"]  # a name, not a path on the server's disk
    assert ".png?" in shared[1]["image"] and ".csv?" in shared[2]["attachment"]
    await every_voice(domain, shared[:1])
    unknown, _ = await run_action(
        ActionShareReport(), tracker(ANA, "share_report", {"report_id": "999999"}, text="share")
    )
    assert unknown[0]["response"] == "utter_share_unavailable"
    scheduled, _ = await run_action(
        ActionScheduleReport(), tracker(ANA, "schedule_report", text="schedule it weekly")
    )
    assert scheduled[0]["response"] == "utter_agent_scheduled"
    assert scheduled[0]["agent"] == "report generator" and scheduled[0]["every"] == "week"
    stopped, _ = await run_action(
        ActionStopAgent(),
        tracker(ANA, "stop_agent", {"agent_type": "report_generator"}, text="stop reports"),
    )
    assert stopped[0]["schedule_note"]
    stranger, _ = await run_action(
        ActionShareReport(), tracker("+15550009999", "share_report", {"report_id": report_id})
    )
    assert stranger[0]["response"] == "utter_not_registered"


async def test_chat_commands_queue_at_the_designs_priorities():
    """Inventory commands like the inventory monitor (8), alert commands like the alert
    generator (9), the rest at the default (5); a streamliner's first of all (10)."""

    async def priority_of(action, sender, intent, slots, text) -> int:
        await run_action(action(), tracker(sender, intent, slots, text=text))
        with session_scope() as session:
            return session.execute(
                select(AgentExecution.priority).order_by(AgentExecution.id.desc()).limit(1)
            ).scalar_one()

    stock = {"sku": "WID-220"}
    assert await priority_of(ActionCheckInventory, TIAGO, "check_inventory", stock, "WID-220") == 8
    assert await priority_of(ActionViewAlerts, TIAGO, "view_alerts", {}, "alerts") == 9
    assert await priority_of(ActionViewMetrics, TIAGO, "view_metrics", {}, "kpis this month") == 5
    assert await priority_of(ActionViewAlerts, MARTA, "view_alerts", {}, "alerts") == 10
