"""The NLU inbox: the real messages a company's people sent that the assistant may have got
wrong — it fell back, was unsure (low confidence, or a small margin to the runner-up), the
person said "no" or asked again right after, or an operator flagged it — deduplicated by their
normalised text (with a count and when first and last seen), with personal data masked before
a reviewer sees it. A reviewer accepts, corrects or discards each; an accepted or corrected
one becomes a training example in Rasa's YAML with where it came from, unless it contradicts
an example already there (reported, not added) or is there already (not added twice).

Rasa X did this for Rasa Open Source until it was discontinued; this is the same loop, in the
open, over ``understandings`` (``misybot.nlu.understandings``)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import yaml
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from misybot.db.models import NluReview, Understanding, User
from misybot.db.types import utc_now
from misybot.errors import MisybotError

FALLBACK_INTENT = "nlu_fallback"
FALLBACK_ACTIONS = ("action_default_fallback", "action_two_stage_fallback")
LOW_CONFIDENCE = 0.6
SMALL_MARGIN = 0.15
FOLLOW_UP_WINDOW = timedelta(minutes=3)
CORRECTION_INTENTS = ("deny",)
_CORRECTION = re.compile(
    r"\b(not what i (asked|meant|said)|that'?s wrong|wrong answer|i meant|no,? i (said|asked))\b",
    re.IGNORECASE,
)
_PHONE = re.compile(r"(?<!\w)\+?\d[\d ().-]{6,}\d(?!\w)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_ENTITY = re.compile(r"^(\d{1,4}):(\d{1,4}):([a-z_]{1,32})$")
PHONE_MASK, EMAIL_MASK, PERSON_MASK = "<phone>", "<email>", "<person>"
DISCARDED, ACCEPTED = "discarded", "accepted"
MAX_SCAN = 5000  # the most recent understandings of a company an inbox reads


@dataclass
class InboxItem:
    """One distinct message to review: its masked text, what it was understood as, why it
    is here, how often and when it was seen. ``id`` is its first message's understanding."""

    id: int
    text: str
    intent: str | None
    confidence: float | None
    runner_up: str | None
    margin: float | None
    reasons: list[str]
    count: int
    first_seen: datetime
    last_seen: datetime
    key: str = field(repr=False)


def normalised(text: str) -> str:
    return re.sub(r"[\W_]+", " ", text.lower()).strip()


def text_key(text: str) -> str:
    return hashlib.sha256(normalised(text).encode()).hexdigest()


def masker(session: Session, company_id: int):
    """A function that masks phone numbers, e-mail addresses and the names of the company's
    registered people in a text."""
    names = set()
    for (name,) in session.execute(select(User.name).where(User.company_id == company_id)):
        names.update(part for part in re.split(r"\s+", name or "") if len(part) >= 3)
    people = (
        re.compile(r"\b(" + "|".join(re.escape(n) for n in sorted(names)) + r")\b", re.I)
        if names
        else None
    )

    def mask(text: str) -> str:
        text = _EMAIL.sub(EMAIL_MASK, text)
        text = _PHONE.sub(PHONE_MASK, text)
        return people.sub(PERSON_MASK, text) if people is not None else text

    return mask


def inbox(session: Session, company_id: int, limit: int = 50) -> list[InboxItem]:
    """The company's messages to review, most seen first; reviewed texts are left out."""
    rows = session.execute(
        select(Understanding)
        .where(Understanding.company_id == company_id, Understanding.text != "")
        .order_by(Understanding.id.desc())
        .limit(MAX_SCAN)
    ).scalars()
    rows = sorted(rows, key=lambda row: (row.conversation_id, row.created_at, row.id))
    reviewed = set(
        session.execute(select(NluReview.text_key).where(NluReview.company_id == company_id))
        .scalars()
        .all()
    )
    mask = masker(session, company_id)
    items: dict[str, InboxItem] = {}
    following = [*rows[1:], None] if rows else []
    for row, after in zip(rows, following, strict=True):
        reasons = reasons_for(row, after)
        if not reasons:
            continue
        key = text_key(row.text)
        if key in reviewed:
            continue
        item = items.get(key)
        if item is None:
            items[key] = InboxItem(
                id=row.id,
                text=mask(row.text),
                intent=row.intent,
                confidence=row.confidence,
                runner_up=row.runner_up,
                margin=row.margin,
                reasons=reasons,
                count=1,
                first_seen=row.created_at,
                last_seen=row.created_at,
                key=key,
            )
            continue
        item.count += 1
        item.reasons = sorted(set(item.reasons) | set(reasons))
        if row.created_at < item.first_seen:
            item.first_seen, item.id = row.created_at, row.id
        item.last_seen = max(item.last_seen, row.created_at)
    ordered = sorted(items.values(), key=lambda i: (-i.count, -i.last_seen.timestamp()))
    return ordered[:limit]


def reasons_for(row: Understanding, after: Understanding | None) -> list[str]:
    """Why a message may have been misunderstood (none: it looks fine)."""
    reasons = []
    if row.intent == FALLBACK_INTENT or row.action in FALLBACK_ACTIONS:
        reasons.append("fallback")
    elif row.confidence is not None and row.confidence < LOW_CONFIDENCE:
        reasons.append("low confidence")
    if row.margin is not None and row.margin < SMALL_MARGIN:
        reasons.append("close runner-up")
    if row.flagged:
        reasons.append("flagged")
    if (
        after is not None
        and after.conversation_id == row.conversation_id
        and after.created_at - row.created_at <= FOLLOW_UP_WINDOW
        and (after.intent in CORRECTION_INTENTS or _CORRECTION.search(after.text or ""))
    ):
        reasons.append("corrected by the person")
    return reasons


