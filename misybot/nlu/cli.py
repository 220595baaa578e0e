"""``misybot nlu …``: a company's admin reviews what the assistant misunderstood.

``inbox`` lists the messages to review (masked, deduplicated); ``annotate ID --intent …
[--entity start:end:type]`` accepts or corrects one into the training data (Rasa's YAML, with
where it came from); ``discard ID`` drops one; ``flag ID`` puts any message in the inbox.
Entity offsets count in the text as the inbox shows it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml
from sqlalchemy.orm import Session

from misybot.cli import EXIT_FAILED, EXIT_OK, _print_help_by_default, _run_in_session
from misybot.errors import MisybotError
from misybot.nlu import review
from misybot.people import team

DEFAULT_DOMAIN = Path("domain/domain.yml")
DEFAULT_TRAINING = Path("data/nlu")
DEFAULT_TARGET = DEFAULT_TRAINING / "reviewed.yml"


def register(commands) -> None:
    nlu = commands.add_parser("nlu", help="review what the assistant misunderstood (NLU inbox)")
    _print_help_by_default(nlu)
    actions = nlu.add_subparsers(title="nlu commands", metavar="ACTION")
    listing = actions.add_parser("inbox", help="messages to review, masked and deduplicated")
    _common(listing)
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_in_session(_inbox))
    annotate = actions.add_parser("annotate", help="accept or correct an item into training data")
    _common(annotate)
    annotate.add_argument("item", type=int, help="the inbox item's id")
    annotate.add_argument("--intent", required=True)
    annotate.add_argument(
        "--entity", action="append", default=[], metavar="START:END:TYPE", help="repeatable"
    )
    annotate.add_argument("--domain", type=Path, default=DEFAULT_DOMAIN)
    annotate.add_argument("--training", type=Path, default=DEFAULT_TRAINING)
    annotate.add_argument("--to", type=Path, default=DEFAULT_TARGET, help="the YAML file to add to")
    annotate.set_defaults(handler=_in_session(_annotate))
    discard = actions.add_parser("discard", help="drop an item: it is not training data")
    _common(discard)
    discard.add_argument("item", type=int)
    discard.set_defaults(handler=_in_session(_discard))
    flag = actions.add_parser("flag", help="put a message (an understanding id) in the inbox")
    _common(flag)
    flag.add_argument("item", type=int)
    flag.set_defaults(handler=_in_session(_flag))


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--company", required=True, help="company slug")
    parser.add_argument("--admin", required=True, help="the admin reviewing (e-mail, phone or id)")


def _in_session(work):
    return lambda args: _run_in_session(lambda session: _guarded(work, session, args))


def _guarded(work, session: Session, args: argparse.Namespace) -> int:
    try:
        return work(session, args)
    except MisybotError as error:
        print(f"Refused: {error}")
        return EXIT_FAILED


def _inbox(session: Session, args: argparse.Namespace) -> int:
    admin = team.admin_actor(session, args.company, args.admin)
    items = review.inbox(session, admin.company_id, max(1, min(args.limit, 500)))
    if args.json:
        print(json.dumps([_as_json(item) for item in items], indent=2))
        return EXIT_OK
    if not items:
        print("The NLU inbox is empty.")
        return EXIT_OK
    for item in items:
        confidence = f"{item.confidence:.2f}" if item.confidence is not None else "-"
        margin = f", {item.runner_up} by {item.margin:.2f}" if item.runner_up else ""
        print(
            f"#{item.id}  ×{item.count}  {item.text!r}\n"
            f"      understood {item.intent} {confidence}{margin}; {', '.join(item.reasons)}; "
            f"seen {item.first_seen:%Y-%m-%d %H:%M} … {item.last_seen:%Y-%m-%d %H:%M}"
        )
    return EXIT_OK


def _as_json(item: review.InboxItem) -> dict:
    return {
        "id": item.id,
        "text": item.text,
        "intent": item.intent,
        "confidence": item.confidence,
        "runner_up": item.runner_up,
        "margin": item.margin,
        "reasons": item.reasons,
        "count": item.count,
        "first_seen": item.first_seen.isoformat(),
        "last_seen": item.last_seen.isoformat(),
    }


def _annotate(session: Session, args: argparse.Namespace) -> int:
    admin = team.admin_actor(session, args.company, args.admin)
    domain = yaml.safe_load(args.domain.read_text()) or {}
    intents = {i for i in domain.get("intents") or [] if not str(i).startswith("EXTERNAL_")}
    if args.intent not in intents:
        print(f"Refused: unknown intent {args.intent!r} (see {args.domain})")
        return EXIT_FAILED
    entities = review.parse_entities(args.entity, domain.get("entities") or [])
    annotation = review.Annotation(args.item, args.intent, entities)
    outcome = review.annotate(
        session, admin.company_id, annotation, args.training, args.to, str(args.admin)
    )
    if outcome.status == "contradicts":
        print(
            f"Not added: {outcome.example!r} is already in the training data as "
            f"{outcome.conflicting_intent!r}. Correct that example or choose that intent."
        )
        return EXIT_FAILED
    if outcome.status == "already_there":
        print(f"Already in the training data as {args.intent}: {outcome.example!r}")
    else:
        print(f"Added to {outcome.path}: {args.intent}: {outcome.example!r}")
    return EXIT_OK


def _discard(session: Session, args: argparse.Namespace) -> int:
    admin = team.admin_actor(session, args.company, args.admin)
    review.annotate(
        session, admin.company_id, review.Annotation(args.item, None), Path(), Path(), args.admin
    )
    print(f"Discarded inbox item {args.item}.")
    return EXIT_OK


def _flag(session: Session, args: argparse.Namespace) -> int:
    admin = team.admin_actor(session, args.company, args.admin)
    review.flag(session, admin.company_id, args.item)
    print(f"Message {args.item} is in the NLU inbox.")
    return EXIT_OK
