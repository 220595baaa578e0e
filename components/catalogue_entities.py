"""Rasa graph component: products, suppliers and locations from the sender's company's live
catalogue (``misybot.nlu.catalogue``), merged with what DIET extracted.

The sender is the one a connector signed on the message (``misybot.identity``); no sender, or
one no user is linked to, means no catalogue: DIET's entities stand. How the two are merged: a
catalogue match wins over any DIET entity it overlaps (the catalogue knows the company's names,
their kind and their canonical spelling); DIET's entities elsewhere stay, so a name the company
does not have is still a product, and the agent answers "no product called …, did you mean …".

Names the company does not have, around names it has, are not answered as another product:
- a one-word product match after words that are not the commands' own ("almond" before
  "croissants") is widened to the whole name, as typed (``widen_to_unknown_names``); the
  commands' words are learnt from the training data, which is all this component trains;
- a catalogue match inside a longer DIET entity of its kind that adds a word of its own loses to
  that entity ("milk" in a DIET "coconut milk").
The agent then looks the whole name up and offers the close ones.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from sqlalchemy.exc import SQLAlchemyError

from misybot.db.engine import get_engine
from misybot.db.session import make_session_factory
from misybot.identity import METADATA_KEY, VerifiedSender, resolve_sender
from misybot.nlu.catalogue import GENERIC, CatalogueCache, Found, widen_to_unknown_names
from misybot.settings import get_settings
from misybot.store.fuzzy import normalise

logger = logging.getLogger(__name__)

EXTRACTOR = "CatalogueEntities"
SENDER_TTL_S = 60.0  # a sender's company is looked up again after this long
VOCABULARY_FILE = "vocabulary.json"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=True)
class CatalogueEntities(GraphComponent):
    """Finds the sender's company's products, suppliers and locations in each message."""

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        vocabulary: frozenset[str] = frozenset(),
    ) -> None:
        self._config = config
        self._storage = model_storage
        self._resource = resource
        self.vocabulary = vocabulary  # the commands' own words, outside any entity
        self._catalogues: CatalogueCache | None = None
        self._companies: dict[tuple[str, str], tuple[float, int | None]] = {}
        self._lock = threading.Lock()

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> CatalogueEntities:
        return cls(config, model_storage, resource)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> CatalogueEntities:
        try:
            with model_storage.read_from(resource) as directory:
                words = json.loads((directory / VOCABULARY_FILE).read_text(encoding="utf-8"))
        except (ValueError, FileNotFoundError):
            logger.warning("nlu.catalogue.no_vocabulary: unknown names are not widened")
            words = []
        return cls(config, model_storage, resource, frozenset(words))

    def train(self, training_data: TrainingData) -> Resource:
        """Learn the commands' own words: every word of an example outside its entities."""
        words: set[str] = set()
        for example in training_data.nlu_examples:
            text = example.get(TEXT) or ""
            spans = sorted((e["start"], e["end"]) for e in example.get(ENTITIES) or [])
            kept, at = [], 0
            for start, end in spans:
                kept.append(text[at:start])
                at = max(at, end)
            kept.append(text[at:])
            words.update(normalise(" ".join(kept)).split())
        self.vocabulary = frozenset(words)
        with self._storage.write_to(self._resource) as directory:
            (directory / VOCABULARY_FILE).write_text(json.dumps(sorted(words)), encoding="utf-8")
        return self._resource

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            try:
                company_id = self._company(message)
                if company_id is None:
                    continue
                text = message.get(TEXT) or ""
                found = self._cache().get(company_id).find(text, self.vocabulary)
                found = widen_to_unknown_names(found, text, self.vocabulary)
            except SQLAlchemyError as error:  # the store is away: DIET's entities stand
                logger.warning("nlu.catalogue.unavailable error=%s", error)
                continue
            if found:
                merged = merge(message.get(ENTITIES, []), found, message.get(TEXT) or "")
                message.set(ENTITIES, merged, add_to_output=True)
        return messages

    def _cache(self) -> CatalogueCache:
        if self._catalogues is None:  # built on first use: no engine at load time
            self._catalogues = CatalogueCache(make_session_factory(get_engine()))
        return self._catalogues

    def _company(self, message: Message) -> int | None:
        """The company of the message's verified sender (None: nobody, or no user)."""
        metadata = message.get("metadata") or {}
        stamp = metadata.get(METADATA_KEY) if isinstance(metadata, dict) else None
        if not isinstance(stamp, dict):
            return None
        settings = get_settings()
        verified = VerifiedSender.from_signed(
            stamp, settings.signing_key, str(stamp.get("conversation"))
        )
        if verified is None:
            return None
        key, now = (verified.channel, verified.address), time.monotonic()
        with self._lock:
            cached = self._companies.get(key)
        if cached is not None and now - cached[0] < SENDER_TTL_S:
            return cached[1]
        with make_session_factory(get_engine())() as session:
            sender = resolve_sender(session, verified, settings.local_identities)
        company_id = sender.actor.company_id if sender.actor else None
        with self._lock:
            if len(self._companies) > 10_000:
                self._companies.clear()
            self._companies[key] = (now, company_id)
        return company_id


def merge(extracted: list[dict[str, Any]], found: list[Found], text: str) -> list[dict[str, Any]]:
    """DIET's entities with the catalogue's: a catalogue match replaces whatever it overlaps,
    except a match inside a longer DIET name of the same kind."""
    found = [match for match in found if not _inside_longer_name(match, extracted, text)]
    kept = [
        entity
        for entity in extracted
        if not any(
            entity.get("start", -1) < f.end and f.start < entity.get("end", -1) for f in found
        )
    ]
    added = []
    for match in found:
        entity = {
            "entity": match.entity,
            "start": match.start,
            "end": match.end,
            "value": match.value,
            "text": text[match.start : match.end],
            "confidence_entity": 1.0,
            "extractor": EXTRACTOR,
            "processors": [f"catalogue:{match.how}"],
        }
        if match.sku:
            entity["sku"] = match.sku
        added.append(entity)
    return sorted(kept + added, key=lambda entity: entity.get("start", 0))


def _inside_longer_name(match: Found, extracted: list[dict[str, Any]], text: str) -> bool:
    """A catalogue match inside a DIET entity of its kind that has a word of its own."""
    for entity in extracted:
        start, end = entity.get("start", -1), entity.get("end", -1)
        if entity.get("entity") != match.entity or not (start <= match.start < match.end <= end):
            continue
        extra = normalise(text[start : match.start] + " " + text[match.end : end]).split()
        if any(word not in GENERIC for word in extra):
            return True
    return False
