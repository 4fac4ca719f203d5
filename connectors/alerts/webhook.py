"""The generic JSON webhook: the alert as data plus its rendered texts, with an
`Idempotency-Key` header holding the outbox key, so a receiver that keeps the keys it has seen
(the IETF httpapi draft "The Idempotency-Key HTTP Header Field", the convention Stripe and
others follow) can drop the resend that a crash between the 2xx and the mark may cause."""

from __future__ import annotations

from typing import Any

from connectors.alerts.message import Alert, AlertText
from connectors.alerts.transport import JsonPoster

SCHEMA = "lead-scoring-connector/mql-alert/v1"


def webhook_payload(alert: Alert, text: AlertText) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "id": alert.key,
        "event": "lead.sla_breach" if alert.kind == "sla" else "lead.mql",
        "lead": {
            "email": alert.lead_key,
            "first_name": alert.first_name,
            "last_name": alert.last_name,
            "company": alert.company,
            "title": alert.title,
        },
        "mql": {
            "episode": alert.episode,
            "rule": alert.rule,
            "qualified_at": alert.qualified_at.isoformat(),
            "score": alert.score,
            "grade": alert.grade,
            "reasons": [{"rule": r.rule, "points": r.points} for r in alert.reasons],
        },
        "salesforce": {
            "sobject": alert.sobject,
            "id": alert.record_id,
            "url": alert.record_url,
            "owner": alert.owner,
        },
        "text": {"title": text.title, "body": text.plain(alert.record_url)},
    }


class WebhookChannel:
    name = "webhook"

    def __init__(self, poster: JsonPoster) -> None:
        self._poster = poster

    def send(self, alert: Alert, text: AlertText) -> None:
        self._poster.post(webhook_payload(alert, text), {"Idempotency-Key": alert.key})
