"""What a webhook caller sends, made safe to store: bounded, typed, without NUL or lone surrogates.

A signed request can still carry anything JSON or a form can hold: a NUL (PostgreSQL refuses it in
text), a lone UTF-16 surrogate (no encoding accepts it), NaN (JSON columns refuse it), an id longer
than its column, a list where an object was documented. Each such value becomes a clean one, or is
refused as a whole with the reason, before it reaches the store; a database error is then always
an outage, never the message's fault.
"""

from __future__ import annotations

import math
import re
from typing import Any

# C0 controls but tab, newline and carriage return; DEL; every surrogate code point (a Python
# string holds one only when it was lone in the input).
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|[\ud800-\udfff]")
_SPACE = re.compile(r"\s")

MAX_ID_CHARS = 128  # provider message ids (the store's column)
MAX_ADDRESS_CHARS = 254  # sender addresses: an e-mail address's own maximum, and the column's
MAX_NAME_CHARS = 120
MAX_URL_CHARS = 2048


def clean_text(value: Any, limit: int) -> str:
    """``value`` as text without unsafe characters, at most ``limit`` characters ("" unless a
    string or a number)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    text = str(value)[: limit * 2]  # unsafe characters are removed before the final cut
    return _UNSAFE.sub(_replacement, text)[:limit].strip()


def _replacement(match: re.Match) -> str:
    return "" if match.group() < "\ud800" else "\ufffd"


def clean_token(value: Any, limit: int = MAX_ID_CHARS) -> str | None:
    """An id or address: a non-empty string (or integer) of at most ``limit`` characters without
    spaces or unsafe characters; None for anything else (the caller refuses the item)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    token = str(value).strip()
    if not token or len(token) > limit or _UNSAFE.search(token) or _SPACE.search(token):
        return None
    return token


def clean_url(value: Any) -> str | None:
    """An http(s) URL of sensible length, or None."""
    url = clean_token(value, MAX_URL_CHARS)
    return url if url and url.lower().startswith(("https://", "http://")) else None


def obj(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (a documented object that came as a
    list, a string or null reads as absent)."""
    return value if isinstance(value, dict) else {}


def finite(value: Any, low: float, high: float) -> float | None:
    """``value`` as a finite number within ``[low, high]``, else None."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) and low <= number <= high else None


def bounded_json(
    value: Any, *, max_string: int = 1024, max_items: int = 64, max_depth: int = 6
) -> Any:
    """A copy of ``value`` that any JSON column stores: strings cleaned and cut, containers cut
    to ``max_items`` and ``max_depth``, non-finite numbers as None, keys as strings."""
    if isinstance(value, str):
        return clean_text(value, max_string)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if max_depth <= 0:
        return None
    limits = {"max_string": max_string, "max_items": max_items, "max_depth": max_depth - 1}
    if isinstance(value, dict):
        return {
            clean_text(str(key), 128): bounded_json(item, **limits)
            for key, item in list(value.items())[:max_items]
        }
    if isinstance(value, list | tuple):
        return [bounded_json(item, **limits) for item in value[:max_items]]
    return clean_text(str(value), max_string)
