"""Slack: an incoming webhook message in Block Kit, built with `slack_sdk`'s block models.

Facts relied on (docs.slack.dev, "Sending messages using incoming webhooks" and Block Kit
reference): the webhook takes a JSON body with `text` (the notification fallback) and
`blocks`; a `header` block takes plain text up to 150 characters, a `section` up to 10
`fields` of up to 2,000 characters each, `mrkdwn` uses `*bold*` and `<url|label>`; the webhook
answers 200 `ok` and reports errors with HTTP status codes. Slack does not deduplicate webhook
posts: delivery is at least once at the wire (see `sync.alerts`).
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from connectors.alerts.message import Alert, AlertText
from connectors.alerts.transport import JsonPoster

HEADER_MAX = 150
FIELDS_MAX = 10


def _escape(text: str) -> str:
    """mrkdwn's three control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(alert: Alert, text: AlertText) -> dict[str, Any]:
    fields = [
        MarkdownTextObject(text=f"*{_escape(label)}*\n{_escape(value)}")
        for label, value in text.facts[:FIELDS_MAX]
    ]
    blocks: list[Any] = [
        HeaderBlock(text=text.title[:HEADER_MAX]),
        SectionBlock(fields=fields),
    ]
    if text.reasons:
        lines = "\n".join(f"• {_escape(r)}" for r in text.reasons)
        blocks.append(SectionBlock(text=MarkdownTextObject(text=f"*{text.reasons_label}*\n{lines}")))
    if alert.record_url:
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text=f"<{alert.record_url}|{text.link_label}>"))
        )
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=_escape(text.footer))]))
    return {"text": text.title, "blocks": [b.to_dict() for b in blocks]}


class SlackChannel:
    name = "slack"

    def __init__(self, poster: JsonPoster) -> None:
        self._poster = poster

    def send(self, alert: Alert, text: AlertText) -> None:
        self._poster.post(slack_payload(alert, text))
