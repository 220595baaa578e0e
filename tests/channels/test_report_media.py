"""A report's signed links go to each provider as what it takes: the chart as an image, the CSV
as a document where documents of that type are taken (WhatsApp Cloud, Messenger), else as a
named link (Twilio's WhatsApp, Instagram); a file over a provider's limit goes as a link too."""

from __future__ import annotations

import pytest
from test_meta_output import messenger, user_wrote, whatsapp

from connectors.core.sending import HttpSender
from connectors.meta.messenger import InstagramOutput, MessengerOutput
from connectors.twilio import TwilioConfig, TwilioWhatsAppOutput
from misybot.enums import Channel
from misybot.links import report_links
from misybot.settings import get_settings
from testkit.standins import TwilioStandIn

PUBLIC = "https://bot.example.com"
ACCOUNT_SID = "AC" + "4" * 32


@pytest.fixture
def links(tmp_path, monkeypatch):
    """``links(size_of_png)``: a report of company "acme" (CSV + chart), its signed links."""
    monkeypatch.setenv("MISYBOT_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("MISYBOT_PUBLIC_URL", PUBLIC)
    monkeypatch.setenv("MISYBOT_IDENTITY_KEY", "media-test-key")
    get_settings.cache_clear()
    folder = tmp_path / "reports" / "acme"
    folder.mkdir(parents=True)

    def make(png_bytes: int = 2048) -> dict[str, str]:
        (folder / "sales.csv").write_text("sku,units\nWID-220,4\n")
        (folder / "sales.png").write_bytes(b"\x89PNG" + b"\0" * (png_bytes - 4))
        return report_links("acme", str(folder / "sales.csv"), str(folder / "sales.png"))

    yield make
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def twilio():
    standin = TwilioStandIn(ACCOUNT_SID, "media-token").start()
    yield standin
    standin.stop()


async def test_whatsapp_cloud_takes_the_chart_as_an_image_and_the_csv_as_a_document(
    graph, inbox, links
):
    link = links()
    to = "351910000201"
    user_wrote(inbox, Channel.WHATSAPP, f"+{to}", 1)
    channel = whatsapp(graph, inbox)
    await channel.send_image_url(to, link["png"])
    await channel.send_attachment(to, link["csv"])
    image, document = graph.messages_to(to)
    assert image.payload["image"] == {"link": link["png"]}
    assert document.payload["document"] == {"link": link["csv"], "filename": "sales.csv"}


async def test_outside_the_whatsapp_window_the_files_go_as_links_in_the_template(
    graph, inbox, links
):
    link = links()
    to = "351910000202"
    user_wrote(inbox, Channel.WHATSAPP, f"+{to}", 30)
    templates = {"default": {"name": "agent_update", "language": "en"}}
    await whatsapp(graph, inbox, templates=templates).send_attachment(to, link["csv"])
    (sent,) = graph.messages_to(to)
    assert sent.payload["type"] == "template"
    text = sent.payload["template"]["components"][0]["parameters"][0]["text"]
    assert text == f"📎 sales.csv: {link['csv']}"


async def test_twilio_sends_the_chart_as_media_and_the_csv_as_a_named_link(twilio, inbox, links):
    link = links()
    to = "whatsapp:+351940000201"
    config = TwilioConfig(
        account_sid=ACCOUNT_SID,
        auth_token="media-token",
        whatsapp_number="+14155238886",
        public_url=PUBLIC,
        api_url=twilio.url,
    )
    channel = TwilioWhatsAppOutput(config, HttpSender(backoff_s=0.01, per_second=100), inbox)
    await channel.send_image_url(to, link["png"])
    await channel.send_attachment(to, link["csv"])
    chart, csv = twilio.delivered_to(to)
    assert chart.fields["MediaUrl"] == [link["png"]] and not chart.one("Body")
    assert "MediaUrl" not in csv.fields
    assert csv.one("Body") == f"📎 sales.csv: {link['csv']}"


async def test_messenger_takes_a_file_and_instagram_gets_the_link(graph, inbox, links):
    link = links()
    psid = "7001"
    await messenger(graph, inbox).send_attachment(psid, link["csv"])
    await messenger(graph, inbox, cls=InstagramOutput).send_attachment(psid, link["csv"])
    to_messenger, to_instagram = graph.messages_to(psid)
    assert to_messenger.payload["message"]["attachment"]["type"] == "file"
    assert to_instagram.payload["message"] == {"text": f"📎 sales.csv: {link['csv']}"}


async def test_an_image_over_the_providers_limit_goes_as_a_link(graph, inbox, links):
    link = links(png_bytes=5 * 1024 * 1024 + 1)  # over WhatsApp's 5 MB, under Messenger's 8
    to = "351910000203"
    user_wrote(inbox, Channel.WHATSAPP, f"+{to}", 1)
    await whatsapp(graph, inbox).send_image_url(to, link["png"])
    (sent,) = graph.messages_to(to)
    assert sent.payload["type"] == "text" and link["png"] in sent.payload["text"]["body"]
    await messenger(graph, inbox, cls=MessengerOutput).send_image_url("7002", link["png"])
    (image,) = graph.messages_to("7002")
    assert image.payload["message"]["attachment"]["type"] == "image"
