"""The secrets an installation's processes share, generated once when the environment has none.

The Rasa HTTP API must never start open, and the connectors (which sign who is writing) and the
action server (which checks it) must hold the same key. When the environment does not set them,
each is generated once (256 random bits) and kept in one file, readable by its owner only, so the
Rasa server, the action server, the workers and the CLI of one installation agree without any
set-up. Several processes may start at once: the file is created under an exclusive lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from functools import lru_cache
from pathlib import Path

# name -> what it protects (also the file's documentation)
GENERATED = {
    "rasa_api_token": "the Rasa HTTP API (--auth-token); workers push results with it",
    "identity_key": "signs the verified sender connectors put on every message",
}


class SecretsFileError(RuntimeError):
    """The secrets file exists but cannot be used (unreadable, not JSON, readable by others)."""


@lru_cache(maxsize=8)
def load_secrets(path: Path) -> dict[str, str]:
    """Every generated secret, from ``path``; creates the file (or adds what it lacks) first."""
    found = _read(path)
    if all(found.get(name) for name in GENERATED):
        return found
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = _read(path)  # another process may have written it while this one waited
        missing = [name for name in GENERATED if not found.get(name)]
        if missing:
            found.update({name: secrets.token_urlsafe(32) for name in missing})
            temporary = path.with_name(f".{path.name}.{os.getpid()}")
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as out:
                json.dump(found, out, indent=2)
            os.replace(temporary, path)
    return found


def _read(path: Path) -> dict[str, str]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    if path.stat().st_mode & 0o077:
        raise SecretsFileError(f"{path} is readable by others: chmod 600 {path}")
    try:
        data = json.loads(text)
    except ValueError as error:
        raise SecretsFileError(f"{path} is not JSON: {error}") from error
    if not isinstance(data, dict):
        raise SecretsFileError(f"{path} must hold a JSON object")
    return {str(name): str(value) for name, value in data.items() if value}
