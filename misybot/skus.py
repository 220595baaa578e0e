"""SKU spelling: the canonical form (same rule as the NLU normaliser) and a separator-free key."""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s_\-]+")


def canonical_sku(text: str) -> str:
    """Upper case, no leading '#', inner blanks/underscores/hyphens as one hyphen."""
    cleaned = text.strip().lstrip("#").strip().upper()
    return _SEPARATORS.sub("-", cleaned)


def sku_key(text: str) -> str:
    """The SKU without separators, so "wid 220", "WID220" and "WID-220" compare equal."""
    return _SEPARATORS.sub("", canonical_sku(text))
