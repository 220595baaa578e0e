"""What kind of stock change a message describes: "received 200" adds, "sold 12" removes,
"counted 48" sets. The NLU finds the product and the number; these words decide the direction."""

from __future__ import annotations

import re
from dataclasses import dataclass

from misybot.enums import MovementKind

# Checked in order: a count ("counted 48", "set … to 75", "= 18") wins over the other words.
_RULES: tuple[tuple[str, MovementKind, str], ...] = (
    (
        r"\b(count(ed)?|recount(ed)?|cycle count|stock count|set|is now|should be)\b|=|\bto \d",
        MovementKind.ADJUSTMENT,
        "set",
    ),
    (r"\b(sold|sale|sales)\b", MovementKind.SALE, "remove"),
    (
        r"\b(wr(ote|ite)[ -]?offs?|damaged|broken|expired|lost|stolen)\b",
        MovementKind.WRITE_OFF,
        "remove",
    ),
    (
        r"\b(used|consumed|took out|take out|deduct(ed)?|remove[d]?|minus|subtract(ed)?)\b",
        MovementKind.CONSUMPTION,
        "remove",
    ),
    (r"\b(returned|return)\b", MovementKind.ADJUSTMENT, "add"),
)


@dataclass(frozen=True)
class StockChange:
    mode: str  # "add", "remove" or "set" (misybot.agents.stock.StockUpdateMode values)
    kind: MovementKind
    reason: str


def stock_change(text: str) -> StockChange:
    """The change ``text`` describes; receipts ("got", "arrived", "add") when nothing else fits."""
    words = text.strip()
    lowered = words.lower()
    for pattern, kind, mode in _RULES:
        if re.search(pattern, lowered):
            return StockChange(mode, kind, _reason(words))
    return StockChange("add", MovementKind.RECEIPT, _reason(words))


def _reason(text: str) -> str:
    """The user's own words, kept on the movement as its reason (trimmed to the column)."""
    return f"chat: {text}"[:200] if text else "chat"
