"""The live catalogue's entities: names found however they are typed, one company's only, and a
new product found without retraining (on SQLite and PostgreSQL)."""

from __future__ import annotations

from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

from components.catalogue_entities import CatalogueEntities, merge
from misybot.db.session import make_session_factory, session_scope
from misybot.nlu.catalogue import (
    Catalogue,
    CatalogueCache,
    catalogue_terms,
    widen_to_unknown_names,
)
from testkit.database import Builder

PRODUCTS = [
    ("ESP-1KG", "espresso roast beans", ["espresso beans"]),
    ("OAT-2L", "barista oat milk", ["oat milk"]),
    ("CRS-12", "butter croissants", None),
    ("BTR-200", "salted butter", ["butter"]),
    ("CUP-8OZ", "paper cups 8oz", None),
    ("CUP-12OZ", "paper cups 12oz", None),
    ("STK-01", "stock pot", None),
    ("GRN-750", "house granola", ["granola"]),
]
SUPPLIERS = ["Baltic Roasters Co", "Mazury Dairy Ltd", "Northern Harvest Supplies"]
LOCATIONS = [("Gdansk", "GDN", "Gdansk"), ("Poznan", "POZ", None)]
CATALOGUE = Catalogue(catalogue_terms(PRODUCTS, SUPPLIERS, LOCATIONS))


def found(text: str) -> list[tuple[str, str, str, str]]:
    return [(text[f.start : f.end], f.entity, f.value, f.how) for f in CATALOGUE.find(text)]


def test_names_are_found_whatever_their_case_plural_or_punctuation():
    assert found("how many Croissant left in GDANSK?") == [
        ("Croissant", "product", "butter croissants", "partial"),
        ("GDANSK", "location", "Gdansk", "exact"),
    ]
    assert found("order 40 Barista-Oat-Milks from mazury") == [
        ("Barista-Oat-Milks", "product", "barista oat milk", "exact"),
        ("mazury", "supplier", "Mazury Dairy Ltd", "partial"),
    ]
    assert found("stock of esp-1kg at POZ") == [
        ("esp-1kg", "sku", "ESP-1KG", "exact"),
        ("POZ", "location", "Poznan", "exact"),
    ]


def test_an_alias_a_typo_and_a_distinctive_part_name_the_product():
    assert found("running low on the oat milk") == [
        ("oat milk", "product", "barista oat milk", "exact")
    ]
    assert found("restock expresso roast beans asap") == [
        ("expresso roast beans", "product", "espresso roast beans", "fuzzy")
    ]
    assert found("contact for baltic roasters") == [
        ("baltic roasters", "supplier", "Baltic Roasters Co", "partial")
    ]


def test_the_longest_name_wins_and_a_product_sku_comes_with_it():
    (butter,) = CATALOGUE.find("salted butter please")
    assert (butter.value, butter.sku) == ("salted butter", "BTR-200")
    assert [f.value for f in CATALOGUE.find("butter croissants and butter")] == [
        "butter croissants",
        "salted butter",
    ]


def test_command_words_and_shared_words_name_nothing_alone():
    # "stock" is command vocabulary, "cups" is in two products, "supplies" names a kind of firm.
    assert found("check stock pls") == []
    assert found("need more cups") == []
    assert found("who supplies our stuff") == []
    assert found("stock pot") == [("stock pot", "product", "stock pot", "exact")]


def test_a_catalogue_match_replaces_what_diet_found_there_and_keeps_the_rest():
    text = "reorder oat milk and matcha powder"
    diet = [
        {"entity": "supplier", "start": 8, "end": 16, "value": "oat milk"},  # wrong kind
        {"entity": "product", "start": 21, "end": 34, "value": "matcha powder"},  # not ours
    ]
    merged = merge(diet, CATALOGUE.find(text), text)
    assert [(m["entity"], m["value"], m.get("sku")) for m in merged] == [
        ("product", "barista oat milk", "OAT-2L"),
        ("product", "matcha powder", None),
    ]
    assert merged[0]["extractor"] == "CatalogueEntities"


