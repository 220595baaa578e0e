"""The project's servers as real processes: ``rasa run`` (through ``connectors.serve``), the
action server and an orchestrator worker, each waited for until it answers."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, timeout: float = 90.0) -> None:
    """Wait until ``url`` answers, failing early if ``process`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode} before serving")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


@contextmanager
def worker_process(
    env: dict[str, str], cwd: Path | None = None, timeout: float = 60.0
) -> Iterator[subprocess.Popen]:
    """A ``misybot worker`` on ``env``'s database, yielded once it says it is working
    (``worker.started``), stopped afterwards."""
    misybot = Path(sys.executable).with_name("misybot")
    process = subprocess.Popen(
        [str(misybot), "worker"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,  # the CLI says why it refuses on stdout, logs go to stderr
        stderr=subprocess.STDOUT,
        text=True,
    )
    started = threading.Event()
    log: deque[str] = deque(maxlen=20)  # why it stopped, should it stop before starting

    def read_log() -> None:  # to the end: a full pipe would stall the worker
        for line in process.stdout:
            log.append(line)
            if "worker.started" in line:
                started.set()

    reader = threading.Thread(target=read_log, name="worker-log", daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + timeout
        while not started.wait(0.1):
            if process.poll() is not None:
                reader.join(5)  # the rest of what it wrote
                raise RuntimeError(
                    f"misybot worker exited with {process.returncode}:\n{''.join(log)}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(f"misybot worker did not start within {timeout:.0f} s")
        yield process
    finally:
        process.terminate()
        process.wait(timeout=20)


class RasaProcess:
    """``rasa run`` as a real subprocess with the Twilio channel pointed at a stand-in."""

    def __init__(
        self,
        *,
        root,
        workdir,
        model,
        action_url: str,
        twilio_url: str = "",
        account_sid: str = "",
        auth_token: str = "",
        public_url: str | None = None,
        env: dict[str, str] | None = None,
        rest: bool = False,
        port: int | None = None,
        credentials: str | None = None,
        health_channel: str = "whatsapp_twilio",
    ) -> None:
        import socket
        from pathlib import Path

        self.root = Path(root)
        self.workdir = Path(workdir)
        self.model = model
        if port is None:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.public_url = public_url or self.url
        self.env = env or {}
        self.process = None
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.health_channel = health_channel
        credentials = credentials or (
            "connectors.twilio.TwilioWhatsAppInput:\n"
            f'  account_sid: "{account_sid}"\n'
            f'  auth_token: "{auth_token}"\n'
            '  whatsapp_number: "+14155238886"\n'
            f'  public_url: "{self.public_url}"\n'
            f'  api_url: "{twilio_url}"\n'
            "  send_backoff_s: 0.05\n"
        )
        if rest:
            credentials += "connectors.local.LocalInput:\n"
        (self.workdir / "credentials.yml").write_text(credentials)
        (self.workdir / "endpoints.yml").write_text(endpoints_yaml(self.root, action_url))

    @property
    def webhook_url(self) -> str:
        return f"{self.public_url}/webhooks/whatsapp_twilio/webhook"

    @property
    def api_token(self) -> str:
        """The HTTP API's token (the test run's generated one, unless the env sets another)."""
        from misybot.settings import Settings

        return Settings.from_environ({**os.environ, **self.env}).api_token

    def start(self, timeout: float = 300.0) -> RasaProcess:  # a loaded 2-core CI machine
        import os
        import subprocess
        import sys
        import urllib.request

        env = {
            **os.environ,
            "RASA_TELEMETRY_ENABLED": "false",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            # The tests' action server waits up to 30 s for an agent before "working on it".
            "MISYBOT_CHANNEL_TURN_BUDGET_S": "120",
        }
        env.update(self.env)
        self.log = open(self.workdir / f"rasa-{time.time_ns()}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "connectors.serve",  # ``rasa run``, the HTTP API behind the installation's token
                "--model",
                str(self.model),
                "--endpoints",
                str(self.workdir / "endpoints.yml"),
                "--credentials",
                str(self.workdir / "credentials.yml"),
                "--interface",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--quiet",
                "--enable-api",
            ],
            cwd=self.root,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        health = f"{self.url}/webhooks/{self.health_channel}/"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"rasa run exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(health, timeout=1):
                    return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"rasa run did not serve within {timeout:.0f} s")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks run (what a crash or an OOM kill does)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=20)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except Exception:
                self.process.kill()
                self.process.wait(timeout=20)
        if getattr(self, "log", None):
            self.log.close()


def endpoints_yaml(root, action_url: str) -> str:
    """The repository's ``endpoints.yml`` (its tracker and lock stores included) with the
    action endpoint at ``action_url``: what tests and benches run is what ships."""
    from pathlib import Path

    import yaml

    endpoints = yaml.safe_load((Path(root) / "endpoints.yml").read_text())
    endpoints["action_endpoint"]["url"] = action_url
    return yaml.safe_dump(endpoints, sort_keys=False)


def action_endpoint(url: str):
    """The action endpoint of ``endpoints.yml`` (its options included), pointed at ``url`` — for
    tests, benches and the transcript that load the agent in-process."""
    from pathlib import Path

    from rasa.core.utils import read_endpoints_from_path

    root = Path(__file__).resolve().parents[1]
    configured = read_endpoints_from_path(root / "endpoints.yml").action
    configured.url = url
    return configured


@contextlib.contextmanager
def action_server(env: dict[str, str] | None = None):
    """A rasa_sdk action server serving ``actions/`` (with ``env``, e.g. its database) for tests,
    benches and the transcript; yields its webhook URL and stops it afterwards."""
    from pathlib import Path

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "rasa_sdk", "--actions", "actions", "--port", str(port)],
        cwd=Path(__file__).resolve().parents[1],
        env={"SANIC_HOST": "127.0.0.1", **(os.environ if env is None else env)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/health", process)
        yield f"http://127.0.0.1:{port}/webhook"
    finally:
        process.terminate()
        process.wait(timeout=20)


def listening_addresses(port: int) -> set[str]:
    """The local addresses sockets listen on at ``port``, as /proc/net/tcp{,6} spell them
    (``0100007F`` is 127.0.0.1; ``00000000`` would be every interface)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                address, port_hex = fields[1].split(":")
                if fields[3] == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
                    found.add(address)
    return found


def misybot_cli(env: dict[str, str], *args: str) -> str:
    """``misybot …`` as an admin runs it, on ``env``'s database (added to this environment);
    its output. Fails the test with what it printed when it does not succeed."""
    command = str(Path(sys.executable).with_name("misybot"))
    done = subprocess.run(
        [command, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout
