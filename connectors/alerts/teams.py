"""Microsoft Teams: an Adaptive Card (schema 1.4) posted to a Teams workflow webhook.

Facts relied on: Microsoft retired Office 365 connectors (incoming webhooks) in Teams in
favour of Workflows (Power Automate "When a Teams webhook request is received"); a workflow
webhook takes the same envelope as the old connector for Adaptive Cards,
`{"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
"content": <card>}]}` (learn.microsoft.com, Teams platform "Create and send messages" /
connectors-using), and answers 202 Accepted. Teams supports Adaptive Cards up to 1.5 in
channels; 1.4 gives `Action.OpenUrl`, `FactSet` and `TextBlock` `wrap`, all used here
(adaptivecards.io schema explorer). Teams does not deduplicate posts (at least once).
"""

from __future__ import annotations

from typing import Any

from connectors.alerts.message import Alert, AlertText
from connectors.alerts.transport import JsonPoster

CARD_VERSION = "1.4"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


def adaptive_card(alert: Alert, text: AlertText) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": text.title, "size": "Large", "weight": "Bolder",
         "wrap": True},
        {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in text.facts]},
    ]
    if text.reasons:
        body.append({"type": "TextBlock", "text": text.reasons_label, "weight": "Bolder",
                     "wrap": True, "spacing": "Medium"})
        body += [{"type": "TextBlock", "text": f"- {r}", "wrap": True, "spacing": "None"}
                 for r in text.reasons]
    body.append({"type": "TextBlock", "text": text.footer, "isSubtle": True, "size": "Small",
                 "wrap": True})
    card: dict[str, Any] = {
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
    }
    if alert.record_url:
        card["actions"] = [
            {"type": "Action.OpenUrl", "title": text.link_label, "url": alert.record_url}
        ]
    return card


def teams_payload(alert: Alert, text: AlertText) -> dict[str, Any]:
    return {
        "type": "message",
        "attachments": [
            {"contentType": CONTENT_TYPE, "contentUrl": None, "content": adaptive_card(alert, text)}
        ],
    }


class TeamsChannel:
    name = "teams"

    def __init__(self, poster: JsonPoster) -> None:
        self._poster = poster

    def send(self, alert: Alert, text: AlertText) -> None:
        self._poster.post(teams_payload(alert, text))
