"""The one message catalogue: every user-facing label the dashboard, the report and the CLI
summaries show, in English and Japanese, and the formatting Japanese users expect.

Pure (no I/O, no clock); the one environment read is `language_from_locale`, which takes the
environment as an argument. The Japanese KPI names are the seed articles' own: MQL率, SQL率,
CPL (リード獲得単価), 受注率, 商談化率.

Formats:
- numbers with thousands separators (1,234) in both languages;
- yen without decimals: ¥1,234,567 (other currencies: 1,234.50 USD);
- dates in the user's time zone: ja 2026/12/07 15:04, en 2026-12-07 15:04 (zone named).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Literal
from zoneinfo import ZoneInfo

Language = Literal["ja", "en"]
LANGUAGES: tuple[Language, ...] = ("ja", "en")
LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG")


def language_from_locale(environ: Mapping[str, str]) -> Language:
    """POSIX precedence: the first of LC_ALL, LC_MESSAGES, LANG that is set decides; "ja..."
    (ja_JP.UTF-8, ja) is Japanese, anything else English."""
    for name in LOCALE_VARIABLES:
        value = environ.get(name)
        if value:
            return "ja" if value.lower().startswith("ja") else "en"
    return "en"


def default_zone(language: Language) -> str:
    return "Asia/Tokyo" if language == "ja" else "UTC"


def as_language(value: str | None, fallback: Language = "en") -> Language:
    return value if value in LANGUAGES else fallback  # type: ignore[return-value]


# key -> (English, Japanese)
MESSAGES: dict[str, tuple[str, str]] = {
    # report / dashboard: titles and headings
    "title": ("Lead funnel report", "リードファネル・レポート"),
    "dashboard": ("Lead funnel dashboard", "リードファネル・ダッシュボード"),
    "per_week": ("per ISO week", "週次 (ISO週)"),
    "per_month": ("per month", "月次"),
    "segment_is": ("segment", "セグメント"),
    "counted_to": ("counted up to", "集計時点"),
    "funnel": ("Funnel", "ファネル"),
    "funnel_hint": (
        "Leads created in the window, followed to its end: each step counts the leads of the "
        "step before that got there.",
        "期間内に作成されたリードを期間末まで追跡します。各段階は前の段階から到達したリード数です。",
    ),
    "trends": ("Trends", "推移"),
    "funnel_per": ("Funnel per period", "期間別ファネル"),
    "durations": ("Time to MQL and MQL to opportunity", "MQLまでの日数・MQLから商談までの日数"),
    "progression": ("Interest → comparison within six months", "興味→比較検討 (6か月以内)"),
    "engagement": ("Engagement", "エンゲージメント"),
    "per_segment": ("Per segment", "セグメント別"),
    "costs": ("Costs", "コスト"),
    "no_costs": (
        "No costs file (mappings/costs.toml): cost per lead and per MQL are not shown.",
        "コストファイル (mappings/costs.toml) がないため、CPLとMQL単価は表示されません。",
    ),
    "speed": ("Speed-to-lead per owner", "担当者別の初動スピード"),
    "agreement": ("Agreement check: connector MQLs vs Salesforce",
                  "整合性チェック: コネクタのMQLとSalesforce"),
    "definitions": ("Definitions", "定義"),
    "noscript": ("The charts need JavaScript; the tables above hold every number.",
                 "グラフにはJavaScriptが必要です。数値はすべて上の表にあります。"),
    # KPI names
    "total": ("total", "合計"),
    "new_leads": ("new leads", "新規リード"),
    "mqls": ("MQLs", "MQL数"),
    "mql_rate": ("MQL rate", "MQL率"),
    "sqls": ("SQLs", "SQL数"),
    "sql_rate": ("SQL rate", "SQL率"),
    "opportunities": ("opportunities", "商談数"),
    "opportunity_rate": ("opp. rate", "商談化率"),
    "opportunity_rate_long": ("opportunity rate", "商談化率"),
    "won": ("won", "受注"),
    "lost": ("lost", "失注"),
    "win_rate": ("win rate", "受注率"),
    "new_mqls": ("new MQLs", "新規MQL"),
    "handoffs": ("hand-offs", "営業への引き渡し"),
    "sla_breaches": ("SLA breaches", "SLA違反"),
    "days_to_mql": ("days to MQL (median)", "MQLまでの日数 (中央値)"),
    "days_mql_opp": ("days MQL→opp. (median)", "MQL→商談の日数 (中央値)"),
    "mean": ("(mean)", "(平均)"),
    "opps_after_mql": ("opportunities after MQL", "MQL後の商談"),
    "interest_comparison": ("interest→comparison", "興味→比較検討"),
    "reached_interest": ("first reached interest", "初めて興味段階に到達"),
    "moved": ("moved to comparison", "比較検討に移行"),
    "share": ("share", "割合"),
    "still_open": ("window still open", "観察期間中"),
    "cost": ("cost", "コスト"),
    "cost_per_lead": ("cost / lead (CPL)", "CPL (リード獲得単価)"),
    "cost_per_mql": ("cost / MQL", "MQL単価"),
    "delivered": ("emails delivered", "メール配信数"),
    "opened": ("opened", "開封"),
    "open_rate": ("open rate", "開封率"),
    "clicked": ("clicked", "クリック"),
    "click_rate": ("click rate", "クリック率"),
    "webinar_registrations": ("webinar registrations", "ウェビナー申込"),
    "attended": ("attended", "参加"),
    "attendance_rate": ("attendance rate", "参加率"),
    "whitepaper_downloads": ("white-paper downloads", "ホワイトペーパーDL"),
    "month": ("month", "月"),
    "channel": ("channel", "チャネル"),
    "campaigns": ("campaigns", "キャンペーン"),
    "owner": ("owner", "担当者"),
    "touched": ("touched", "対応済み"),
    "median_touch": ("median h to first touch", "初回対応までの時間 (中央値)"),
    "breaches_open": ("breaches open", "未対応の違反"),
    "breaches_closed": ("breaches closed", "対応済みの違反"),
    "no_handoffs": ("No hand-offs in the window.", "期間内の引き渡しはありません。"),
    "rates": ("Rates", "各種率"),
    "trend_title": ("New leads, MQLs and hand-offs", "新規リード・MQL・引き渡し"),
    "mqls_cohort": ("MQLs (cohort)", "MQL数 (コホート)"),
    "email_open_rate": ("email open rate", "メール開封率"),
    "email_click_rate": ("email click rate", "メールクリック率"),
    "of_previous": ("of previous", "前段階比"),
    "stage_new_leads": ("New leads", "新規リード"),
    "stage_mql": ("MQL", "MQL"),
    "stage_sql": ("SQL", "SQL"),
    "stage_opportunity": ("Opportunity", "商談"),
    "stage_won": ("Won", "受注"),
    # dashboard controls and drill-down
    "period": ("period", "集計単位"),
    "week": ("week", "週"),
    "since": ("from", "開始日"),
    "until": ("to", "終了日"),
    "all": ("all", "すべて"),
    "apply": ("apply", "適用"),
    "language": ("language", "言語"),
    "live": ("live: updates when a run finishes", "ライブ: 同期の完了時に自動更新"),
    "updated": ("updated", "更新"),
    "leads_behind": ("Leads behind this number", "この数値の内訳リード"),
    "lead": ("lead", "リード"),
    "created": ("created", "作成日"),
    "first_mql": ("first MQL", "初回MQL"),
    "score": ("score", "スコア"),
    "explanation": ("score explanation", "スコアの内訳"),
    "shown_of": ("shown", "件表示 / 全"),
    "close": ("close", "閉じる"),
    "loading": ("loading…", "読み込み中…"),
    "error": ("could not load", "読み込めませんでした"),
    # CLI summaries (app/texts.py)
    "run_finished": ("{kind} run {outcome}", "{kind} の実行: {outcome}"),
    "leads_scored": ("leads scored", "スコアリングしたリード"),
    "new_mql_episodes": ("new MQLs", "新規MQL"),
    "tasks_created": ("follow-up Tasks created", "作成したフォローアップToDo"),
    "records_updated": ("Salesforce records updated", "更新したSalesforceレコード"),
    "leads_created": ("Salesforce Leads created", "作成したSalesforceリード"),
    "write_failures": ("records that failed", "失敗したレコード"),
    "last_runs": ("last runs", "最近の実行"),
}


def t(key: str, language: Language, **values: object) -> str:
    """The text of `key` in `language` (English when a key has no such text)."""
    en, ja = MESSAGES[key]
    text = ja if language == "ja" and ja else en
    return text.format(**values) if values else text


def catalogue(language: Language) -> dict[str, str]:
    """Every text in `language`, for a page's script."""
    return {key: t(key, language) for key in MESSAGES}


