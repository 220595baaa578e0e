"""Rasa input/output channels for the providers MisyBot talks through."""