def test_a_part_of_a_name_does_not_stand_for_a_longer_name_diet_found():
    # "almond croissants" is not on the list: looked up whole, so the answer offers the butter
    # ones instead of silently reporting them; "the croissants" are the butter ones.
    text = "how many almond croissants left"
    diet = [{"entity": "product", "start": 9, "end": 26, "value": "almond croissants"}]
    merged = merge(diet, CATALOGUE.find(text), text)
    assert [(m["value"], m.get("extractor")) for m in merged] == [("almond croissants", None)]
    text = "how many of the croissants left"
    diet = [{"entity": "product", "start": 12, "end": 26, "value": "the croissants"}]
    merged = merge(diet, CATALOGUE.find(text), text)
    assert [m["value"] for m in merged] == ["butter croissants"]


def test_each_company_sees_its_own_names_and_a_new_product_without_retraining(engine):
    sessions = make_session_factory(engine)
    with session_scope(sessions) as session:
        bakery, hardware = Builder(session, "bakery"), Builder(session, "hardware")
        bakery.product("CRS-12", "butter croissants")
        hardware.product("HMR-1", "claw hammers")
        hardware.location("Porto")
        ids = bakery.id, hardware.id
    now = [0.0]
    rebuilds = []
    cache = CatalogueCache(
        sessions, check_every_s=5.0, clock=lambda: now[0], rebuild=rebuilds.append
    )

    def names(company_id: int, text: str) -> list[str]:
        return [f.value for f in cache.get(company_id).find(text)]

    assert names(ids[0], "croissants and hammers in porto") == ["butter croissants"]
    assert names(ids[1], "croissants and hammers in porto") == ["claw hammers", "Porto"]
    with session_scope(sessions) as session:  # an import adds a product
        Builder(session, "bakery").product("SRD-800", "sourdough loaves")
    assert names(ids[0], "any sourdough?") == []  # looked at again within 5 s
    now[0] += 5.0
    assert names(ids[0], "any sourdough?") == []  # the old one serves while the new one is built
    assert len(rebuilds) == 1
    assert names(ids[0], "any sourdough?") == [] and len(rebuilds) == 1  # one rebuild at a time
    rebuilds.pop()()
    assert names(ids[0], "any sourdough?") == ["sourdough loaves"]


def test_swapped_letters_and_words_in_another_order_still_name_it():
    assert found("any granloa left") == [("granloa", "product", "house granola", "fuzzy")]
    assert found("who's our vendor for 12oz cups") == [
        ("12oz cups", "product", "paper cups 12oz", "partial")
    ]
    assert found("milk oat barista x3") == [
        ("milk oat barista", "product", "barista oat milk", "reordered")
    ]
    assert found("20 bottles of oat milk") == [("oat milk", "product", "barista oat milk", "exact")]
    assert found("any bottles?") == []


def test_a_product_word_after_words_the_commands_do_not_use_is_a_name_we_do_not_have():
    vocabulary = frozenset(["how", "many", "do", "we", "have", "in", "left", "order"])

    def widened(text: str) -> list[tuple[str, str, str | None, str]]:
        found = widen_to_unknown_names(CATALOGUE.find(text), text, vocabulary)
        return [(text[f.start : f.end], f.value, f.sku, f.how) for f in found]

    assert widened("how many almond croissants do we have in gdansk") == [
        ("almond croissants", "almond croissants", None, "unknown"),
        ("gdansk", "Gdansk", None, "exact"),
    ]
    assert widened("order 20 granola croissants") == [  # two of ours make one we do not have
        ("granola croissants", "granola croissants", None, "unknown")
    ]
    assert widened("how many croissants left") == [
        ("croissants", "butter croissants", "CRS-12", "partial")
    ]
    assert widened("order 20 croissants") == [
        ("croissants", "butter croissants", "CRS-12", "partial")
    ]
    # A whole name of several words is the company's, whatever comes before it.
    assert widened("fresh butter croissants") == [
        ("butter croissants", "butter croissants", "CRS-12", "exact")
    ]


def test_the_component_learns_the_commands_words_and_keeps_them_in_the_model(tmp_path):
    data = RasaYAMLReader().reads(
        """
version: "3.1"
nlu:
- intent: check_inventory
  examples: |
    - how many [blue widgets](product) left in [Lisbon](location)
    - stock of [WID-220](sku) pls
"""
    )
    storage = LocalModelStorage(tmp_path)
    resource = Resource("catalogue")
    context = ExecutionContext(GraphSchema({}), "test")
    CatalogueEntities.create({}, storage, resource, context).train(data)
    loaded = CatalogueEntities.load({}, storage, resource, context)
    assert loaded.vocabulary == {"how", "many", "left", "in", "stock", "of", "pls"}
