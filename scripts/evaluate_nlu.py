"""Evaluate the trained NLU model on the held-out test set and enforce the quality thresholds.

Runs ``rasa test nlu`` (which writes the intent/entity reports and the confusion-matrix PNG under
``--out``), prints intent accuracy and entity F1, writes ``summary.json`` and exits non-zero when
either figure is below its threshold.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ENTITY_REPORT = "DIETClassifier_report.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models/misybot.tar.gz")
    parser.add_argument("--data", default="tests/nlu/test_data.yml")
    parser.add_argument("--out", default="results/nlu")
    parser.add_argument("--min-intent-accuracy", type=float, default=0.95)
    parser.add_argument("--min-entity-f1", type=float, default=0.90)
    args = parser.parse_args(argv)

    out = Path(args.out)
    rasa = Path(sys.executable).with_name("rasa")
    command = [
        str(rasa),
        "test",
        "nlu",
        "--model",
        args.model,
        "--nlu",
        args.data,
        "--domain",
        "domain",
        "--out",
        str(out),
    ]
    completed = subprocess.run(command, check=False)
    if completed.returncode != 0:
        print(f"nlu-eval: `{' '.join(command)}` failed with exit code {completed.returncode}")
        return completed.returncode

    intent_report = json.loads((out / "intent_report.json").read_text())
    entity_report = json.loads((out / ENTITY_REPORT).read_text())
    summary = {
        "intent_accuracy": round(intent_report["accuracy"], 4),
        "intent_macro_f1": round(intent_report["macro avg"]["f1-score"], 4),
        "entity_micro_f1": round(entity_report["micro avg"]["f1-score"], 4),
        "entity_macro_f1": round(entity_report["macro avg"]["f1-score"], 4),
        "examples": intent_report["macro avg"]["support"],
        "weakest_intents": sorted(
            (
                (name, round(row["f1-score"], 3))
                for name, row in intent_report.items()
                if isinstance(row, dict) and "confused_with" in row
            ),
            key=lambda item: item[1],
        )[:5],
        "entity_f1_by_type": {
            name: round(row["f1-score"], 3)
            for name, row in entity_report.items()
            if isinstance(row, dict) and "confused_with" in row
        },
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))

    failures = []
    if summary["intent_accuracy"] < args.min_intent_accuracy:
        failures.append(
            f"intent accuracy {summary['intent_accuracy']} < {args.min_intent_accuracy}"
        )
    if summary["entity_micro_f1"] < args.min_entity_f1:
        failures.append(f"entity F1 {summary['entity_micro_f1']} < {args.min_entity_f1}")
    print(
        f"nlu-eval intent_accuracy={summary['intent_accuracy']} "
        f"entity_f1={summary['entity_micro_f1']} "
        f"confusion_matrix={out / 'intent_confusion_matrix.png'}"
    )
    for failure in failures:
        print(f"nlu-eval: FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
