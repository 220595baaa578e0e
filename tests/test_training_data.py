"""The training and test data honour the NLU contract (names, sizes, held-out separation)."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from domain_files import load_domain  # noqa: E402
from nlu_overlap import examples, overlap  # noqa: E402

CONTRACT_INTENTS = {
    "check_inventory", "check_location", "reorder_stock", "update_stock", "view_alerts",
    "acknowledge_alert",
    "resolve_alert", "generate_report", "view_metrics", "daily_digest", "check_supplier",
    "supplier_performance", "run_agent", "stop_agent", "agent_status", "help", "greet", "goodbye",
    "affirm", "deny", "thank", "bot_challenge", "set_persona", "out_of_scope",
}  # fmt: skip
# Follow-ups the replies advertise (LEARN, a report's Share / Schedule).
FOLLOW_UP_INTENTS = {"learn_more", "share_report", "schedule_report"}
# Told without asking: subscriptions and quiet hours (issue 19).
NOTIFICATION_INTENTS = {"subscribe_alerts", "subscribe_digest", "unsubscribe", "set_quiet_hours"}
CONTRACT_ENTITIES = {
    "sku", "product", "quantity", "location", "supplier", "report_type", "date_range", "severity",
    "category", "alert_id", "agent_type", "persona",
}  # fmt: skip


def _training_counts() -> Counter:
    return Counter(
        intent for path in (ROOT / "data" / "nlu").glob("*.yml") for _, intent in examples(path)
    )


# Set by the orchestrator through trigger_intent, or by the channel runtime (how an invitation
# code went), never predicted from user text.
EXTERNAL_ENTITIES = {"execution_id", "link_outcome", "notification_id"}
FOLLOW_UP_ENTITIES = {"report_id"}
INTENTS = CONTRACT_INTENTS | FOLLOW_UP_INTENTS | NOTIFICATION_INTENTS


def test_domain_declares_exactly_the_contract():
    domain = load_domain(ROOT / "domain")
    user_intents = {name for name in domain["intents"] if not name.startswith("EXTERNAL_")}
    assert user_intents == INTENTS
    assert set(domain["entities"]) - EXTERNAL_ENTITIES - FOLLOW_UP_ENTITIES == CONTRACT_ENTITIES


def test_every_intent_has_at_least_25_training_examples():
    counts = _training_counts()
    assert {intent: counts[intent] for intent in INTENTS if counts[intent] < 25} == {}
    assert set(counts) == INTENTS


def test_held_out_set_has_8_or_more_per_intent_and_none_from_training():
    test_file = ROOT / "tests" / "nlu" / "test_data.yml"
    counts = Counter(intent for _, intent in examples(test_file))
    assert {intent: counts[intent] for intent in INTENTS if counts[intent] < 8} == {}
    assert overlap(ROOT / "data" / "nlu", test_file) == []


def test_every_data_file_has_the_same_version():
    files = [
        *ROOT.glob("data/**/*.yml"),
        *ROOT.glob("domain/**/*.yml"),
        ROOT / "tests" / "test_stories.yml",
    ]
    versions = {path.name: yaml.safe_load(path.read_text()).get("version") for path in files}
    assert set(versions.values()) == {"3.1"}, versions


UNSEEN = ROOT / "tests" / "nlu" / "unseen_company"


def _unseen_names() -> set[str]:
    import csv

    names = {"tidewater", "gdansk", "poznan", "wroclaw"}
    for row in csv.DictReader((UNSEEN / "products.csv").open()):
        names |= {row["sku"].lower(), row["name"].lower()}
        names |= {alias.lower() for alias in row["aliases"].split("|") if alias}
    for row in csv.DictReader((UNSEEN / "suppliers.csv").open()):
        names.add(row["name"].lower())
    return names


def test_the_unseen_companys_names_appear_nowhere_in_the_training_data():
    import re

    training = "\n".join(path.read_text().lower() for path in (ROOT / "data").rglob("*.yml"))
    leaked = sorted(
        name
        for name in _unseen_names()
        if re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", training)
    )
    assert leaked == []


def test_the_unseen_company_set_covers_every_intent_with_200_messages_or_more():
    counts = Counter(
        intent for _, intent in examples(ROOT / "tests" / "nlu" / "unseen_company.yml")
    )
    assert sum(counts.values()) >= 200
    assert {intent: counts[intent] for intent in INTENTS if counts[intent] < 8} == {}
    assert overlap(ROOT / "data" / "nlu", ROOT / "tests" / "nlu" / "unseen_company.yml") == []


PERSONAS = {"streamliner", "navigator", "hub", "spring", "processor"}


def test_every_response_speaks_in_every_voice():
    """Each response has one variation per persona (a condition on the ``persona`` slot) and one
    default for people without a preference."""
    domain = load_domain(ROOT / "domain")
    missing = {}
    for name, variations in domain["responses"].items():
        voices = [v["condition"][0]["value"] for v in variations if v.get("condition")]
        defaults = [v for v in variations if not v.get("condition")]
        if sorted(voices) != sorted(PERSONAS) or len(defaults) != 1:
            missing[name] = (sorted(PERSONAS - set(voices)), len(defaults))
    assert missing == {}
