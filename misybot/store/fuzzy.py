"""Forgiving name matching for products, suppliers and locations typed in a chat."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Generic, TypeVar

T = TypeVar("T")

ACCEPT_SCORE = 0.88  # a typo'd name this close to exactly one candidate is taken as meant
CLEAR_MARGIN = 0.08
SUGGEST_SCORE = 0.5


def normalise(text: str) -> str:
    """Lower case, punctuation to spaces, words singular ("Blue Widgets!" -> "blue widget")."""
    words = re.sub(r"[^0-9a-z]+", " ", text.lower()).split()
    return " ".join(_singular(word) for word in words)


def _singular(word: str) -> str:
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


@dataclass(frozen=True)
class Scored(Generic[T]):
    score: float
    item: T


@dataclass(frozen=True)
class Match(Generic[T]):
    """The candidate the text unambiguously means (or None) and the ranked near misses."""

    best: T | None
    ranked: tuple[Scored[T], ...]


def similarity(query: str, name: str) -> float:
    """0…1: how close two normalised names are (character ratio, or word containment)."""
    if not query or not name:
        return 0.0
    ratio = SequenceMatcher(None, query, name).ratio()
    query_words, name_words = set(query.split()), set(name.split())
    if query_words <= name_words:
        ratio = max(ratio, 0.5 + 0.45 * len(query_words) / len(name_words))
    elif any(name.startswith(query) or word.startswith(query) for word in name_words):
        ratio = max(ratio, 0.6)
    if len(query_words) == 1:
        # One misspelt word ("globx", "northwnd") against the words of a longer name.
        best_word = max(SequenceMatcher(None, query, word).ratio() for word in name_words)
        ratio = max(ratio, 0.9 * best_word)
    return ratio


def match_name(query: str, candidates: Iterable[tuple[Sequence[str], T]]) -> Match[T]:
    """Match ``query`` against candidates, each known by one or more names.

    Exact (normalised) equality wins. Otherwise a candidate is accepted when it is the only one
    containing all the query's words, or when it scores ``ACCEPT_SCORE`` and clearly beats the
    runner-up; everything scoring ``SUGGEST_SCORE`` or more is returned as a near miss.
    """
    wanted = normalise(query)
    scored: list[Scored[T]] = []
    containing: list[T] = []
    for names, item in candidates:
        normalised = [normalise(name) for name in names if name]
        if wanted and wanted in normalised:
            return Match(best=item, ranked=(Scored(1.0, item),))
        if wanted and any(set(wanted.split()) <= set(name.split()) for name in normalised):
            containing.append(item)
        scored.append(Scored(max((similarity(wanted, n) for n in normalised), default=0.0), item))
    scored.sort(key=lambda s: -s.score)
    ranked = tuple(s for s in scored if s.score >= SUGGEST_SCORE)
    if len(containing) == 1:
        return Match(best=containing[0], ranked=ranked)
    if not containing and ranked and ranked[0].score >= ACCEPT_SCORE:
        runner_up = ranked[1].score if len(ranked) > 1 else 0.0
        if ranked[0].score - runner_up >= CLEAR_MARGIN:
            return Match(best=ranked[0].item, ranked=ranked)
    return Match(best=None, ranked=ranked)
