"""The alert texts and payloads, without a network: Japanese and English, dates in the
user's time zone, the record link, Block Kit / Adaptive Card / webhook / e-mail shapes."""

from __future__ import annotations

from datetime import UTC, datetime

from connectors.alerts.message import Alert, Reason, record_url, render
from connectors.alerts.slack import slack_payload
from connectors.alerts.smtp import build_email, message_id
from connectors.alerts.teams import teams_payload
from connectors.alerts.webhook import webhook_payload

QUALIFIED = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)  # 18:00 in Tokyo


def alert(**changes: object) -> Alert:
    fields: dict[str, object] = dict(
        key="tanaka@example.co.jp#mql1#slack",
        channel="slack",
        lead_key="tanaka@example.co.jp",
        episode=1,
        first_name="太郎",
        last_name="田中",
        company="山田製作所",
        title="製造部 部長",
        score="85.00",
        grade="A1",
        rule="score>=50 & webinar & consultation",
        qualified_at=QUALIFIED,
        reasons=(Reason("consultation_request", "+30.00"), Reason("webinar_attended", "+20.00")),
        sobject="Lead",
        record_id="00Q5g0000700000EAA",
        record_url="https://acme.my.salesforce.com/lightning/r/Lead/00Q5g0000700000EAA/view",
        owner="佐藤 花子",
    )
    fields.update(changes)
    return Alert(**fields)  # type: ignore[arg-type]


def test_given_japanese_the_text_is_business_japanese_in_tokyo_time() -> None:
    text = render(alert(), "ja", "Asia/Tokyo")
    assert text.title == "【MQL】山田製作所 田中 太郎 様が営業引き渡しの条件を満たしました"
    facts = dict(text.facts)
    assert facts["MQL判定日時"] == "2026年11月20日 18:00 (JST)"
    assert facts["役職"] == "製造部 部長" and facts["担当者"] == "佐藤 花子"
    assert facts["スコア"] == "85.00 (A1)"
    assert text.reasons == ("+30.00 consultation_request", "+20.00 webinar_attended")


def test_given_english_the_text_is_english_with_given_name_first_in_the_zone_asked() -> None:
    text = render(alert(first_name="Jane", last_name="Doe", company="Acme"), "en", "UTC")
    assert text.title == "New MQL: Acme Jane Doe is ready for sales"
    assert dict(text.facts)["Qualified at"] == "2026-11-20 09:00 UTC"
    body = text.plain("https://x/lightning/r/Lead/1/view")
    assert "Top reasons:" in body and "Open in Salesforce: https://x/" in body


def test_given_no_record_yet_the_text_says_so_and_no_link_is_shown() -> None:
    text = render(alert(sobject=None, record_id=None, record_url=None, owner=None), "ja",
                  "Asia/Tokyo")
    assert dict(text.facts)["Salesforceレコード"].startswith("未作成")
    assert dict(text.facts)["担当者"] == "未割り当て"
    assert "Salesforceで開く" not in text.plain(None)


def test_given_an_instance_url_the_record_link_is_the_lightning_record_page() -> None:
    assert (
        record_url("https://acme.my.salesforce.com/services/data", "Contact", "003xx")
        == "https://acme.my.salesforce.com/lightning/r/Contact/003xx/view"
    )


def test_given_an_alert_slack_gets_block_kit_with_a_header_fields_and_the_link() -> None:
    a = alert(company="A<B>&C")
    body = slack_payload(a, render(a, "ja", "Asia/Tokyo"))
    types = [b["type"] for b in body["blocks"]]
    assert types == ["header", "section", "section", "section", "context"]
    assert body["blocks"][0]["text"]["type"] == "plain_text"
    fields = body["blocks"][1]["fields"]
    assert len(fields) <= 10 and "A&lt;B&gt;&amp;C" in fields[1]["text"]
    assert f"<{a.record_url}|Salesforceで開く>" == body["blocks"][3]["text"]["text"]


def test_given_an_alert_teams_gets_an_adaptive_card_1_4_in_a_message_envelope() -> None:
    body = teams_payload(alert(), render(alert(), "en", "UTC"))
    assert body["type"] == "message" and len(body["attachments"]) == 1
    card = body["attachments"][0]["content"]
    assert body["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["body"][1]["type"] == "FactSet"
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open in Salesforce",
                                "url": alert().record_url}]


def test_given_an_alert_the_webhook_body_carries_the_outbox_key_and_the_data() -> None:
    body = webhook_payload(alert(), render(alert(), "en", "UTC"))
    assert body["id"] == "tanaka@example.co.jp#mql1#slack" and body["event"] == "lead.mql"
    assert body["mql"]["reasons"][0] == {"rule": "consultation_request", "points": "+30.00"}
    assert body["salesforce"]["owner"] == "佐藤 花子"


def test_given_the_same_outbox_key_the_email_has_the_same_message_id() -> None:
    a = alert()
    mail = build_email(a, render(a, "ja", "Asia/Tokyo"), "c@example.jp", ["s@example.jp"])
    again = build_email(a, render(a, "ja", "Asia/Tokyo"), "c@example.jp", ["s@example.jp"])
    assert mail["Message-ID"] == again["Message-ID"] == message_id(a.key)
    assert message_id(a.key) != message_id("other#mql1#email")
    assert mail["Subject"].startswith("【MQL】") and "主な加点理由" in mail.get_content()
