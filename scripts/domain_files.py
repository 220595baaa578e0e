"""The domain directory (``domain/``) read as one mapping, the way Rasa merges its files."""

from __future__ import annotations

from pathlib import Path

import yaml


def load_domain(directory: Path) -> dict:
    """Every ``*.yml`` under ``directory`` merged: lists concatenated, mappings updated."""
    merged: dict = {}
    for path in sorted(directory.rglob("*.yml")):
        for key, value in (yaml.safe_load(path.read_text()) or {}).items():
            if isinstance(value, list):
                merged.setdefault(key, []).extend(value)
            elif isinstance(value, dict):
                merged.setdefault(key, {}).update(value)
            else:
                merged[key] = value
    return merged
