"""The notifications outbox: what a finished run or a new alert queues for whom (once each,
never across companies), where it can go now, digests at local time, and report links."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, update

from misybot.db.models import Alert, ChannelIdentity, Company, Notification, Subscription
from misybot.db.session import make_session_factory, session_scope
from misybot.db.types import utc_now
from misybot.enums import AlertCategory, AlertSeverity, Channel, Role
from misybot.links import (
    LinkRefused,
    LinkTarget,
    open_report_file,
    parse_link,
    report_links,
    verify,
)
from misybot.notify import outbox, subscriptions
from misybot.orchestrator import queue
from misybot.people.reach import publish_reach, route
from misybot.settings import Settings
from testkit.database import Builder, wrote

NOW = utc_now()


@pytest.fixture
def sessions(engine):
    return make_session_factory(engine)


def _alert(session, company_id: int, severity: AlertSeverity, key: str) -> int:
    alert = Alert(
        company_id=company_id,
        severity=severity,
        category=AlertCategory.OUT_OF_STOCK,
        title=f"{key} is out of stock",
        message="0 left",
        condition_key=key,
    )
    session.add(alert)
    session.flush()
    return alert.id


def _notifications(session) -> list[tuple[int, str, int | None, int | None]]:
    rows = session.execute(
        select(
            Notification.user_id,
            Notification.kind,
            Notification.alert_id,
            Notification.execution_id,
        ).order_by(Notification.id)
    ).all()
    return [tuple(row) for row in rows]


def test_new_alerts_reach_each_subscriber_of_their_company_once(sessions):
    with session_scope(sessions) as session:
        acme, other = Builder(session), Builder(session, "globex")
        ana = acme.user("Ana Silva", Role.OPERATOR)
        rui = acme.user("Rui Costa", Role.VIEWER)
        quiet = acme.user("Quiet Person", Role.VIEWER)  # not subscribed
        eve = other.user("Eve Other", Role.ADMIN)
        subscriptions.subscribe_alerts(session, acme.actor(ana), AlertSeverity.CRITICAL)
        subscriptions.subscribe_alerts(session, acme.actor(rui), None)  # high and worse
        subscriptions.subscribe_alerts(session, other.actor(eve), None)
        ids = (ana.id, rui.id, quiet.id, eve.id)
    with session_scope(sessions) as session:
        critical = _alert(session, acme.id, AlertSeverity.CRITICAL, "out:1")
        high = _alert(session, acme.id, AlertSeverity.HIGH, "low:2")
        _alert(session, acme.id, AlertSeverity.MEDIUM, "low:3")  # never pushed
        first = outbox.fan_out_alerts(session, acme.id)
        again = outbox.fan_out_alerts(session, acme.id)  # the next scan sees them again
        found = _notifications(session)
    ana_id, rui_id, _quiet_id, eve_id = ids
    assert len(first) == 3 and again == []
    assert sorted((u, a) for u, _, a, _ in found) == sorted(
        [(ana_id, critical), (rui_id, critical), (rui_id, high)]
    )
    assert all(user != eve_id for user, *_ in found)


def test_an_alert_raised_before_the_subscription_is_not_pushed(sessions):
    with session_scope(sessions) as session:
        acme = Builder(session)
        ana = acme.user("Ana Silva", Role.OPERATOR)
        old = _alert(session, acme.id, AlertSeverity.CRITICAL, "out:old")
        session.execute(
            update(Alert).where(Alert.id == old).values(created_at=NOW - timedelta(days=1))
        )
        subscriptions.subscribe_alerts(session, acme.actor(ana), AlertSeverity.CRITICAL)
        assert outbox.fan_out_alerts(session, acme.id) == []


def test_a_recurring_run_is_pushed_only_with_news_unless_every_run_was_asked(sessions):
    with session_scope(sessions) as session:
        acme = Builder(session)
        ana = acme.user("Ana Silva", Role.OPERATOR)
        common = dict(company_id=acme.id, user_id=ana.id, agent_type="inventory_monitor")
        nothing = {"raised": [], "cleared": [], "unresolved_count": 2}
        news = {"raised": [{"id": 1}], "cleared": []}
        assert (
            outbox.on_finished(
                session,
                execution_id=_run(session, acme, ana),
                context={"notify": "new"},
                result=nothing,
                **common,
            )
            is None
        )  # noqa: E501
        assert outbox.on_finished(
            session,
            execution_id=_run(session, acme, ana),
            context={"notify": "new"},
            result=news,
            **common,
        )  # noqa: E501
        assert outbox.on_finished(
            session,
            execution_id=_run(session, acme, ana),
            context={"notify": "always"},
            result=nothing,
            **common,
        )  # noqa: E501
        assert outbox.on_finished(
            session,
            execution_id=_run(session, acme, ana),
            context={"notify": "new"},
            result=None,
            **common,
        )  # noqa: E501 - a failure is news
        assert (
            outbox.on_finished(
                session, execution_id=_run(session, acme, ana), context={}, result=news, **common
            )
            is None
        )  # noqa: E501 - a chat command: answered in its turn
        assert session.execute(select(func.count(Notification.id))).scalar_one() == 3


def _run(session, builder, user) -> int:
    return queue.enqueue(
        session, company_id=builder.id, user_id=user.id, agent_type="inventory_monitor", context={}
    )


def test_a_digest_is_due_at_seven_company_time_and_then_the_next_day(sessions):
    with session_scope(sessions) as session:
        acme = Builder(session)
        session.execute(update(Company).where(Company.id == acme.id).values(timezone="Asia/Tokyo"))
        ana = acme.user("Ana Silva", Role.VIEWER)
        now = datetime(2026, 12, 2, 20, 0, tzinfo=timezone.utc)  # 05:00 in Tokyo
        standing = subscriptions.subscribe_digest(session, acme.actor(ana), 420, now=now)
        assert standing.digest_at == "07:00" and standing.timezone == "Asia/Tokyo"
        row = session.execute(select(Subscription)).scalar_one()
        assert row.next_at == datetime(2026, 12, 2, 22, 0, tzinfo=timezone.utc)  # 07:00 JST
        assert subscriptions.enqueue_due_digests(session, {}) == []  # not yet (real now)
        session.execute(update(Subscription).values(next_at=utc_now() - timedelta(seconds=1)))
        (execution_id,) = subscriptions.enqueue_due_digests(session, {})
        job = queue.get_execution(session, execution_id)
        assert job.agent_type == "daily_digest" and job.user_id == ana.id
        assert job.context["notify"] == "always" and job.context["sender_id"] == f"user:{ana.id}"
        session.refresh(row)
        local = row.next_at.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo"))
        assert (local.hour, local.minute) == (7, 0) and row.next_at > utc_now()
        assert subscriptions.enqueue_due_digests(session, {}) == []  # once per day


def test_where_a_notification_goes(sessions):
    with session_scope(sessions) as session:
        acme = Builder(session)
        ana = acme.user("Ana Silva", Role.OPERATOR, preferred_channel=Channel.WHATSAPP)
        for channel, address in ((Channel.WHATSAPP, "+351910000001"), (Channel.EMAIL, "ana@x")):
            session.add(ChannelIdentity(user_id=ana.id, channel=channel, address=address))
        user_id = ana.id

    def where():
        with session_scope(sessions) as session:
            return route(session, user_id, NOW)

    assert where().transport is None  # nothing runs yet
    with session_scope(sessions) as session:
        publish_reach(session, "whatsapp_twilio", Channel.WHATSAPP, None)
        publish_reach(session, "email", Channel.EMAIL, None)
        wrote(session, user_id, Channel.WHATSAPP, "whatsapp_twilio", NOW - timedelta(hours=2))
    assert where().transport == "whatsapp_twilio"  # window open
    with session_scope(sessions) as session:
        wrote(session, user_id, Channel.WHATSAPP, "whatsapp_twilio", NOW - timedelta(hours=1))
        session.execute(
            update(outbox.ConversationMessage).values(received_at=NOW - timedelta(hours=30))
        )
    assert where().transport == "email"  # closed, no template: e-mail
    with session_scope(sessions) as session:
        publish_reach(session, "whatsapp_twilio", Channel.WHATSAPP, "template")
    assert where().transport == "whatsapp_twilio"  # the template carries it
    with session_scope(sessions) as session:
        publish_reach(session, "whatsapp_twilio", Channel.WHATSAPP, None)
        session.execute(
            ChannelIdentity.__table__.delete().where(ChannelIdentity.channel == Channel.EMAIL)
        )
    held = where()
    assert held.transport is None and "until they write" in held.reason


def test_a_held_notification_goes_out_once_its_person_writes(sessions):
    with session_scope(sessions) as session:
        acme = Builder(session)
        ana = acme.user("Ana Silva", Role.OPERATOR)
        subscriptions.subscribe_alerts(session, acme.actor(ana), None)
        _alert(session, acme.id, AlertSeverity.CRITICAL, "out:1")
        (notification_id,) = outbox.fan_out_alerts(session, acme.id)
        (due,) = outbox.claim(session, "w1", 60)
        assert outbox.claim(session, "w2", 60) == []  # leased
        outbox.hold(session, due.id, "no channel")
        assert not outbox.releasable(session)
        wrote(
            session, ana.id, Channel.WHATSAPP, "whatsapp_twilio", utc_now() + timedelta(seconds=1)
        )
        session.flush()
        assert outbox.releasable(session) and outbox.release_held(session) == 1
        (again,) = outbox.claim(session, "w1", 60)
        assert again.id == notification_id and again.attempts == 2


def test_report_links_are_signed_expiring_and_company_scoped(tmp_path):
    settings = Settings.from_environ(
        {
            "MISYBOT_IDENTITY_KEY": "k" * 32,
            "MISYBOT_PUBLIC_URL": "https://bot.example.com/",
            "MISYBOT_REPORTS_DIR": str(tmp_path),
        }
    )
    links = report_links("acme", "var/reports/acme/sales-7.csv", "x/sales-7.png", settings, NOW)
    assert links["csv"].startswith("https://bot.example.com/files/acme/sales-7.csv?expires=")
    assert "/files/acme/sales-7.png?" in links["png"]
    assert report_links("acme", "a.csv", "none", settings, NOW).keys() == {"csv"}
    company, name, expires, signature = parse_link(links["csv"], settings)
    assert verify(company, name, expires, signature, NOW, settings) == LinkTarget("acme", name)
    for forged in (
        ("globex", name, expires, signature),  # another company
        (company, "sales-8.csv", expires, signature),  # another file
        (company, name, str(int(expires) + 3600), signature),  # a longer life
        (company, name, expires, signature[:-1] + ("A" if signature[-1] != "A" else "B")),
        (company, "../secret.csv", expires, signature),
        (company, "sales-7.exe", expires, signature),
        ("../acme", name, expires, signature),
        (company, name, "", signature),
        (company, name, expires, ""),
        (company, "x" * 5000 + ".csv", expires, signature),
    ):
        with pytest.raises(LinkRefused):
            verify(*forged, NOW, settings)
    with pytest.raises(LinkRefused, match="expired"):
        verify(company, name, expires, signature, NOW + timedelta(hours=25), settings)
    other = Settings.from_environ({"MISYBOT_IDENTITY_KEY": "z" * 32})
    with pytest.raises(LinkRefused):
        verify(company, name, expires, signature, NOW, other)  # another installation's key
    assert parse_link("https://elsewhere.example/files/acme/a.csv", settings) is None


def test_a_link_opens_only_a_file_inside_its_companys_folder(tmp_path):
    settings = Settings.from_environ({"MISYBOT_REPORTS_DIR": str(tmp_path)})
    (tmp_path / "acme").mkdir()
    (tmp_path / "acme" / "r.csv").write_text("a,b\n1,2\n")
    (tmp_path / "secret.csv").write_text("x")
    found = open_report_file(LinkTarget("acme", "r.csv"), settings)
    assert found is not None and found.size == 8 and found.media_type.startswith("text/plain")
    assert open_report_file(LinkTarget("globex", "r.csv"), settings) is None
    assert open_report_file(LinkTarget("acme", "gone.csv"), settings) is None


def test_a_persons_subscriptions_are_in_their_export_and_gone_with_their_erasure(sessions):
    from misybot.privacy.erase import erase_person
    from misybot.privacy.export import export_person

    with session_scope(sessions) as session:
        acme = Builder(session)
        admin = acme.user("Ada Admin", Role.ADMIN)
        ana = acme.user("Ana Silva", Role.OPERATOR)
        subscriptions.subscribe_alerts(session, acme.actor(ana), AlertSeverity.CRITICAL)
        subscriptions.subscribe_digest(session, acme.actor(ana), 420)
        subscriptions.set_quiet_hours(session, acme.actor(ana), (1320, 420))
        _alert(session, acme.id, AlertSeverity.CRITICAL, "out:1")
        assert outbox.fan_out_alerts(session, acme.id)
        document = export_person(session, acme.actor(admin), ana.email)
        assert {s["kind"] for s in document["subscriptions"]} == {"alerts", "digest"}
        assert document["quiet_hours"] == {"from_minute": 1320, "until_minute": 420}
        assert [n["kind"] for n in document["notifications"]] == ["alert"]
        receipt = erase_person(session, acme.actor(admin), ana.email)
        assert receipt["subscriptions"] == 2 and receipt["notifications"] == 1
        assert session.execute(select(func.count(Subscription.id))).scalar_one() == 0
        session.refresh(ana)
        assert (ana.quiet_from, ana.quiet_until) == (None, None)


def test_a_deactivated_person_is_told_nothing(sessions):
    from misybot.db.models import User

    with session_scope(sessions) as session:
        acme = Builder(session)
        ana = acme.user("Ana Silva", Role.OPERATOR)
        subscriptions.subscribe_alerts(session, acme.actor(ana), None)
        session.execute(update(User).where(User.id == ana.id).values(active=False))
        _alert(session, acme.id, AlertSeverity.CRITICAL, "out:1")
        assert outbox.fan_out_alerts(session, acme.id) == []
