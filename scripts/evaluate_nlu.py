"""Evaluate the trained NLU on the held-out sets, as in production, and enforce the thresholds.

Two sets: the demo company's (``tests/nlu/test_data.yml``) and a company the model has never seen
(``tests/nlu/unseen_company.yml``, its catalogue in ``tests/nlu/unseen_company/``). A scratch
database gets the demo data and that company's catalogue, imported through the CLI as a customer
would; each message is then parsed as a user of its company sends it (the signed sender on the
message), so the catalogue component reads that company's names. ``--no-catalogue`` parses them
with no sender (DIET alone), to see what the catalogue adds.

Reports per set under ``--out/<set>/``: intent accuracy, token-level entity precision / recall / F1
per entity type and overall, the confusion matrix (PNG) and every wrong prediction. Exits non-zero
when either set is under the intent-accuracy or entity-F1 threshold.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UNSEEN = ROOT / "tests" / "nlu" / "unseen_company"
UNSEEN_COMPANY = ("tidewater", "Tidewater Provisions", ["Gdansk:GDN", "Poznan:POZ", "Wroclaw:WRO"])
EVALUATOR = "nlu.eval@{slug}.example"  # the user of each company the messages come from
_TOKEN = re.compile(r"\w+|[^\w\s]")
NO_ENTITY = "no_entity"


def prepare_database(folder: Path) -> str:
    """A scratch database: the demo data, the unseen company's catalogue, an evaluator each."""
    url = f"sqlite:///{folder / 'eval.db'}"
    env = {**os.environ, "MISYBOT_DATABASE_URL": url}
    misybot = str(Path(sys.executable).with_name("misybot"))

    def cli(*args: str) -> None:
        done = subprocess.run([misybot, *args], env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"misybot {' '.join(args)} failed:\n{done.stdout}{done.stderr}")

    cli("demo", "seed", "--quiet")
    slug, name, locations = UNSEEN_COMPANY
    cli("company", "create", slug, "--name", name, *[f"--location={x}" for x in locations])
    for kind in ("suppliers", "products", "stock"):
        cli("import", kind, str(UNSEEN / f"{kind}.csv"), "--company", slug)
    os.environ["MISYBOT_DATABASE_URL"] = url  # this process evaluates on it too
    from sqlalchemy import select

    from misybot.db.engine import create_db_engine
    from misybot.db.models import Company, User
    from misybot.db.session import make_session_factory, session_scope
    from misybot.enums import Channel, Role

    engine = create_db_engine(url)
    with session_scope(make_session_factory(engine)) as session:
        for company_slug in ("demo", slug):
            company = session.execute(
                select(Company).where(Company.slug == company_slug)
            ).scalar_one()
            session.add(
                User(
                    company_id=company.id,
                    name="NLU Evaluator",
                    role=Role.VIEWER,
                    email=EVALUATOR.format(slug=company_slug),
                    preferred_channel=Channel.EMAIL,
                )
            )
    engine.dispose()
    return url


def token_labels(text: str, spans: list[tuple[int, int, str]]) -> list[str]:
    """The entity type of each token of ``text`` (``NO_ENTITY`` outside every span)."""
    labels = []
    for token in _TOKEN.finditer(text):
        label = NO_ENTITY
        for start, end, entity in spans:
            if start < token.end() and token.start() < end:
                label = entity
                break
        labels.append(label)
    return labels


def entity_scores(targets: list[str], predictions: list[str]) -> dict:
    """Token-level precision, recall and F1 per entity type and micro-averaged over them."""
    types = sorted({*targets, *predictions} - {NO_ENTITY})
    scores, totals = {}, Counter()
    for entity in types:
        tp = sum(t == p == entity for t, p in zip(targets, predictions, strict=True))
        predicted = sum(p == entity for p in predictions)
        actual = sum(t == entity for t in targets)
        totals.update(tp=tp, predicted=predicted, actual=actual)
        scores[entity] = _prf(tp, predicted, actual)
    return {"micro": _prf(totals["tp"], totals["predicted"], totals["actual"]), "by_type": scores}


def _prf(tp: int, predicted: int, actual: int) -> dict:
    precision = tp / predicted if predicted else 0.0
    recall = tp / actual if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "support": actual,
    }


