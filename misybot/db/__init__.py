"""Persistence: engine, sessions, models and the Alembic migrations."""
