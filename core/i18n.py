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
    # `connector score history`
    "hist_title": ("score history of {email} ({n} changes):",
                   "{email} のスコア履歴 ({n} 件の変化):"),
    "hist_none": ("{email}: no score change stored yet (history starts with the first run "
                  "after this version of the connector)",
                  "{email}: スコアの変化はまだ記録されていません (このバージョンの最初の実行から"
                  "記録されます)"),
    "hist_at": ("at", "日時"),
    "hist_score": ("score", "スコア"),
    "hist_stage": ("stage", "ステージ"),
    "hist_version": ("version", "ルール版"),
    "hist_cause": ("cause", "理由"),
    "cause_first": ("first score", "初回スコア"),
    "cause_activity": ("new activity", "新しい行動"),
    "cause_decay": ("decay (time, no new activity)", "減衰 (時間経過・新しい行動なし)"),
    "cause_rule_version": ("rule version changed", "ルール版の変更"),
    "cause_sales_outcome": ("sales outcome", "営業の結果"),
    "cause_profile": ("contact/company properties", "コンタクト・会社の属性"),
    "cause_merged": ("contacts merged in HubSpot", "HubSpot でのコンタクト統合"),
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
    "sla_breaches_open": ("breaches open", "未対応の違反"),
    "sla_breaches_closed": ("breaches closed", "対応済みの違反"),
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
    # CLI summaries (app/texts.py): the run summary and `connector status`
    "kind_sync": ("sync", "同期"),
    "kind_backfill": ("backfill", "バックフィル"),
    "kind_rescore": ("rescore", "再スコアリング"),
    "outcome_ok": ("ok", "成功"),
    "outcome_partial": ("partial", "一部失敗"),
    "outcome_failed": ("failed", "失敗"),
    "outcome_stopped": ("stopped", "停止"),
    "outcome_dry-run": ("dry-run", "ドライラン"),
    "sum_dry": (" (dry run: nothing written)", " (ドライラン: 書き込みなし)"),
    "sum_window": ("window {start} .. {end}", "対象期間 {start} 〜 {end}"),
    "sum_no_window": ("no extraction (stored leads only)", "抽出なし (保存済みのリードのみ)"),
    "sum_waiting": (", {n} waiting for the next run", "、次回の実行待ち {n}"),
    "sum_hubspot": (
        "  HubSpot     contacts read {contacts}, activities read {activities} ({new} new)",
        "  HubSpot     読み込んだコンタクト {contacts}、アクティビティ {activities} (新規 {new})",
    ),
    "sum_scoring": (
        "  scoring     leads scored {scored}, MQLs {mqls} ({new} new), without usable email "
        "{no_email}{waiting}",
        "  スコアリング スコアリングしたリード {scored}、MQL {mqls} (新規MQL {new})、"
        "有効なメールアドレスなし {no_email}{waiting}",
    ),
    "sum_streams": ("  streams     ", "  取得状況    "),
    "sum_planned": (
        "  planned     updates {updates}, Lead creates {creates}, Tasks {tasks}",
        "  予定        更新 {updates}、リード作成 {creates}、ToDo {tasks}",
    ),
    "sum_example": ("    e.g. {object} {id} {lead}: {fields}",
                    "    例: {object} {id} {lead}: {fields}"),
    "sum_new_record": ("(new)", "(新規)"),
    "sum_salesforce": (
        "  Salesforce  records updated {updated}, Leads created {created}, Tasks created "
        "{tasks}, unchanged {unchanged}, failed {failed}",
        "  Salesforce  更新したレコード {updated}、作成したリード {created}、作成したToDo {tasks}、"
        "変更なし {unchanged}、失敗 {failed}",
    ),
    "sum_hs_written": (
        "  HubSpot     contacts written back {written} in {calls} call(s), unchanged "
        "{unchanged}, refused by the mappings {rejected}",
        "  HubSpot     書き戻したコンタクト {written} (呼び出し {calls} 回)、変更なし {unchanged}、"
        "マッピングで拒否 {rejected}",
    ),
    "sum_hs_planned": (
        "  planned     HubSpot contacts {contacts} ({calls} batch call(s)), unchanged {unchanged}",
        "  予定        HubSpotコンタクト {contacts} (バッチ呼び出し {calls} 回)、"
        "変更なし {unchanged}",
    ),
    "sum_hs_example": ("    e.g. HubSpot contact {contact} {lead}: {properties}",
                       "    例: HubSpotコンタクト {contact} {lead}: {properties}"),
    "sum_outcomes": (
        "  outcomes    Salesforce records read {read} ({per_object}), changed {changed}, "
        "leads re-planned {marked}, {calls} calls{problems}",
        "  商談結果    読み込んだSalesforceレコード {read} ({per_object})、変更 {changed}、"
        "再計画したリード {marked}、呼び出し {calls} 回{problems}",
    ),
    "sum_nothing_new": ("nothing new", "新着なし"),
    "sum_unreadable": (", {n} unreadable", "、読み取れないもの {n}"),
    "sum_alerts": (
        "  alerts      sent {sent}, failed (retried next run) {failed}, dead {dead}, waiting "
        "{waiting}; outbox pending {pending}",
        "  アラート    送信 {sent}、失敗 (次回再送) {failed}、送信不能 {dead}、待機 {waiting}、"
        "送信待ち {pending}",
    ),
    "sum_calls": (
        "  API calls   HubSpot {hubspot}{limited}, Salesforce {salesforce}; problems reported "
        "{problems}; {seconds} s",
        "  API呼び出し HubSpot {hubspot}{limited}、Salesforce {salesforce}、報告された問題 "
        "{problems}、{seconds} 秒",
    ),
    "sum_rate_limited": (", HubSpot 429s search {search} / burst {burst}",
                         "、HubSpotの429応答 検索 {search} / バースト {burst}"),
    "sum_skipped": ("    skipped: {problem}", "    スキップ: {problem}"),
    "st_state": ("state: {path}", "状態の保存先: {path}"),
    "st_cursors": ("cursors:", "カーソル:"),
    "st_no_cursors": ("  (none yet: the first sync reads the initial look-back window)",
                      "  (まだありません: 最初の同期で初期の遡り期間を読み込みます)"),
    "st_stored": ("stored: {counts}", "保存件数: {counts}"),
    "st_deletions": (
        "contacts: {archived} archived, {merged} merged away, {erased} erased, "
        "{waiting} deletion events waiting",
        "コンタクト: アーカイブ {archived}、統合済み {merged}、消去済み {erased}、"
        "未処理の削除イベント {waiting}",
    ),
    "st_alerts": ("alerts: {sent} sent, {pending} pending, {dead} dead",
                  "アラート: 送信済み {sent}、送信待ち {pending}、送信不能 {dead}"),
    "st_alerts_dlq": (" (in `connector dlq list`, stage 'alert <channel>')",
                      " (`connector dlq list` の段階 'alert <channel>' にあります)"),
    "st_last_runs": ("last runs:", "最近の実行:"),
    "st_run": (
        "  #{id} {kind} {started} -> {outcome}  scored {scored}, written {written}, tasks "
        "{tasks}, calls HubSpot {hubspot} / Salesforce {salesforce}{limited}",
        "  #{id} {kind} {started} → {outcome}  スコアリング {scored}、書き込み {written}、"
        "ToDo {tasks}、呼び出し HubSpot {hubspot} / Salesforce {salesforce}{limited}",
    ),
    "st_running": ("running", "実行中"),
    "st_no_runs": ("  (no runs yet)", "  (実行履歴はまだありません)"),
    "st_streams": ("activity streams (as the last run found them):",
                   "アクティビティの取得状況 (前回の実行時点):"),
    "st_budget": (
        "API budget (as the last run's answers said): HubSpot {hubspot} calls today; "
        "Salesforce {salesforce} requests in the last 24 h",
        "APIの利用枠 (前回の実行の応答による): HubSpot 本日の呼び出し {hubspot}、"
        "Salesforce 直近24時間のリクエスト {salesforce}",
    ),
    "st_fraction": ("{used} of {limit} used ({left} left)", "{limit} 中 {used} 使用 (残り {left})"),
    "st_unknown": ("unknown", "不明"),
    "st_speed": ("speed-to-lead ({target}):", "初動スピード ({target}):"),
    "st_sla_target": ("first touch within {hours} business hours",
                      "営業時間 {hours} 時間以内に初回対応"),
    "st_sla_off": ("SLA off", "SLAなし"),
    "st_median_h": ("median h", "中央値(時間)"),
    "st_closed": ("closed", "対応済み違反"),
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
