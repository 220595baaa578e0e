"""``misybot users …`` as an admin types it: refusals are explained, the audit log reads back."""

from __future__ import annotations

import pytest

from misybot.cli import main
from misybot.db.engine import create_db_engine
from misybot.db.migrate import upgrade
from misybot.settings import get_settings


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'people.db'}"
    monkeypatch.setenv("MISYBOT_DATABASE_URL", url)
    get_settings.cache_clear()
    engine = create_db_engine(url)
    upgrade(engine)
    engine.dispose()

    def run(*args: str) -> tuple[int, str]:
        status = main(list(args))
        return status, capsys.readouterr().out

    assert run("company", "create", "acme", "--name", "Acme")[0] == 0
    yield run
    get_settings.cache_clear()


def test_a_company_starts_with_an_admin_and_every_change_is_in_the_audit_log(cli):
    admin = ("--company", "acme", "--admin", "rita@acme.example")
    status, out = cli("users", "add", "--company", "acme", "--name", "Bob", "--role", "viewer")
    assert status == 1 and "name the admin" in out  # a company's first user is its admin
    status, out = cli("users", "add", "--company", "acme", "--name", "Rita", "--role", "admin",
                      "--email", "Rita@Acme.example")  # fmt: skip
    assert status == 0 and "rita@acme.example" in out
    status, out = cli("users", "add", *admin, "--name", "Bob", "--phone", "912 000 009")
    assert status == 1 and "no country code" in out
    status, out = cli("users", "add", *admin, "--name", "Bob", "--phone", "912 000 009",
                      "--country-code", "351")  # fmt: skip
    assert status == 0 and "+351912000009" in out
    assert cli("users", "link", *admin, "+351912000009", "--channel", "messenger",
               "--address", "6001")[0] == 0  # fmt: skip
    status, out = cli("users", "link", *admin, "rita@acme.example", "--channel", "messenger",
                      "--address", "6001")  # fmt: skip
    assert status == 1 and "already linked to Bob" in out
    status, out = cli("users", "deactivate", *admin, "rita@acme.example")
    assert status == 1 and "last active admin" in out
    status, out = cli("users", "audit", *admin, "--user", "+351 912 000 009")
    assert status == 0
    assert [line.split()[2] for line in out.splitlines()] == ["user.add", "identity.link"]
    assert "Bob" not in out and "6001" not in out  # ids and kinds, never names or addresses
    status, out = cli("users", "list", "--company", "acme", "--admin", "bob@acme.example")
    assert status == 1 and "Not found" in out
