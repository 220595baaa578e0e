"""Inbound mail parsing, reply composition and Mailgun signatures: pure functions."""

from __future__ import annotations

import time
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from connectors.core.formatting import markdown_to_html, markdown_to_plain
from connectors.email.compose import (
    Thread,
    compose_reply,
    mention_attachments,
    references_for,
    report_files,
)
from connectors.email.mailgun import (
    WebhookRefused,
    form_to_message,
    mailgun_signature,
    verify_mailgun,
)
from connectors.email.parsing import (
    html_to_text,
    normalise_address,
    parse_email,
    parse_message,
    reply_subject,
    strip_quoted,
)
from testkit.mail import make_mail

USER = "Marta Costa <Marta.Costa@Misy-Demo.EXAMPLE>"


def test_the_from_address_is_normalised():
    assert normalise_address(USER) == "marta.costa@misy-demo.example"
    assert normalise_address("<ANA@x.example>") == "ana@x.example"
    assert normalise_address("not an address") == ""
    assert normalise_address(None) == ""


@pytest.mark.parametrize(
    "body",
    [
        "how many WID-220 in Lisbon?\n\nOn Mon, 2 Mar 2026 at 10:00, MisyBot <bot@misy.example> "
        "wrote:\n> Which product?\n> reorder 500 WID-221\n",
        "how many WID-220 in Lisbon?\n\nOn Mon, 2 Mar 2026 at 10:00, MisyBot <bot@misy.example>\n"
        "wrote:\n\n> Which product?\n",
        "how many WID-220 in Lisbon?\n> quoted line\n>> deeper\n",
        "how many WID-220 in Lisbon?\n-- \nMarta Costa\nWarehouse lead, +351 910 000 002\n",
        "how many WID-220 in Lisbon?\n\n-----Original Message-----\nFrom: MisyBot\nreorder all\n",
        "how many WID-220 in Lisbon?\n\nFrom: MisyBot <bot@misy.example>\nSent: Monday\n"
        "To: Marta\nSubject: Re: stock\n\nreorder all\n",
        "how many WID-220 in Lisbon?\n\nSent from my iPhone\n",
    ],
)
def test_quoted_replies_and_signatures_are_stripped(body):
    parsed = parse_email(make_mail(USER, body))
    assert parsed.text == "how many WID-220 in Lisbon?"


def test_a_line_merely_starting_with_on_is_kept():
    text = "On second thought, reorder 200 WID-220\nthanks"
    assert strip_quoted(text) == text


def test_html_only_mail_is_read_as_text_without_the_quoted_block():
    html = (
        "<html><head><style>p {color: red}</style></head><body>"
        "<div>reorder <b>200</b> WID-220<br>from Acme</div>"
        '<div class="gmail_quote"><div class="gmail_attr">On Mon, MisyBot wrote:</div>'
        "<blockquote><div>Which product?</div></blockquote></div></body></html>"
    )
    assert html_to_text(html) == "reorder 200 WID-220\nfrom Acme"
    only_html = BytesParser(policy=policy.default).parsebytes(
        _html_only(USER, html).encode("utf-8")
    )
    assert parse_message(only_html).text == "reorder 200 WID-220\nfrom Acme"


def _html_only(sender: str, html: str) -> str:
    return (
        f"From: {sender}\r\nTo: bot@misy.example\r\nSubject: hi\r\nMessage-ID: <h1@c.example>\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n"
    )


def test_the_subject_is_used_when_the_body_is_empty():
    parsed = parse_email(make_mail(USER, "\n-- \nMarta\n", subject="RE: Fwd: stock WID-220"))
    assert parsed.text == "stock WID-220"


def test_threading_headers_and_identity_are_read():
    raw = make_mail(
        USER,
        "ack 1042",
        subject="Re: alerts",
        message_id="<m2@client.example>",
        headers={"In-Reply-To": "<r1@misy.example>", "References": "<m1@c> <r1@misy.example>"},
    )
    parsed = parse_email(raw)
    assert parsed.message_id == "<m2@client.example>"
    assert parsed.provider_id == "<m2@client.example>"
    assert parsed.sender == "marta.costa@misy-demo.example"
    assert parsed.sender_name == "Marta Costa"
    assert parsed.in_reply_to == "<r1@misy.example>"
    assert parsed.references == ("<m1@c>", "<r1@misy.example>")
    assert parsed.automated is None