def flag(session: Session, company_id: int, understanding_id: int) -> None:
    """An operator marks a message for review."""
    changed = session.execute(
        update(Understanding)
        .where(Understanding.id == understanding_id, Understanding.company_id == company_id)
        .values(flagged=True)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not changed:
        raise MisybotError(f"no message {understanding_id} in this company")


# ------------------------------------------------------------------------------ annotating
@dataclass(frozen=True)
class Annotation:
    """What a reviewer decided about an inbox item."""

    item_id: int
    intent: str | None  # None: discarded
    entities: tuple[tuple[int, int, str], ...] = ()


@dataclass(frozen=True)
class Outcome:
    """What an annotation did: ``added`` (to ``path``), ``already_there``, ``contradicts``
    (the intent of the example it contradicts), ``discarded``."""

    status: str
    example: str = ""
    path: Path | None = None
    conflicting_intent: str | None = None


def parse_entities(specs: Sequence[str], known: Iterable[str]) -> tuple[tuple[int, int, str], ...]:
    """``start:end:type`` strings as spans, each checked (types must be in ``known``)."""
    known = set(known)
    spans = []
    for spec in specs:
        match = _ENTITY.match(spec.strip())
        if match is None:
            raise MisybotError(f"entity {spec!r} is not start:end:type (e.g. 9:16:sku)")
        start, end, kind = int(match[1]), int(match[2]), match[3]
        if kind not in known:
            raise MisybotError(f"unknown entity type {kind!r} (one of: {', '.join(sorted(known))})")
        if start >= end:
            raise MisybotError(f"entity {spec!r}: start must be before end")
        spans.append((start, end, kind))
    return tuple(sorted(spans))


def annotated_text(text: str, entities: Sequence[tuple[int, int, str]]) -> str:
    """``text`` in Rasa's example syntax: ``how many [WID-220](sku) left``."""
    out, position = [], 0
    for start, end, kind in entities:
        if start < position or end > len(text) or not text[start:end].strip():
            raise MisybotError(f"entity {start}:{end}:{kind} does not fit the text {text!r}")
        out += [text[position:start], f"[{text[start:end]}]({kind})"]
        position = end
    return "".join([*out, text[position:]])


def annotate(
    session: Session,
    company_id: int,
    annotation: Annotation,
    training_dir: Path,
    target: Path,
    reviewer: str,
) -> Outcome:
    """Decide about an inbox item: discard it, or add it (masked, annotated, with where it came
    from) to ``target`` — unless ``training_dir`` has it already or has it as another intent."""
    row = session.execute(
        select(Understanding).where(
            Understanding.id == annotation.item_id, Understanding.company_id == company_id
        )
    ).scalar_one_or_none()
    if row is None or not row.text:
        raise MisybotError(f"no inbox item {annotation.item_id} in this company")
    key = text_key(row.text)
    if annotation.intent is None:
        _record(session, company_id, key, DISCARDED, None, reviewer)
        return Outcome(DISCARDED)
    text = masker(session, company_id)(row.text).strip()
    example = annotated_text(text, annotation.entities)
    existing = existing_examples(training_dir)
    found = existing.get(normalised(text))
    if found is not None and found != annotation.intent:
        return Outcome("contradicts", example, conflicting_intent=found)
    decision = ACCEPTED if annotation.intent == row.intent else "corrected"
    _record(session, company_id, key, decision, annotation.intent, reviewer)
    if found == annotation.intent:
        return Outcome("already_there", example)
    _append_example(target, annotation.intent, example, annotation.item_id, reviewer, row)
    return Outcome("added", example, target)


def _record(session, company_id, key, decision, intent, reviewer) -> None:
    review = session.execute(
        select(NluReview).where(NluReview.company_id == company_id, NluReview.text_key == key)
    ).scalar_one_or_none()
    if review is None:
        review = NluReview(company_id=company_id, text_key=key)
        session.add(review)
    review.decision, review.intent = decision, intent
    review.reviewer, review.reviewed_at = reviewer[:254], utc_now()
    session.flush()


_ANNOTATION = re.compile(r"\[([^\]]*)\]\([^)]*\)|\[([^\]]*)\]\{[^}]*\}")


def existing_examples(training_dir: Path) -> dict[str, str]:
    """Every example of the training data: normalised text → its intent."""
    found: dict[str, str] = {}
    for path in sorted(training_dir.glob("*.yml")):
        for block in (yaml.safe_load(path.read_text()) or {}).get("nlu", []) or []:
            if "intent" not in block or not isinstance(block.get("examples"), str):
                continue
            for line in block["examples"].splitlines():
                line = line.strip()
                if line.startswith("- "):
                    plain = _ANNOTATION.sub(lambda m: m.group(1) or m.group(2) or "", line[2:])
                    found.setdefault(normalised(plain), block["intent"])
    return found


def _append_example(
    target: Path, intent: str, example: str, item_id: int, reviewer: str, row: Understanding
) -> None:
    """One intent block per example, its provenance in a comment above it (Rasa merges
    blocks of one intent)."""
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(
            "# Real messages the NLU inbox reviewed (misybot nlu annotate): written by the CLI,\n"
            "# each with the inbox item it came from. Personal data is masked.\n"
            'version: "3.1"\nnlu:\n'
        )
    line = " ".join(example.split())  # one line of the block: what Rasa reads, as is
    was = f"{row.intent} {row.confidence:.2f}" if row.confidence is not None else str(row.intent)
    with target.open("a") as out:
        out.write(
            f"# inbox item {item_id}, seen {row.created_at:%Y-%m-%d}, understood as {was}, "
            f"reviewed by {reviewer} on {utc_now():%Y-%m-%d}\n"
            f"- intent: {intent}\n  examples: |\n    - {line}\n"
        )
