"""A local stand-in for api.twilio.com and a signed-webhook builder, for tests and the bench."""

from __future__ import annotations

import asyncio
import base64
import itertools
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

from aiohttp import web

from connectors.core.signatures import twilio_signature


@dataclass
class SentMessage:
    """One Messages.json request the stand-in accepted (or refused)."""

    account_sid: str
    auth: tuple[str, str]
    fields: dict[str, list[str]]
    status: int
    at: float = field(default_factory=time.monotonic)

    def one(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[0] if values else None


class TwilioStandIn:
    """Speaks the Messages.json protocol on 127.0.0.1 (basic auth, form fields) in a thread.

    ``hold`` maps a ``To`` address to a number of requests to leave unanswered for ``hold_s``;
    ``fail`` maps a ``To`` to a list of HTTP statuses to answer first (e.g. ``[503, 429]``).
    """

    def __init__(self, account_sid: str, auth_token: str) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.sent: list[SentMessage] = []
        self.hold: dict[str, int] = {}
        self.hold_s = 60.0
        self.fail: dict[str, list[int]] = {}
        self._ids = itertools.count(1)
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> TwilioStandIn:
        ready = threading.Event()
        threading.Thread(target=self._serve, args=(ready,), daemon=True).start()
        if not ready.wait(10):
            raise TimeoutError("Twilio stand-in did not start")
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)

    def _serve(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{account}/Messages.json", self._create)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        ready.set()
        self._loop.run_forever()

    async def _create(self, request: web.Request) -> web.Response:
        auth = _basic_auth(request.headers.get("Authorization", ""))
        form = await request.post()
        fields: dict[str, list[str]] = {}
        for name, value in form.items():
            fields.setdefault(name, []).append(str(value))
        to = (fields.get("To") or [""])[0]
        if auth != (self.account_sid, self.auth_token):
            return self._record(request, auth, fields, 401, {"code": 20003, "message": "Auth"})
        if self.fail.get(to):
            status = self.fail[to].pop(0)
            return self._record(request, auth, fields, status, {"code": status, "message": "x"})
        if self.hold.get(to):
            self.hold[to] -= 1
            # The sender is killed while waiting here; a reply nobody reads was never delivered.
            deadline = time.monotonic() + self.hold_s
            while time.monotonic() < deadline:
                if request.transport is None or request.transport.is_closing():
                    return self._record(request, auth, fields, 499, {"message": "abandoned"})
                await asyncio.sleep(0.05)
        body = (fields.get("Body") or [""])[0]
        if len(body) > 1600:
            return self._record(request, auth, fields, 400, {"code": 21617, "message": "long"})
        sid = f"SM{next(self._ids):032x}"
        return self._record(request, auth, fields, 201, {"sid": sid, "status": "queued"})

    def _record(self, request, auth, fields, status: int, answer: dict) -> web.Response:
        account = request.match_info["account"]
        self.sent.append(SentMessage(account, auth, fields, status))
        return web.json_response(answer, status=status)

    def delivered_to(self, to: str) -> list[SentMessage]:
        """Accepted messages (201) to ``to``, in arrival order."""
        return [m for m in list(self.sent) if m.status == 201 and m.one("To") == to]

    async def wait_for(self, to: str, count: int, timeout: float = 30.0) -> list[SentMessage]:
        """Wait until ``count`` messages to ``to`` were accepted (returns what arrived)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.delivered_to(to)
            if len(found) >= count:
                return found
            await asyncio.sleep(0.05)
        return self.delivered_to(to)


def _basic_auth(header: str) -> tuple[str, str] | None:
    if not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return user, password


_sids = itertools.count(1)


def inbound_form(
    sender: str, body: str = "", *, account_sid: str, to: str = "whatsapp:+14155238886", **extra
) -> dict[str, str]:
    """The form fields of a Twilio WhatsApp inbound webhook (a fresh ``MessageSid``)."""
    fields = {
        "SmsMessageSid": "",
        "NumMedia": "0",
        "ProfileName": "Test User",
        "WaId": sender.removeprefix("whatsapp:+"),
        "SmsStatus": "received",
        "Body": body,
        "To": to,
        "NumSegments": "1",
        "MessageSid": f"SM{time.time_ns():x}{next(_sids):06d}",
        "AccountSid": account_sid,
        "From": sender,
        "ApiVersion": "2010-04-01",
    }
    fields.update({name: str(value) for name, value in extra.items()})
    fields["SmsMessageSid"] = fields["MessageSid"]
    return fields


def signed_request(auth_token: str, url: str, fields: dict[str, str]) -> tuple[bytes, dict]:
    """The body and headers Twilio would POST to ``url`` for ``fields``."""
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature(auth_token, url, fields),
    }
    return urlencode(fields).encode(), headers


class RasaProcess:
    """``rasa run`` as a real subprocess with the Twilio channel pointed at a stand-in."""

    def __init__(
        self,
        *,
        root,
        workdir,
        model,
        action_url: str,
        twilio_url: str,
        account_sid: str,
        auth_token: str,
        public_url: str | None = None,
        env: dict[str, str] | None = None,
        rest: bool = False,
        port: int | None = None,
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
        credentials = (
            "connectors.twilio_whatsapp.TwilioWhatsAppInput:\n"
            f'  account_sid: "{account_sid}"\n'
            f'  auth_token: "{auth_token}"\n'
            '  whatsapp_number: "+14155238886"\n'
            f'  public_url: "{self.public_url}"\n'
            f'  api_url: "{twilio_url}"\n'
            "  send_backoff_s: 0.05\n"
        )
        if rest:
            credentials += "rest:\n"
        (self.workdir / "credentials.yml").write_text(credentials)
        (self.workdir / "endpoints.yml").write_text(
            f'action_endpoint:\n  url: "{action_url}"\n  enable_selective_domain: true\n'
        )

    @property
    def webhook_url(self) -> str:
        return f"{self.public_url}/webhooks/whatsapp_twilio/webhook"

    def start(self, timeout: float = 120.0) -> RasaProcess:
        import os
        import subprocess
        import sys
        import urllib.request
        from pathlib import Path

        rasa = str(Path(sys.executable).with_name("rasa"))
        env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}
        env.update(self.env)
        self.log = open(self.workdir / f"rasa-{time.time_ns()}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                rasa,
                "run",
                "--model",
                str(self.model),
                "--endpoints",
                str(self.workdir / "endpoints.yml"),
                "--credentials",
                str(self.workdir / "credentials.yml"),
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
        health = f"{self.url}/webhooks/whatsapp_twilio/"
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
