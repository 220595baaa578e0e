"""Rasa's commands work from the project root with no flags: ``domain.yml`` (Rasa's default
domain path) is the ``domain/`` directory, which Rasa loads as one domain."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from rasa.shared.core.domain import Domain

ROOT = Path(__file__).resolve().parents[1]


def test_the_default_domain_path_is_the_whole_domain():
    default = ROOT / "domain.yml"
    assert default.is_dir() and default.resolve() == (ROOT / "domain").resolve()
    loaded, whole = Domain.load(str(default)), Domain.load(str(ROOT / "domain"))
    assert loaded.as_dict() == whole.as_dict()
    assert "utter_report_ready" in loaded.responses  # the responses' files too


def test_rasa_data_validate_with_no_arguments_succeeds():
    rasa = str(Path(sys.executable).with_name("rasa"))
    done = subprocess.run(
        [rasa, "data", "validate"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "does not exist" not in done.stdout + done.stderr
