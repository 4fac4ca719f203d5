"""Hot-lead alert channels: Slack (Block Kit), Microsoft Teams (Adaptive Card in a workflow
webhook), a generic JSON webhook (with an Idempotency-Key) and e-mail over SMTP.

Each channel has a `name` and `send(alert, text)`, which returns once the channel confirmed
the alert and raises `RetriableAPIError` (try again on a later run) or `FatalAPIError`
(retrying cannot help) otherwise. The outbox that makes alerts exactly-once is
`sync.alerts`; the texts are `connectors.alerts.message`.
"""

from __future__ import annotations

from typing import Protocol

from connectors.alerts.message import Alert, AlertText, Language, Reason, render


class Channel(Protocol):
    name: str

    def send(self, alert: Alert, text: AlertText) -> None: ...


__all__ = ["Alert", "AlertText", "Channel", "Language", "Reason", "render"]
