"""Mail servers on loopback for the e-mail channel: a private Dovecot (IMAP) and aiosmtpd (SMTP),
messages to send them, a signed Mailgun form, and ``rasa run`` with the e-mail channel."""

from __future__ import annotations

import asyncio
import imaplib
import itertools
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import warnings
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formatdate, make_msgid
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from connectors.email.mailgun import mailgun_signature
from testkit.processes import RasaProcess, free_port

ROOT = Path(__file__).resolve().parents[1]


_APPENDUID = re.compile(rb"APPENDUID (\d+) (\d+)")


DOVECOT_CONF = """\
protocols = imap
listen = 127.0.0.1
base_dir = {dir}/run
state_dir = {dir}/state
instance_name = misybot-test-{port}
log_path = {dir}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{dir}/mail/%u
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {dir}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={dir}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


class DovecotUnavailable(RuntimeError):
    """Dovecot is not installed and could not be (not root)."""


class DovecotServer:
    """A private Dovecot on ``127.0.0.1:<port>``: its own config, users and maildirs in a temp
    dir; the system's Dovecot service and configuration are left alone."""

    def __init__(self, users: dict[str, str]) -> None:
        self.users = users
        self.port = free_port()
        self.dir: Path | None = None
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 20.0) -> DovecotServer:
        installed = subprocess.run(
            [str(ROOT / "scripts" / "test-services.sh")], capture_output=True, text=True
        )
        if installed.returncode != 0:
            raise DovecotUnavailable(installed.stderr.strip() or "test-services.sh failed")
        # Dovecot drops privileges to read mail: the folders must be reachable by that user.
        self.dir = Path(tempfile.mkdtemp(prefix="misybot-dovecot-"))
        os.chmod(self.dir, 0o755)
        for name in ("run", "state", "mail"):
            (self.dir / name).mkdir()
        uid, gid = (65534, 65534) if os.geteuid() == 0 else (os.geteuid(), os.getegid())
        os.chown(self.dir / "mail", uid, gid)
        (self.dir / "passwd").write_text(
            "".join(f"{user}:{{PLAIN}}{password}\n" for user, password in self.users.items())
        )
        config = self.dir / "dovecot.conf"
        config.write_text(DOVECOT_CONF.format(dir=self.dir, port=self.port, uid=uid, gid=gid))
        self.process = subprocess.Popen(
            ["dovecot", "-F", "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.dir / "dovecot.log").read_text() if self.dir else ""
                raise RuntimeError(f"dovecot exited with {self.process.returncode}: {log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    if sock.recv(64).startswith(b"* OK"):
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise TimeoutError("dovecot did not answer")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def client(self, user: str) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        client.login(user, self.users[user])
        return client

    def append(self, user: str, raw: bytes, folder: str = "INBOX") -> int:
        """Deliver ``raw`` into ``user``'s folder (IMAP APPEND); returns its UID."""
        client = self.client(user)
        try:
            typ, data = client.append(folder, None, None, raw)
            if typ != "OK":
                raise RuntimeError(f"APPEND failed: {data!r}")
            return int(_APPENDUID.search(data[0]).group(2))
        finally:
            client.logout()

    def flags(self, user: str, uid: int, folder: str = "INBOX") -> str:
        client = self.client(user)
        try:
            client.select(folder)
            typ, data = client.uid("FETCH", str(uid), "(FLAGS)")
            return data[0].decode() if data and data[0] else ""
        finally:
            client.logout()


_ids = itertools.count(1)


def make_mail(
    sender: str,
    body: str,
    *,
    subject: str = "Question",
    to: str = "MisyBot <bot@misy.example>",
    message_id: str | None = None,
    html: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """An RFC 5322 message as a mail client would send it."""
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id or make_msgid(f"t{next(_ids)}", domain="client.example")
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return bytes(message)


def self_signed_certificate(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (PEM files in ``folder``), valid for a day."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


class SmtpServer:
    """aiosmtpd on loopback requiring AUTH (``password`` may be changed while it runs); keeps
    every accepted message. ``refuse`` holds recipients answered with a permanent 550.
    With ``certificate`` (cert, key) it requires STARTTLS, or speaks TLS from the start when
    ``implicit_tls``."""

    def __init__(
        self,
        user: str,
        password: str,
        certificate: tuple[Path, Path] | None = None,
        implicit_tls: bool = False,
    ) -> None:
        self.user = user
        self.password = password
        self.certificate = certificate
        self.implicit_tls = implicit_tls
        self.received: list[tuple[list[str], EmailMessage]] = []
        self.auth_attempts: list[tuple[str, bool]] = []
        self.refuse: set[str] = set()
        self.port = free_port()
        self.controller: Controller | None = None

    def start(self) -> SmtpServer:
        options: dict = {"auth_require_tls": False}
        if self.certificate is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*map(str, self.certificate))
            if self.implicit_tls:
                options = {"ssl_context": context, "auth_require_tls": False}
            else:
                options = {"tls_context": context, "require_starttls": True}
        with warnings.catch_warnings():  # AUTH without TLS: fine on loopback, in tests
            warnings.simplefilter("ignore", UserWarning)
            self.controller = Controller(
                self,
                hostname="127.0.0.1",
                port=self.port,
                authenticator=self._authenticate,
                auth_required=True,
                **options,
            )
            self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.user
            and auth_data.password.decode() == self.password
        )
        self.auth_attempts.append((mechanism, ok))
        return AuthResult(success=ok, handled=False)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        message = BytesParser(policy=policy.default).parsebytes(envelope.content)
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted"

    def delivered_to(self, address: str) -> list[EmailMessage]:
        return [message for rcpts, message in list(self.received) if address in rcpts]

    async def wait_for(self, address: str, count: int, timeout: float = 60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.delivered_to(address)
            if len(found) >= count:
                return found
            await asyncio.sleep(0.05)
        return self.delivered_to(address)


def mailgun_form(signing_key: str, raw: bytes | None = None, **fields: str) -> dict[str, str]:
    """The form a Mailgun route forwards (signed now with a fresh token)."""
    timestamp = fields.pop("timestamp", str(int(time.time())))
    token = fields.pop("token", os.urandom(25).hex())
    form = {"timestamp": timestamp, "token": token}
    form["signature"] = mailgun_signature(signing_key, timestamp, token)
    if raw is not None:
        form["body-mime"] = raw.decode("utf-8")
    form.update(fields)
    return form


class EmailRasaProcess(RasaProcess):
    """``rasa run`` with the e-mail channel on the given IMAP/SMTP servers (next to the
    WhatsApp channel, whose health route tells when the server is up)."""

    def __init__(self, *, email: dict[str, object], **kwargs) -> None:
        super().__init__(
            twilio_url="http://127.0.0.1:9",
            account_sid="AC" + "0" * 32,
            auth_token="unused",
            **kwargs,
        )
        self.email = email
        self.write_credentials()

    def write_credentials(self) -> None:
        twilio = (self.workdir / "credentials.yml").read_text().split("connectors.email")[0]
        section = "connectors.email.EmailInput:\n" + "".join(
            f"  {name}: {json.dumps(value)}\n" for name, value in self.email.items()
        )
        (self.workdir / "credentials.yml").write_text(twilio + section)

    @property
    def mailgun_url(self) -> str:
        return f"{self.url}/webhooks/email/mailgun"
