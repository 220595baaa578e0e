"""The trained assistant end to end: NLU output, normalised entities and multi-turn flows."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from connectors.local import conversation_id, local_turn
from misybot.db.engine import create_db_engine
from misybot.db.session import make_session_factory, session_scope
from misybot.enums import Role
from testkit.database import Builder

pytestmark = pytest.mark.rasa_model

# Demo users as local senders ("~…" keeps each test's conversation apart).
ANA = "ana.ribeiro@misy-demo.example"  # admin, navigator persona
JOAO = "joao.pereira@misy-demo.example"  # viewer, spring persona


def _entities(parsed: dict, kind: str) -> list[dict]:
    return [entity for entity in parsed["entities"] if entity["entity"] == kind]


async def test_inventory_question_is_understood_with_its_sku(agent):
    parsed = await agent.parse_message("how many WID-220 do we have")
    assert parsed["intent"]["name"] == "check_inventory"
    assert [e["value"] for e in _entities(parsed, "sku")] == ["WID-220"]


async def test_a_locations_stock_is_asked_for_by_its_name(agent):
    parsed = await agent.parse_message("what's stored in Porto?")
    assert parsed["intent"]["name"] == "check_location"
    assert [e["value"].lower() for e in _entities(parsed, "location")] == ["porto"]
    replies = await local_turn(agent, f"{JOAO}~location", "what's stored in Porto?")
    assert replies[0]["text"].startswith("**Porto** has ")  # Joao's voice is spring's


async def test_lower_case_sku_and_worded_quantity_are_normalised(agent):
    parsed = await agent.parse_message("reorder a dozen wid-305 from acme")
    assert parsed["intent"]["name"] == "reorder_stock"
    assert [e["value"] for e in _entities(parsed, "sku")] == ["WID-305"]
    assert [e["value"] for e in _entities(parsed, "quantity")] == [12]


async def test_date_range_carries_concrete_dates_at_the_message_time(agent):
    from rasa.core.channels import UserMessage

    sent = "2026-03-11T09:30:00+00:00"  # a Wednesday
    message = UserMessage("sales report for last week", metadata={"received_at": sent})
    parsed = await agent.processor.parse_message(message)
    assert parsed["intent"]["name"] == "generate_report"
    (date_range,) = _entities(parsed, "date_range")
    monday = date(2026, 3, 11) - timedelta(days=date(2026, 3, 11).weekday())
    assert date_range["value"] == "last week"
    assert date_range["start_date"] == (monday - timedelta(days=7)).isoformat()
    assert date_range["end_date"] == (monday - timedelta(days=1)).isoformat()


async def test_gibberish_falls_back_to_the_unknown_command_help(agent):
    replies = await local_turn(agent, "fallback-user", "qwzx plorf vvv")
    texts = " ".join(reply.get("text", "") for reply in replies)
    assert "didn't understand" in texts or "outside what I can help with" in texts


async def test_missing_product_is_asked_for_and_the_answer_completes_the_command(agent):
    sender = f"{ANA}~form"
    first = await local_turn(agent, sender, "check stock pls")
    assert [r.get("text") for r in first] == [
        "Which product should I look at? Send the SKU (for example WID-220) or the product name,"
        " and a location if you want one site only."
    ]
    second = await local_turn(agent, sender, "WID-220")
    # The worker ran the inventory monitor within the inline deadline: the stock itself, in
    # Ana's navigator voice (analysis and next actions; Rasa sends each paragraph apart).
    reply = "\n\n".join(r["text"] for r in second)
    assert reply.startswith("**WID-220 — blue widgets**")
    assert "**Analysis**" in reply and "Lisbon" in reply and "**Next actions**" in reply


async def test_a_command_does_not_inherit_the_previous_commands_product(agent):
    sender = f"{ANA}~no-leak"
    await local_turn(agent, sender, "how many WID-220 in Lisbon")
    replies = await local_turn(agent, sender, "check stock")
    assert replies[0]["text"].startswith("Which product should I look at?")


async def test_report_form_asks_for_type_with_buttons_then_period(agent):
    sender = f"{ANA}~report"
    first = await local_turn(agent, sender, "i need a report")
    assert [button["title"] for button in first[0]["buttons"]] == [
        "Inventory",
        "Sales",
        "Supplier",
        "Financial",
    ]
    second = await local_turn(agent, sender, first[0]["buttons"][1]["payload"])
    assert second[0]["text"].startswith("Which period? For example today")
    third = await local_turn(agent, sender, "last month")
    assert third[0]["text"].startswith("📊 Your **sales report** for")


async def test_cancel_stops_a_form(agent):
    sender = f"{ANA}~cancel"
    await local_turn(agent, sender, "update stock")
    replies = await local_turn(agent, sender, "cancel")
    assert [r["text"] for r in replies] == ["OK, I've cancelled that request. Nothing was changed."]
    tracker = await agent.tracker_store.retrieve(conversation_id(sender))
    assert tracker.active_loop_name is None


async def test_persona_switch_is_confirmed_in_the_new_voice_and_kept(agent):
    sender = f"{JOAO}~persona"
    before = await local_turn(agent, sender, "hello")
    assert "🌱" in before[0]["text"]  # Joao's profile says spring
    replies = await local_turn(agent, sender, "switch to processor mode")
    assert replies[0]["text"] == "PERSONA: PROCESSOR\nSTATUS: OK"
    tracker = await agent.tracker_store.retrieve(conversation_id(sender))
    assert tracker.get_slot("persona") == "processor"
    # Kept on the profile: a new conversation of the same user starts in the new voice.
    again = await local_turn(agent, f"{JOAO}~persona-later", "hi")
    assert again[0]["text"] == "STATUS: READY\nCOMMANDS: help"
    await local_turn(agent, sender, "switch to spring mode")


async def test_an_unregistered_sender_is_told_how_to_register(agent):
    replies = await local_turn(agent, "visitor@elsewhere.example", "how many WID-220 in Lisbon")
    assert "not registered" in replies[0]["text"]
    assert "visitor@elsewhere.example" in replies[0]["text"]


CATALOGUE = Path(__file__).resolve().parent / "nlu" / "unseen_company"


async def test_a_new_companys_catalogue_is_understood_without_retraining(agent, demo_database_url):
    """A customer's own catalogue, imported through the CLI after training: its products are
    entities for its users only."""
    env = {**os.environ, "MISYBOT_DATABASE_URL": demo_database_url}
    misybot = str(Path(sys.executable).with_name("misybot"))

    def cli(*args: str) -> None:
        done = subprocess.run([misybot, *args], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr

    cli("company", "create", "tidewater", "--name", "Tidewater Provisions",
        "--location=Gdansk:GDN", "--location=Poznan:POZ", "--location=Wroclaw:WRO")  # fmt: skip
    for kind in ("suppliers", "products", "stock"):
        cli("import", kind, str(CATALOGUE / f"{kind}.csv"), "--company", "tidewater")
    engine = create_db_engine(demo_database_url)
    immediate = engine.execution_options(sqlite_begin="BEGIN IMMEDIATE")  # the worker writes too
    with session_scope(make_session_factory(immediate)) as session:
        tidewater = Builder(session, "tidewater")
        tidewater.user("Kasia Nowak", Role.OPERATOR, "kasia@tidewater.example")
    engine.dispose()

    question = "how many croissants do we have in gdansk?"
    replies = await local_turn(agent, "kasia@tidewater.example~catalogue", question)
    answer = "\n".join(reply.get("text") or "" for reply in replies)
    assert answer.startswith("**CRS-12 — butter croissants**") and "Gdansk" in answer
    replies = await local_turn(agent, f"{ANA}~catalogue", question)
    answer = "\n".join(reply.get("text") or "" for reply in replies)
    assert "CRS-12" not in answer and "couldn't find a product" in answer, answer

    # A product the company does not have: the command, answered with the close ones.
    question = "how many almond croissants do we have in gdansk?"
    replies = await local_turn(agent, "kasia@tidewater.example~unknown", question)
    answer = "\n".join(reply.get("text") or "" for reply in replies)
    assert 'couldn\'t find a product "almond croissants"' in answer, answer
    assert "butter croissants" in answer
