"""``rasa run`` as ``make run`` and ``make shell`` start it: never with an open HTTP API.

``python -m connectors.serve [rasa run arguments]``. When the arguments enable the HTTP API
without a token or a JWT secret, the installation's token is added (``MISYBOT_RASA_TOKEN``, else
the generated one: ``misybot secrets show rasa-api-token``). It is added in-process, so it never
shows in the process list. Workers push results with the same token.

Three things are added to Rasa's server: ``GET /health`` (``connectors.health``: the database, a
worker's heartbeat, the inbox backlog; 503 when one fails), ``GET /files/<token>/<name>``
(``connectors.files``: report files behind signed, expiring links) and, with ``--reuse-port``, a
listening socket with ``SO_REUSEPORT``, so that several replicas listen on one port and the
kernel spreads new connections over them (``make run REPLICAS=2``). The replicas coordinate
through the database (per-sender inbox locks, the tracker and lock stores of ``endpoints.yml``),
not through the port: on several machines, put any load balancer in front instead.
"""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from misybot.settings import get_settings

AUTH_OPTIONS = ("--auth-token", "-t", "--jwt-secret")
REUSE_PORT = "--reuse-port"  # ours, not Rasa's: taken out before Rasa reads the arguments
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


def shared_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` that other processes may bind too
    (``SO_REUSEPORT``: the kernel hands each new connection to one of them)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def extend_rasa_server(reuse_port: bool = False) -> None:
    """Add ``/health`` to the app ``rasa run`` builds, and serve it on a shared socket when
    ``reuse_port`` (this process serves that one app: Sanic's ``run`` is replaced here)."""
    import rasa.core.run as rasa_run
    from sanic import Sanic

    from connectors.files import add_file_route
    from connectors.health import add_health_route

    configure_app = rasa_run.configure_app

    def configure(*args, **kwargs):
        app = configure_app(*args, **kwargs)
        add_health_route(app)
        add_file_route(app)
        return app

    rasa_run.configure_app = configure
    if reuse_port:
        serve = Sanic.run

        def run_shared(app, *args, host=None, port=None, **options) -> None:
            options.pop("sock", None)
            sock = shared_socket(host or "127.0.0.1", int(port or 5005))
            serve(app, *args, sock=sock, **options)

        Sanic.run = run_shared


def main(argv: Sequence[str] | None = None) -> None:
    quiet_library_warnings()
    from rasa.__main__ import main as rasa_main

    arguments = list(sys.argv[1:] if argv is None else argv)
    extend_rasa_server(reuse_port=REUSE_PORT in arguments)
    arguments = [argument for argument in arguments if argument != REUSE_PORT]
    sys.argv = ["rasa", *rasa_arguments(arguments)]
    rasa_main()


if __name__ == "__main__":
    main()
