"""Conversation state for Rasa in the project's database: the tracker store and the lock store."""
