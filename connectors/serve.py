"""``rasa run`` as ``make run`` and ``make shell`` start it: never with an open HTTP API.

``python -m connectors.serve [rasa run arguments]``. When the arguments enable the HTTP API
without a token or a JWT secret, the installation's token is added (``MISYBOT_RASA_TOKEN``, else
the generated one: ``misybot secrets show rasa-api-token``). It is added in-process, so it never
shows in the process list. Workers push results with the same token.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from misybot.settings import get_settings

AUTH_OPTIONS = ("--auth-token", "-t", "--jwt-secret")
WARNINGS_LOG = Path("var/log/warnings.log")


def rasa_arguments(arguments: Sequence[str]) -> list[str]:
    """``rasa run`` arguments that never leave the HTTP API open."""
    arguments = list(arguments)
    given = {argument.split("=", 1)[0] for argument in arguments}
    if "--enable-api" in given and not given.intersection(AUTH_OPTIONS):
        arguments += ["--auth-token", get_settings().api_token]
    return ["run", *arguments]


def quiet_library_warnings(path: Path = WARNINGS_LOG) -> None:
    """Python warnings (the libraries' deprecations, dozens at import) go to ``path``, not the
    terminal: what an operator reads there is the server's own log."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    captured = logging.getLogger("py.warnings")
    captured.addHandler(handler)
    captured.propagate = False
    logging.captureWarnings(True)


def main(argv: Sequence[str] | None = None) -> None:
    quiet_library_warnings()
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", *rasa_arguments(sys.argv[1:] if argv is None else argv)]
    rasa_main()


if __name__ == "__main__":
    main()