# ------------------------------------------------------------------------------ formats
def number(value: int | float | None) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{value:,}"


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def money(value: str | Decimal | float | None, currency: str | None) -> str:
    """¥1,234,567 for yen (no decimals: the yen has none); other currencies as before."""
    if value is None:
        return "–"
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if (currency or "").upper() == "JPY":
        return f"¥{amount.quantize(Decimal(1)):,}"
    text = f"{amount:,.0f}" if amount >= 100 else f"{amount:,.2f}"
    return f"{text} {currency or ''}".strip()


def moment(value: datetime | str, language: Language, zone: str) -> str:
    """A moment in time zone `zone`: ja 2026/12/07 15:04 (JST), en 2026-12-07 15:04 UTC."""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    local = when.astimezone(ZoneInfo(zone))
    name = local.tzname() or zone
    if language == "ja":
        return f"{local:%Y/%m/%d %H:%M} ({name})"
    return f"{local:%Y-%m-%d %H:%M} {name}"


def day(value: datetime | str, language: Language, zone: str) -> str:
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    local = when.astimezone(ZoneInfo(zone))
    return f"{local:%Y/%m/%d}" if language == "ja" else f"{local:%Y-%m-%d}"


__all__ = [
    "LANGUAGES",
    "Language",
    "as_language",
    "catalogue",
    "day",
    "default_zone",
    "language_from_locale",
    "moment",
    "money",
    "number",
    "percent",
    "t",
]
