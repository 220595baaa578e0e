"""List held-out NLU test examples that also occur in the training data (they must not)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")


def examples(path: Path) -> list[tuple[str, str]]:
    """(normalised text, intent) for every intent example in a Rasa YAML NLU file."""
    found = []
    for block in (yaml.safe_load(path.read_text()) or {}).get("nlu", []):
        if "intent" not in block:
            continue
        for line in block["examples"].splitlines():
            line = line.strip()
            if line.startswith("- "):
                found.append((normalise(ANNOTATION.sub(r"\1", line[2:])), block["intent"]))
    return found


def normalise(text: str) -> str:
    return re.sub(r"[\W_]+", " ", text.lower()).strip()


def overlap(training_dir: Path, test_file: Path) -> list[tuple[str, str]]:
    training = {text for path in sorted(training_dir.glob("*.yml")) for text, _ in examples(path)}
    return [(text, intent) for text, intent in examples(test_file) if text in training]


if __name__ == "__main__":
    shared = overlap(Path("data/nlu"), Path("tests/nlu/test_data.yml"))
    for text, intent in shared:
        print(f"{intent}: {text}")
    print(f"{len(shared)} held-out examples also in the training data")
    sys.exit(1 if shared else 0)
