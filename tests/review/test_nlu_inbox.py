"""The NLU inbox: what the assistant may have misunderstood, per company, masked and
deduplicated; a reviewer's decision turns one into training data with its provenance, and
never contradicts or duplicates an example already there."""

from __future__ import annotations

import json

import pytest
import yaml
from sqlalchemy import select, update

from misybot.cli import main
from misybot.conversations.store import ConversationState, ConversationStore
from misybot.db.models import Understanding
from misybot.db.session import make_session_factory, session_scope
from misybot.enums import Role
from misybot.nlu import review
from testkit.database import DEFAULT_POSTGRES_URL, Builder


def said(store, conversation, message_id, text, intent, confidence, company, runner=0.05):
    event = {
        "event": "user",
        "text": text,
        "message_id": message_id,
        "metadata": {"company_id": company, "transport": "whatsapp_twilio"},
        "parse_data": {
            "intent": {"name": intent, "confidence": confidence},
            "intent_ranking": [
                {"name": intent, "confidence": confidence},
                {"name": "learn_more", "confidence": runner},
            ],
        },
    }
    answer = "action_default_fallback" if intent == "nlu_fallback" else f"action_{intent}"
    store.append(
        conversation,
        [event, {"event": "action", "name": answer}, {"event": "action", "name": "action_listen"}],
        ConversationState({}),
    )


@pytest.fixture
def world(engine, tmp_path):
    sessions = make_session_factory(engine)
    with session_scope(sessions) as session:
        acme, other = Builder(session), Builder(session, "globex")
        admin = acme.user("Ana Silva", Role.ADMIN, phone="+351911111111")
        acme.user("Rui Costa", Role.VIEWER)
        other.user("Eve Other", Role.ADMIN)
        ids = acme.id, other.id, admin.email
    store = ConversationStore(sessions)
    acme_id, other_id, _ = ids
    said(store, "user:1", "m1", "how many WID-220 in Lisbon", "check_inventory", 0.97, acme_id)
    said(store, "user:1", "m2", "do we stil hav the blu ones", "nlu_fallback", 0.31, acme_id)
    said(store, "user:2", "m3", "Do we stil hav the blu ones?", "nlu_fallback", 0.28, acme_id)
    said(store, "user:2", "m4", "call Rui on +351 912 345 678 or rui@acme.example re pumps",
         "check_supplier", 0.52, acme_id)  # fmt: skip
    said(store, "user:1", "m5", "stock for the big pumps", "view_metrics", 0.9, acme_id)
    said(store, "user:1", "m6", "no that's not what I asked", "deny", 0.93, acme_id)
    said(store, "user:1", "m7", "alerts or stock", "view_alerts", 0.55, acme_id, runner=0.5)
    said(store, "user:9", "m8", "do we stil hav the blu ones", "nlu_fallback", 0.3, other_id)
    training = tmp_path / "nlu"
    training.mkdir()
    (training / "existing.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: view_alerts\n  examples: |\n'
        "    - alerts or stock\n- intent: check_inventory\n  examples: |\n"
        "    - how many [WID-220](sku) left\n"
    )
    return sessions, ids, training


def items_of(sessions, company_id):
    with session_scope(sessions) as session:
        return review.inbox(session, company_id)


def test_the_inbox_holds_what_may_be_wrong_masked_and_deduplicated(world):
    sessions, (acme, other, _), _training = world
    items = {item.text: item for item in items_of(sessions, acme)}
    assert "how many WID-220 in Lisbon" not in items  # sure and not corrected
    fallback = items["do we stil hav the blu ones"]
    assert fallback.count == 2 and fallback.reasons == ["fallback"]
    assert fallback.first_seen <= fallback.last_seen
    masked = items["call <person> on <phone> or <email> re pumps"]
    assert masked.reasons == ["low confidence"] and masked.intent == "check_supplier"
    assert items["stock for the big pumps"].reasons == ["corrected by the person"]
    assert "close runner-up" in items["alerts or stock"].reasons
    assert [item.count for item in items_of(sessions, other)] == [1]  # Globex's own only


