"""Rasa graph component, first in the pipeline: the NLU reads a bounded prefix of every message
(``misybot.nlu.bounds``), whichever way it came in (channels, ``rasa shell``, the HTTP API)."""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from misybot.nlu.bounds import nlu_text


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=False)
class BoundedText(GraphComponent):
    """Cuts each message's text to what the NLU reads (its tracker keeps the whole text)."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> BoundedText:
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT)
            if isinstance(text, str):
                bounded = nlu_text(text)
                if bounded != text:
                    message.set(TEXT, bounded)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data  # training examples are short sentences by design
