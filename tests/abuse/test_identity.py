"""Who is asking: only a sender a connector signed, never an id or a channel a caller chose."""

from __future__ import annotations

import json
import os
import subprocess
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import aiohttp
import pytest

from connectors.serve import rasa_arguments
from misybot.identity import LOCAL, METADATA_KEY, VerifiedSender
from misybot.secrets import SecretsFileError, load_secrets
from misybot.settings import Settings, get_settings
from testkit.processes import free_port, listening_addresses

ROOT = Path(__file__).resolve().parents[2]
ANA_WHATSAPP = "whatsapp:+351910000001"  # the demo admin's number


def test_a_signed_sender_holds_only_unchanged_and_in_its_own_conversation():
    key = b"k" * 32
    sender = VerifiedSender(ANA_WHATSAPP, "whatsapp", "+351910000001")
    signed = sender.signed(key)
    assert VerifiedSender.from_signed(signed, key, ANA_WHATSAPP) == sender
    assert VerifiedSender.from_signed(signed, b"another key", ANA_WHATSAPP) is None
    assert VerifiedSender.from_signed(signed, key, "rest:" + ANA_WHATSAPP) is None
    for field, value in (("address", "+351910000002"), ("channel", LOCAL), ("v", 2)):
        assert VerifiedSender.from_signed({**signed, field: value}, key, ANA_WHATSAPP) is None
    for junk in (None, "x", [], {}, {**signed, "signature": None}, {**signed, "address": 1}):
        assert VerifiedSender.from_signed(junk, key, ANA_WHATSAPP) is None


def _action_call(action: str, intent: str, slots: dict, metadata: dict | None) -> dict:
    """What Rasa posts to the action server, made up by a caller who is not Rasa."""
    latest = {"text": "contact for northwind", "intent": {"name": intent, "confidence": 1.0}}
    user = {
        "event": "user",
        "text": latest["text"],
        "parse_data": latest,
        "input_channel": "whatsapp_twilio",  # what Rasa's API lets a caller choose
        "metadata": metadata or {},
    }
    return {
        "next_action": action,
        "sender_id": ANA_WHATSAPP,
        "version": "3.6.2",
        "domain": {},
        "tracker": {
            "sender_id": ANA_WHATSAPP,
            "slots": slots,
            "latest_message": latest,
            "events": [user],
            "latest_action_name": "action_listen",
        },
    }


async def _post_action(url: str, call: dict) -> dict:
    async with aiohttp.ClientSession() as http, http.post(url, json=call) as response:
        assert response.status == 200
        return await response.json()


async def test_a_made_up_tracker_posted_to_the_action_server_names_nobody(
    action_server_url, worker
):
    forged = VerifiedSender(ANA_WHATSAPP, "whatsapp", "+351910000001").signed(b"guessed")
    slots = {"supplier": "Northwind"}
    for metadata in (None, {METADATA_KEY: forged}, {"address": "+351910000001"}):
        call = _action_call("action_check_supplier", "check_supplier", slots, metadata)
        answer = await _post_action(action_server_url, call)
        assert [r["response"] for r in answer["responses"]] == ["utter_not_registered"]
        assert "northwind-traders" not in json.dumps(answer)
    # The same call with the sender signed by a connector of this installation is answered.
    genuine = VerifiedSender(ANA_WHATSAPP, "whatsapp", "+351910000001")
    metadata = {METADATA_KEY: genuine.signed(get_settings().signing_key)}
    call = _action_call("action_check_supplier", "check_supplier", slots, metadata)
    answer = await _post_action(action_server_url, call)
    assert "sales@northwind-traders.example" in json.dumps(answer)


def test_the_action_server_make_run_starts_listens_on_loopback_only(demo_database_url):
    port = free_port()
    env = {**os.environ, "ACTIONS_PORT": str(port), "MISYBOT_DATABASE_URL": demo_database_url}
    started = subprocess.run(
        ["scripts/actions-server.sh"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert started.returncode == 0, started.stderr
    pid = int(started.stdout.strip())
    try:
        assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, nothing else
    finally:
        os.kill(pid, 15)


def test_secrets_are_generated_once_private_and_shared_by_every_process(tmp_path):
    path = tmp_path / "var" / "secrets.json"
    with ProcessPoolExecutor(4) as pool:  # several processes starting at once agree
        seen = list(pool.map(_secrets_in_a_process, [str(path)] * 8))
    assert all(values == seen[0] for values in seen)
    assert set(seen[0]) == {"rasa_api_token", "identity_key"}
    assert all(len(value) >= 40 for value in seen[0].values())
    assert path.stat().st_mode & 0o777 == 0o600
    settings = Settings.from_environ({"MISYBOT_SECRETS_FILE": str(path)})
    assert settings.api_token == seen[0]["rasa_api_token"]
    overridden = Settings.from_environ(
        {"MISYBOT_SECRETS_FILE": str(path), "MISYBOT_RASA_TOKEN": "from-the-environment"}
    )
    assert overridden.api_token == "from-the-environment"  # the environment wins
    path.chmod(0o644)
    load_secrets.cache_clear()
    with pytest.raises(SecretsFileError, match="readable by others"):
        load_secrets(path)


def _secrets_in_a_process(path: str) -> dict[str, str]:
    return load_secrets(Path(path))


def test_the_http_api_is_never_started_without_a_token():
    token = get_settings().api_token
    assert rasa_arguments(["--enable-api", "--port", "5005"]) == [
        "run",
        "--enable-api",
        "--port",
        "5005",
        "--auth-token",
        token,
    ]
    assert rasa_arguments(["--enable-api", "--auth-token", "mine"])[-1] == "mine"
    with_jwt = ["--enable-api", "--jwt-secret=s"]
    assert rasa_arguments(with_jwt) == ["run", *with_jwt]
    assert rasa_arguments(["--port", "5005"]) == ["run", "--port", "5005"]  # no API: no token