def test_a_missing_message_id_gets_a_stable_one_and_long_ids_are_hashed():
    raw = make_mail(USER, "hi").replace(b"Message-ID:", b"X-Old-ID:")
    assert parse_email(raw).message_id == parse_email(raw).message_id
    assert parse_email(raw).message_id.endswith("@no-message-id>")
    long_id = "<" + "x" * 200 + "@client.example>"
    parsed = parse_email(make_mail(USER, "hi", message_id=long_id))
    assert parsed.message_id == long_id
    assert parsed.provider_id.startswith("sha256:") and len(parsed.provider_id) <= 128


@pytest.mark.parametrize(
    "sender, headers",
    [
        (USER, {"Auto-Submitted": "auto-replied"}),
        (USER, {"Auto-Submitted": "auto-generated"}),
        (USER, {"Precedence": "bulk"}),
        (USER, {"Precedence": "junk"}),
        (USER, {"Precedence": "list"}),
        (USER, {"List-Id": "<ops.lists.example>"}),
        (USER, {"X-Autoreply": "yes"}),
        ("Mail Delivery System <MAILER-DAEMON@mx.example>", {}),
        ("postmaster@mx.example", {}),
        ("MisyBot <bot@misy.example>", {}),  # our own reply coming back
    ],
)
def test_robot_mail_is_recognised(sender, headers):
    raw = make_mail(sender, "I am out of office until Monday.", headers=headers)
    assert parse_email(raw, frozenset({"bot@misy.example"})).automated


def test_a_person_saying_auto_submitted_no_is_answered():
    raw = make_mail(USER, "stock WID-220", headers={"Auto-Submitted": "no"})
    assert parse_email(raw).automated is None


def test_reply_subject_has_one_re():
    assert reply_subject("stock") == "Re: stock"
    assert reply_subject("RE: Re: stock") == "Re: stock"
    assert reply_subject("Fwd: AW: stock") == "Re: stock"
    assert reply_subject("") == "Re: your message"


def test_references_keep_the_chain_and_end_with_the_parent():
    assert references_for("<p@x>", ["<a@x>", "<b@x>"]) == ("<a@x>", "<b@x>", "<p@x>")
    assert references_for("<p@x>", []) == ("<p@x>",)
    chain = [f"<{i}@x>" for i in range(40)]
    trimmed = references_for("<p@x>", chain)
    assert len(trimmed) == 20 and trimmed[0] == "<0@x>" and trimmed[-1] == "<p@x>"


def test_markdown_becomes_escaped_html_and_clean_plain_text():
    text = "**WID-220** blue widgets: 40 each.\n- Lisbon: 30\n- Porto: <10>\n\n[docs](https://d.example/a?b=1&c=2)"
    html = markdown_to_html(text)
    assert "<strong>WID-220</strong>" in html
    assert "&bull; Lisbon: 30" in html and "&lt;10&gt;" in html
    assert '<a href="https://d.example/a?b=1&amp;c=2">docs</a>' in html
    assert markdown_to_html("- a\n- b") == "<ul><li>a</li><li>b</li></ul>"
    assert markdown_to_html("[x](javascript:alert(1))") == "<p>x (javascript:alert(1))</p>"
    plain = markdown_to_plain(text, bullet="-")
    assert plain.startswith("WID-220 blue widgets") and "**" not in plain
    assert "docs (https://d.example/a?b=1&c=2)" in plain


