"""Conversation state: events and snapshots in the project's database."""
