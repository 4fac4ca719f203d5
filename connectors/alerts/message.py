"""A hot-lead alert as plain data, and its texts in Japanese or English (pure: no I/O, no
clock; the moment and the time zone are handed in).

Two kinds: `mql` (a new MQL, for sales to pick up) and `sla` (the escalation of a hand-off
nobody touched within `[sla] first_touch_hours` business hours: who owns it, whose lead, how
long since the MQL, the record link).

An `Alert` is one row of the alert outbox (`sync.alert_store`): what the run that started the
MQL episode knew (who, the score and its top reasons, the MQL rule, when), completed at send
time with the Salesforce record and its owner. `render` turns it into the lines every channel
lays out its own way (Block Kit, Adaptive Card, e-mail, JSON).

The record link is Lightning Experience's record page, `https://<instance>/lightning/r/
<SObject>/<Id>/view` (Salesforce's `standard__recordPage` page reference with `actionName`
"view", lightning-component-reference "Navigate To SObject"/"to record" recipes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

Language = Literal["ja", "en"]


@dataclass(frozen=True, slots=True)
class Reason:
    rule: str  # the scoring rule's id (mappings/scoring.toml)
    points: str  # what it adds to the total, two decimals, signed ("+20.00")


@dataclass(frozen=True, slots=True)
class Alert:
    key: str  # the outbox key: "<lead>#mql<episode>#<channel>", also the Idempotency-Key
    channel: str
    lead_key: str  # the lead's canonical email
    episode: int
    first_name: str
    last_name: str
    company: str
    title: str
    score: str  # total points, two decimals
    grade: str
    rule: str  # the MQL rule that fired
    qualified_at: datetime
    reasons: tuple[Reason, ...] = ()
    sobject: str | None = None  # the Salesforce record, once linked
    record_id: str | None = None
    record_url: str | None = None
    owner: str | None = None  # the owner's name, else its Id
    kind: str = "mql"  # "mql" or "sla" (the escalation of an untouched hand-off)
    elapsed_hours: str = ""  # sla: business hours since the MQL when escalated
    sla_hours: str = ""  # sla: the first-touch target in business hours


@dataclass(frozen=True, slots=True)
class AlertText:
    """What every channel shows: a title, labelled facts, the reasons, the link's label."""

    title: str
    facts: tuple[tuple[str, str], ...]
    reasons_label: str
    reasons: tuple[str, ...]
    link_label: str
    footer: str

    def plain(self, url: str | None) -> str:
        """The whole message as plain text (e-mail body, fallbacks)."""
        lines = [self.title, ""]
        lines += [f"{label}: {value}" for label, value in self.facts]
        if self.reasons:
            lines += ["", f"{self.reasons_label}:"] + [f"  - {r}" for r in self.reasons]
        if url:
            lines += ["", f"{self.link_label}: {url}"]
        lines += ["", self.footer]
        return "\n".join(lines)


_LABELS: dict[Language, dict[str, str]] = {
    "ja": {
        "name": "氏名",
        "company": "会社名",
        "title": "役職",
        "score": "スコア",
        "rule": "MQL判定ルール",
        "when": "MQL判定日時",
        "owner": "担当者",
        "record": "Salesforceレコード",
        "reasons": "主な加点理由",
        "link": "Salesforceで開く",
        "no_record": "未作成(次回の同期で作成されます)",
        "no_owner": "未割り当て",
        "footer": "リードスコアリング連携より自動送信。営業引き渡しの対応をお願いします。",
        "elapsed": "MQLからの経過(営業時間)",
        "sla_footer": "初回対応の期限(営業時間{sla}時間)を過ぎました。至急ご対応ください。",
    },
    "en": {
        "name": "Name",
        "company": "Company",
        "title": "Title",
        "score": "Score",
        "rule": "MQL rule",
        "when": "Qualified at",
        "owner": "Owner",
        "record": "Salesforce record",
        "reasons": "Top reasons",
        "link": "Open in Salesforce",
        "no_record": "not created yet (the next sync creates it)",
        "no_owner": "unassigned",
        "footer": "Sent by the lead-scoring connector: please follow up on this hand-off.",
        "elapsed": "Since MQL (business hours)",
        "sla_footer": "The first-touch deadline ({sla} business hours) has passed: "
        "please follow up now.",
    },
}


def display_name(alert: Alert, language: Language) -> str:
    """Family name first with 様 in Japanese (部長 and the like stay in the title field);
    given name first in English; the email when HubSpot has no name."""
    first, last = alert.first_name.strip(), alert.last_name.strip()
    if not (first or last):
        return alert.lead_key
    if language == "ja":
        return f"{' '.join(p for p in (last, first) if p)} 様"
    return " ".join(p for p in (first, last) if p)


def format_moment(moment: datetime, language: Language, zone: str) -> str:
    local = moment.astimezone(ZoneInfo(zone))
    abbreviation = local.tzname() or zone
    if language == "ja":
        return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M} ({abbreviation})"
    return f"{local:%Y-%m-%d %H:%M} {abbreviation}"


def render(alert: Alert, language: Language, zone: str) -> AlertText:
    """The alert's texts in `language`, its moment in time zone `zone` (an IANA name)."""
    label = _LABELS[language]
    name = display_name(alert, language)
    who = f"{alert.company} {name}" if alert.company else name
    owner = alert.owner or label["no_owner"]
    if alert.kind == "sla" and language == "ja":
        title = (f"【SLA超過】{owner}さん担当の{who}: MQLから営業時間{alert.elapsed_hours}時間、"
                 "初回対応がありません")
    elif alert.kind == "sla":
        title = (f"SLA breach: {who} (owner {owner}) has had no first touch "
                 f"{alert.elapsed_hours} business hours after MQL")
    elif language == "ja":
        title = f"【MQL】{who}が営業引き渡しの条件を満たしました"
    else:
        title = f"New MQL: {who} is ready for sales"
    record = (
        f"{alert.sobject} {alert.record_id}" if alert.record_id else label["no_record"]
    )
    facts = [
        (label["name"], f"{name} <{alert.lead_key}>"),
        (label["company"], alert.company or "-"),
        (label["title"], alert.title or "-"),
        (label["score"], f"{alert.score} ({alert.grade})"),
        (label["rule"], alert.rule or "-"),
        (label["when"], format_moment(alert.qualified_at, language, zone)),
        (label["owner"], owner),
        (label["record"], record),
    ]
    footer = label["footer"]
    if alert.kind == "sla":
        facts.insert(6, (label["elapsed"], f"{alert.elapsed_hours} / {alert.sla_hours}"))
        footer = label["sla_footer"].format(sla=alert.sla_hours)
    reasons = tuple(f"{r.points} {r.rule}" for r in alert.reasons)
    return AlertText(
        title=title,
        facts=tuple(facts),
        reasons_label=label["reasons"],
        reasons=reasons,
        link_label=label["link"],
        footer=footer,
    )


def record_url(instance_url: str, sobject: str, record_id: str) -> str:
    """The record's Lightning page on the org's instance (host of the session's instance
    URL), `https://<instance>/lightning/r/<SObject>/<Id>/view`."""
    parts = urlsplit(instance_url)
    return f"{parts.scheme or 'https'}://{parts.netloc}/lightning/r/{sobject}/{record_id}/view"


def default_zone(language: Language) -> str:
    return "Asia/Tokyo" if language == "ja" else "UTC"