def test_annotating_adds_a_masked_example_with_its_provenance_once(world):
    sessions, (acme, _other, _), training = world
    target = training / "reviewed.yml"
    item = next(i for i in items_of(sessions, acme) if i.text.startswith("do we stil"))
    with session_scope(sessions) as session:
        outcome = review.annotate(
            session, acme, review.Annotation(item.id, "check_inventory", ((19, 27, "product"),)),
            training, target, "ana@acme.example",
        )  # fmt: skip
    assert outcome.status == "added"
    assert outcome.example == "do we stil hav the [blu ones](product)"
    content = target.read_text()
    assert f"# inbox item {item.id}," in content and "understood as nlu_fallback 0.31" in content
    blocks = yaml.safe_load(content)["nlu"]
    assert blocks == [{"intent": "check_inventory", "examples": f"- {outcome.example}\n"}]
    assert all(not i.text.startswith("do we stil") for i in items_of(sessions, acme))
    assert review.existing_examples(training)["do we stil hav the blu ones"] == "check_inventory"


def test_a_contradicting_example_is_reported_not_added(world):
    sessions, (acme, _other, _), training = world
    item = next(i for i in items_of(sessions, acme) if i.text == "alerts or stock")
    with session_scope(sessions) as session:
        outcome = review.annotate(
            session, acme, review.Annotation(item.id, "check_inventory"), training,
            training / "reviewed.yml", "ana",
        )  # fmt: skip
    assert (outcome.status, outcome.conflicting_intent) == ("contradicts", "view_alerts")
    assert not (training / "reviewed.yml").exists()
    assert any(i.text == "alerts or stock" for i in items_of(sessions, acme))  # still there


def test_bad_entity_spans_are_refused_with_a_reason():
    with pytest.raises(review.MisybotError, match="start:end:type"):
        review.parse_entities(["9-16-sku"], ["sku"])
    with pytest.raises(review.MisybotError, match="unknown entity type"):
        review.parse_entities(["1:4:colour"], ["sku"])
    with pytest.raises(review.MisybotError, match="does not fit"):
        review.annotated_text("short", [(2, 40, "sku")])


def test_the_cli_lists_annotates_discards_and_flags(world, engine, monkeypatch, capsys):
    sessions, (acme, _other, admin_email), training = world
    url = engine.url.render_as_string(False)
    if engine.dialect.name == "postgresql":  # the test schema, as the CLI would be told it
        with engine.connect() as connection:
            schema = connection.exec_driver_sql("SELECT current_schema()").scalar()
        url = f"{DEFAULT_POSTGRES_URL}?options=-csearch_path%3D{schema}"
    monkeypatch.setenv("MISYBOT_DATABASE_URL", url)
    from misybot.settings import get_settings

    get_settings.cache_clear()
    try:
        common = ["--company", "acme", "--admin", admin_email]
        assert main(["nlu", "inbox", *common, "--json"]) == 0
        listed = json.loads(capsys.readouterr().out)
        assert {item["text"] for item in listed} >= {"stock for the big pumps"}
        pumps = next(item["id"] for item in listed if item["text"] == "stock for the big pumps")
        assert main(["nlu", "discard", str(pumps), *common]) == 0
        target = training / "cli.yml"
        blue = next(item["id"] for item in listed if item["text"].startswith("do we stil"))
        assert main(["nlu", "annotate", str(blue), *common, "--intent", "check_inventory",
                     "--training", str(training), "--to", str(target)]) == 0  # fmt: skip
        assert "Added to" in capsys.readouterr().out
        assert main(["nlu", "annotate", str(blue), *common, "--intent", "no_such_intent",
                     "--to", str(target)]) == 1  # fmt: skip
        with session_scope(sessions) as session:
            sure = session.execute(
                select(Understanding.id).where(Understanding.message_id == "m1")
            ).scalar_one()
        assert main(["nlu", "flag", str(sure), *common]) == 0
        capsys.readouterr()
        assert main(["nlu", "inbox", *common, "--json"]) == 0
        texts = {item["text"] for item in json.loads(capsys.readouterr().out)}
        assert "how many WID-220 in Lisbon" in texts and "stock for the big pumps" not in texts
        assert main(["nlu", "inbox", "--company", "globex", "--admin", admin_email]) == 1
    finally:
        get_settings.cache_clear()


def test_an_old_message_drops_out_of_what_the_inbox_reads(world):
    sessions, (acme, _other, _), _training = world
    with session_scope(sessions) as session:
        session.execute(update(Understanding).values(text=""))  # retention blanked them
    assert items_of(sessions, acme) == []
