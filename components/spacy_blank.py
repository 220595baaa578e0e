"""Rasa's ``SpacyNLP`` that also accepts a blank spaCy pipeline (``model: blank:en``).

Rasa 3.6 insists that the spaCy model was loaded from disk, which rules out ``spacy.blank``. We
want spaCy's tokenizer and matcher without downloading a model at install or run time, so this
subclass builds a blank pipeline when the configured name starts with ``blank:``. The class keeps
the name ``SpacyNLP`` because Rasa wires ``SpacyTokenizer`` to its model provider by class name.
"""

from __future__ import annotations

import spacy
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.utils import spacy_utils
from spacy.language import Language

BLANK_PREFIX = "blank:"


@DefaultV1Recipe.register(
    [
        DefaultV1Recipe.ComponentType.MODEL_LOADER,
        DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER,
    ],
    is_trainable=False,
    model_from="SpacyNLP",
)
class SpacyNLP(spacy_utils.SpacyNLP):
    """Provides a spaCy pipeline: a blank one for ``blank:<lang>``, else a packaged model."""

    @staticmethod
    def load_model(spacy_model_name: str) -> spacy_utils.SpacyModel:
        if spacy_model_name and spacy_model_name.startswith(BLANK_PREFIX):
            language = spacy.blank(spacy_model_name[len(BLANK_PREFIX) :])
            return spacy_utils.SpacyModel(model=language, model_name=spacy_model_name)
        return spacy_utils.SpacyNLP.load_model(spacy_model_name)

    @staticmethod
    def ensure_proper_language_model(nlp: Language | None) -> None:
        if nlp is not None and nlp.path is None and not nlp.pipe_names:
            return  # a blank pipeline: tokenizer only, nothing loaded from disk by design
        spacy_utils.SpacyNLP.ensure_proper_language_model(nlp)
