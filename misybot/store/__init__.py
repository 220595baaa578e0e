"""Queries and writes on the operations data, always scoped to one company."""
