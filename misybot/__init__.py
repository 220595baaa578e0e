"""MisyBot Ops Assistant: the business core (no Rasa imports here)."""

__version__ = "0.1.0"