def test_a_reply_is_multipart_alternative_threaded_with_attachments(tmp_path):
    csv = tmp_path / "sales.csv"
    csv.write_text("sku,units\nWID-220,40\n")
    png = tmp_path / "sales.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 32)
    message = compose_reply(
        from_address="bot@misy.example",
        from_name="MisyBot",
        to="marta.costa@misy-demo.example",
        thread=Thread("Re: stock", "<m2@c>", ("<m1@c>", "<m2@c>")),
        markdown="**WID-220**: 40 each",
        attachments=[csv, png],
    )
    parsed = BytesParser(policy=policy.default).parsebytes(bytes(message))
    assert parsed["In-Reply-To"] == "<m2@c>"
    assert parsed["References"] == "<m1@c> <m2@c>"
    assert parsed["Subject"] == "Re: stock"
    assert parsed["Auto-Submitted"] == "auto-replied"
    assert parsed.get_content_type() == "multipart/mixed"
    alternative = next(parsed.iter_parts())
    assert alternative.get_content_type() == "multipart/alternative"
    assert parsed.get_body(("plain",)).get_content().strip() == "WID-220: 40 each"
    assert "<strong>WID-220</strong>" in parsed.get_body(("html",)).get_content()
    files = {a.get_filename(): a for a in parsed.iter_attachments()}
    assert set(files) == {"sales.csv", "sales.png"}
    assert files["sales.csv"].get_content_type() == "text/csv"
    assert files["sales.png"].get_content() == png.read_bytes()


def test_only_the_recipients_company_reports_are_attached(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    reports = tmp_path / "var" / "reports"
    (reports / "demo").mkdir(parents=True)
    (reports / "demo" / "sales-1.csv").write_text("a\n")
    (reports / "demo" / "sales-1.png").write_bytes(b"png")
    (reports / "northstar").mkdir()
    (reports / "northstar" / "sales-2.csv").write_text("theirs\n")
    (tmp_path / "secret.csv").write_text("password\n")
    text = (
        "Ready (#1, 3 rows): var/reports/demo/sales-1.csv and secret.csv and ../x.csv"
        " and var/reports/northstar/sales-2.csv"
    )
    demo = Path("var/reports/demo")  # the recipient's company's folder
    files = report_files(text, demo)
    assert [f.name for f in files] == ["sales-1.csv", "sales-1.png"]
    shown = mention_attachments(text, files, demo)
    assert shown == (
        "Ready (#1, 3 rows): sales-1.csv (attached) and secret.csv and ../x.csv"
        " and var/reports/northstar/sales-2.csv"
    )


def test_mailgun_signatures_are_checked_for_key_age_and_presence():
    key = "key-0123456789"
    now = time.time()
    timestamp, token = str(int(now)), "a" * 50
    fields = {
        "timestamp": timestamp,
        "token": token,
        "signature": mailgun_signature(key, timestamp, token),
    }
    assert verify_mailgun(key, fields, max_age_s=900, now=now) == (timestamp, token)
    with pytest.raises(WebhookRefused) as forged:
        verify_mailgun("another-key", fields, max_age_s=900, now=now)
    assert forged.value.status == 403
    with pytest.raises(WebhookRefused) as stale:
        verify_mailgun(key, fields, max_age_s=900, now=now + 3600)
    assert stale.value.status == 403 and "stale" in stale.value.reason
    with pytest.raises(WebhookRefused) as unsigned:
        verify_mailgun(key, {**fields, "signature": ""}, max_age_s=900, now=now)
    assert unsigned.value.status == 401


def test_a_mailgun_form_without_raw_mime_is_rebuilt_with_its_headers():
    form = {
        "message-headers": '[["From", "Marta <marta.costa@misy-demo.example>"], '
        '["Subject", "stock"], ["Message-Id", "<mg1@c>"], ["Auto-Submitted", "auto-replied"], '
        '["Content-Type", "multipart/alternative; boundary=x"]]',
        "body-plain": "how many WID-220?\n> old",
    }
    parsed = parse_message(form_to_message(form))
    assert parsed.message_id == "<mg1@c>" and parsed.text == "how many WID-220?"
    assert parsed.automated == "Auto-Submitted: auto-replied"
    with pytest.raises(WebhookRefused):
        form_to_message({"body-plain": "no sender"})
    with pytest.raises(WebhookRefused):
        form_to_message({"message-headers": "{not json"})
