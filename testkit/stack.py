"""Everything ``make run`` starts, every channel configured, against local stand-ins: the Twilio,
Graph API and SMTP stand-ins, the action server, a worker and ``rasa run`` on one database."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from testkit.mail import SmtpServer
from testkit.payloads import every_channel_credentials
from testkit.processes import RasaProcess, action_server, free_port, worker_process
from testkit.standins import GraphStandIn, TwilioStandIn

ROOT = Path(__file__).resolve().parents[1]
GRAPH_VERSION = "v23.0"


@dataclass(frozen=True)
class Provider:
    """What the providers of one stack are told: secrets, ids, our addresses."""

    secrets: dict[str, str]  # see ``every_channel_credentials``
    meta_ids: tuple[str, str, str]  # phone number id, Page id, Instagram account id
    public_url: str = "https://misybot.example.com"
    bot_email: str = "bot@misy.example"
    smtp_password: str = "smtp-secret"


@dataclass
class EveryChannel:
    """A running stack: its servers and the environment its processes share."""

    env: dict[str, str]
    twilio: TwilioStandIn
    graph: GraphStandIn
    smtp: SmtpServer
    action_url: str
    rasa: RasaProcess
    extra: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.rasa.url


@contextlib.contextmanager
def every_channel_stack(
    provider: Provider,
    *,
    model: Path,
    workdir: Path,
    env: dict[str, str],
    rasa_env: dict[str, str] | None = None,
) -> Iterator[EveryChannel]:
    """Start the stack on ``env``'s database (``MISYBOT_DATABASE_URL``, maybe ``PGOPTIONS``);
    ``rasa_env`` adds settings of the Rasa server's own."""
    secrets = provider.secrets
    with contextlib.ExitStack() as resources:
        twilio = TwilioStandIn(secrets["account_sid"], secrets["auth_token"]).start()
        resources.callback(twilio.stop)
        graph = GraphStandIn(
            version=GRAPH_VERSION,
            phone_number_id=provider.meta_ids[0],
            whatsapp_token=secrets["whatsapp_token"],
            messenger_token=secrets["messenger_token"],
            instagram_token=secrets["instagram_token"],
        ).start()
        resources.callback(graph.stop)
        smtp = SmtpServer(provider.bot_email, provider.smtp_password).start()
        resources.callback(smtp.stop)
        # Results are asserted, not "working on it": a loaded machine may be slow.
        actions_env = {**os.environ, **env, "MISYBOT_INLINE_DEADLINE_S": "30"}
        action_url = resources.enter_context(action_server(actions_env))
        # The worker pushes results and notifications to this stack's Rasa server.
        port = free_port()
        worker_env = {**os.environ, "MISYBOT_RASA_URL": f"http://127.0.0.1:{port}", **env}
        resources.enter_context(worker_process(worker_env, cwd=ROOT))
        database = {k: v for k, v in env.items() if k in ("MISYBOT_DATABASE_URL", "PGOPTIONS")}
        rasa = RasaProcess(
            root=ROOT,
            port=port,
            workdir=workdir,
            model=model,
            action_url=action_url,
            credentials=every_channel_credentials(
                graph_url=graph.url,
                twilio_url=twilio.url,
                smtp_port=smtp.port,
                secrets=secrets,
                public_url=provider.public_url,
                bot_email=provider.bot_email,
                meta_ids=provider.meta_ids,
            ),
            health_channel="rest",
            public_url=provider.public_url,
            env={**database, **(rasa_env or {})},
        )
        rasa.start(timeout=240)
        resources.callback(rasa.stop)
        yield EveryChannel(env, twilio, graph, smtp, action_url, rasa)
