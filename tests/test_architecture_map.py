"""docs/dev/architecture.md names modules and names in them: each must exist in the tree."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAP = ROOT / "docs" / "dev" / "architecture.md"


def test_every_module_and_name_the_architecture_map_mentions_exists():
    text = MAP.read_text()
    paths = set(re.findall(r"\b((?:connectors|misybot|actions|components|testkit|tests|data|"
                           r"domain|scripts|docs)/[\w/.]*)", text))  # fmt: skip
    assert paths, "the map names no module"
    missing = [path.rstrip(".") for path in sorted(paths) if not (ROOT / path.rstrip(".")).exists()]
    assert missing == []
    named = re.findall(r"([\w/]+\.py):([A-Za-z_]+)", text)
    assert named
    absent = [f"{f}:{name}" for f, name in named if not re.search(
        rf"\b(def|class) {name}\b|^{name}\b[^=\n]*=", (ROOT / f).read_text(), re.M)]  # fmt: skip
    assert absent == []
