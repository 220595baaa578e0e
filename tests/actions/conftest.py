"""Fixtures for the action tests: the domain and the seeded store a real worker serves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from rasa.shared.core.domain import Domain

from misybot.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain"))


@pytest.fixture(scope="session")
def store(demo_database_url: str, worker) -> Iterator[str]:
    """The actions' settings point at the seeded demo database a real worker serves."""
    patch = pytest.MonkeyPatch()
    patch.setenv("MISYBOT_DATABASE_URL", demo_database_url)
    patch.setenv("MISYBOT_INLINE_DEADLINE_S", "30")
    get_settings.cache_clear()
    yield demo_database_url
    patch.undo()
    get_settings.cache_clear()