async def evaluate(agent, data: Path, company_slug: str, catalogue: bool) -> dict:
    """Parse every example of ``data`` as a user of ``company_slug`` sends it."""
    from rasa.core.channels.channel import UserMessage
    from rasa.nlu.classifiers import fallback_classifier
    from rasa.shared.nlu.training_data.loading import load_data

    from connectors.local import conversation_id
    from misybot.identity import LOCAL, METADATA_KEY, VerifiedSender
    from misybot.settings import get_settings

    sender = EVALUATOR.format(slug=company_slug)
    conversation = conversation_id(sender)
    stamp = VerifiedSender(conversation, LOCAL, sender).signed(get_settings().signing_key)
    examples = load_data(str(data)).nlu_examples
    intents, errors, token_targets, token_predictions = [], [], [], []
    for example in examples:
        text = example.get("text")
        metadata = {METADATA_KEY: stamp} if catalogue else None
        message = UserMessage(text, sender_id=conversation, metadata=metadata)
        parsed = await agent.processor.parse_message(message)
        if fallback_classifier.is_fallback_classifier_prediction(parsed):
            parsed = fallback_classifier.undo_fallback_prediction(parsed)
        target = example.get("intent")
        predicted = (parsed.get("intent") or {}).get("name")
        intents.append((target, predicted))
        wanted = [(e["start"], e["end"], e["entity"]) for e in example.get("entities") or []]
        got = [(e["start"], e["end"], e["entity"]) for e in parsed.get("entities") or []]
        targets, predictions = token_labels(text, wanted), token_labels(text, got)
        token_targets += targets
        token_predictions += predictions
        if target != predicted or targets != predictions:
            errors.append(
                {
                    "text": text,
                    "intent": target,
                    "predicted_intent": predicted,
                    "entities": [text[s:e] + f" ({t})" for s, e, t in wanted],
                    "predicted_entities": [text[s:e] + f" ({t})" for s, e, t in got],
                }
            )
    accuracy = sum(t == p for t, p in intents) / len(intents)
    return {
        "examples": len(intents),
        "intent_accuracy": round(accuracy, 4),
        "entities": entity_scores(token_targets, token_predictions),
        "intents": intents,
        "errors": errors,
    }


def write_reports(name: str, result: dict, out: Path) -> dict:
    """``summary.json``, ``errors.json`` and the confusion matrix of one set; the summary."""
    from sklearn.metrics import confusion_matrix

    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    summary = {
        "examples": result["examples"],
        "intent_accuracy": result["intent_accuracy"],
        "entity_f1": result["entities"]["micro"]["f1"],
        "entity_f1_by_type": {k: v["f1"] for k, v in result["entities"]["by_type"].items()},
        "entities": result["entities"],
        "wrong_intents": Counter(f"{t} -> {p}" for t, p in result["intents"] if t != p).most_common(
            10
        ),
    }
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (folder / "errors.json").write_text(json.dumps(result["errors"], indent=2) + "\n")
    labels = sorted({t for t, _ in result["intents"]} | {p or "none" for _, p in result["intents"]})
    matrix = confusion_matrix(
        [t for t, _ in result["intents"]],
        [p or "none" for _, p in result["intents"]],
        labels=labels,
    )
    _plot(matrix, labels, f"{name}: intents", folder / "intent_confusion_matrix.png")
    return summary


def _plot(matrix, labels: list[str], title: str, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(14, 12))
    axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(labels)), labels, rotation=90)
    axes.set_yticks(range(len(labels)), labels)
    for row in range(len(labels)):
        for column in range(len(labels)):
            if matrix[row][column]:
                axes.text(column, row, matrix[row][column], ha="center", va="center", fontsize=7)
    axes.set_title(title)
    axes.set_xlabel("predicted")
    axes.set_ylabel("labelled")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/misybot.tar.gz")
    parser.add_argument("--data", default="tests/nlu/test_data.yml")
    parser.add_argument("--unseen", default="tests/nlu/unseen_company.yml")
    parser.add_argument("--out", default="results/nlu")
    parser.add_argument("--no-catalogue", action="store_true", help="DIET alone (no sender)")
    parser.add_argument("--min-intent-accuracy", type=float, default=0.95)
    parser.add_argument("--min-entity-f1", type=float, default=0.90)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as scratch:
        prepare_database(Path(scratch))
        from rasa.core.agent import Agent
        from rasa.utils.common import configure_logging_and_warnings
        from rasa.utils.log_utils import configure_structlog

        configure_logging_and_warnings(logging.WARNING)
        configure_structlog(logging.WARNING)
        agent = Agent.load(args.model)
        sets = {
            "held_out": (Path(args.data), "demo"),
            "unseen_company": (Path(args.unseen), "tidewater"),
        }
        summaries = {}
        for name, (data, company) in sets.items():
            result = asyncio.run(evaluate(agent, data, company, not args.no_catalogue))
            summaries[name] = write_reports(name, result, Path(args.out))
    failures = []
    for name, summary in summaries.items():
        by_type = "  ".join(f"{k}={v}" for k, v in summary["entity_f1_by_type"].items())
        print(
            f"nlu-eval {name} examples={summary['examples']} "
            f"intent_accuracy={summary['intent_accuracy']} entity_f1={summary['entity_f1']}"
        )
        print(f"  entity F1 by type: {by_type}")
        if summary["wrong_intents"]:
            print(f"  most confused: {summary['wrong_intents'][:5]}")
        if summary["intent_accuracy"] < args.min_intent_accuracy:
            failures.append(
                f"{name}: intent accuracy {summary['intent_accuracy']} < {args.min_intent_accuracy}"
            )
        if summary["entity_f1"] < args.min_entity_f1:
            failures.append(f"{name}: entity F1 {summary['entity_f1']} < {args.min_entity_f1}")
    (Path(args.out) / "summary.json").write_text(json.dumps(summaries, indent=2) + "\n")
    for failure in failures:
        print(f"nlu-eval FAILED {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
