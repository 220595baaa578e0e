"""Rasa NLU graph components of MisyBot (Rasa glue; the logic lives in misybot.nlu)."""
