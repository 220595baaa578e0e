"""Rasa graph component that normalises extracted entities (see ``misybot.nlu.normalize``).

- ``sku``: value in canonical upper case (``wid-220`` -> ``WID-220``);
- ``quantity``: value as a number (``a dozen`` -> 12, ``1.2k`` -> 1200), left as typed when it is
  not a number the parser understands;
- ``date_range``: value stays the phrase as typed (so slots and stories are stable), and the
  entity gains ``start_date`` and ``end_date`` (ISO) resolved at the message's time (metadata
  ``received_at``, else now) in ``MISYBOT_TIMEZONE``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES
from rasa.shared.nlu.training_data.message import Message

from misybot.nlu.normalize import EntityNormalizer
from misybot.settings import get_settings

logger = logging.getLogger(__name__)

NORMALIZER_NAME = "EntityNormalizer"


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class MisybotEntityNormalizer(GraphComponent):
    """Adds normalised values to ``sku``, ``quantity`` and ``date_range`` entities."""

    def __init__(self, config: dict[str, Any]) -> None:
        self._config = config
        self._normalizer = EntityNormalizer()

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> MisybotEntityNormalizer:
        return cls(config)

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            entities = message.get(ENTITIES, [])
            if not entities:
                continue
            now = _message_time(message)
            message.set(
                ENTITIES, [self._normalize(entity, now) for entity in entities], add_to_output=True
            )
        return messages

    def _normalize(self, entity: dict[str, Any], now: datetime) -> dict[str, Any]:
        kind, value = entity.get("entity"), entity.get("value")
        if not isinstance(value, str):
            return entity
        normalized = dict(entity)
        if kind == "sku":
            normalized["value"] = self._normalizer.sku(value)
        elif kind == "quantity":
            number = self._normalizer.quantity(value)
            if number is not None:
                normalized["value"] = number
        elif kind == "date_range":
            date_range = self._normalizer.date_range(value, now)
            if date_range is not None:
                normalized.update(date_range.as_entity_fields())
        else:
            return entity
        if normalized != entity:
            normalized.setdefault("processors", []).append(NORMALIZER_NAME)
        return normalized


def _message_time(message: Message) -> datetime:
    """When the user sent the message, in the configured time zone."""
    zone = get_settings().timezone
    metadata = message.get("metadata") or {}
    received = metadata.get("received_at") if isinstance(metadata, dict) else None
    sent: datetime | None = None
    try:
        if isinstance(received, (int, float)):
            sent = datetime.fromtimestamp(received, tz=zone)
        elif isinstance(received, str):
            sent = datetime.fromisoformat(received.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        logger.warning("nlu.normalizer.bad_received_at value=%r", received)
    if sent is None:
        return datetime.now(tz=zone)
    return sent.astimezone(zone) if sent.tzinfo else sent.replace(tzinfo=zone)
