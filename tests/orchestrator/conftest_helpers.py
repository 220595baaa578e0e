"""The root conftest's helpers, importable by name from this directory's test modules."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "root_conftest", Path(__file__).resolve().parents[1] / "conftest.py"
)
_root = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_root)

ROOT = _root.ROOT
free_port = _root.free_port
wait_for_http = _root.wait_for_http
