"""The CLI's run summary and `connector status` in Japanese and English (`app.texts`):
the same numbers (with thousands separators) in both, moments in `[ui] timezone`."""

from __future__ import annotations

import re
from typing import Any

from app.texts import format_status, format_summary

SUMMARY: dict[str, Any] = {
    "kind": "sync", "dry_run": False,
    "window_start": "2026-12-06T15:00:00+00:00", "window_end": "2026-12-07T06:04:00+00:00",
    "contacts_read": 12345, "activities_read": 67890, "activities_new": 4321,
    "leads_scored": 12000, "mqls": 1500, "new_mql_episodes": 37, "leads_without_email": 8,
    "leads_waiting": 0, "streams": {"email_events": "read"},
    "records_updated": 2345, "leads_created": 12, "tasks_created": 37,
    "records_unchanged": 9001, "write_failures": 2,
    "hubspot_calls": 1024, "salesforce_calls": 77, "problems": 0, "duration_seconds": 12.5,
    "hubspot_429_search": 0, "hubspot_429_burst": 0,
}  # fmt: skip
STATUS: dict[str, Any] = {
    "state_path": "state/connector.db",
    "cursors": {"contacts": "2026-12-07T06:04:00+00:00"},
    "counts": {"contacts": 12345},
    "sla_hours": 4.0,
    "speed_to_lead": [{"owner": "005A", "handoffs": 1200, "touched": 1100,
                       "median_first_touch_business_hours": 2.5, "breaches_open": 3,
                       "breaches_closed": 7}],
    "runs": [{"id": 3, "kind": "sync", "started_at": "2026-12-07T06:04:00+00:00",
              "outcome": "ok", "summary": SUMMARY}],
}


def numbers(text: str) -> list[str]:
    """Every number in `text` but those of dates and times (both languages' date forms)."""
    undated = re.sub(r"\d{4}[-/]\d{2}[-/]\d{2} \d{2}:\d{2}", "", text)
    return re.findall(r"\d+(?:,\d{3})*(?:\.\d+)?", undated)


def test_given_japanese_the_run_summary_has_the_japanese_words_and_the_same_numbers() -> None:
    ja = format_summary(SUMMARY, language="ja", zone="Asia/Tokyo")
    en = format_summary(SUMMARY, language="en", zone="UTC")
    for word in ("同期", "対象期間", "スコアリングしたリード", "新規MQL", "作成したToDo", "失敗"):
        assert word in ja, word
    assert "leads scored" not in ja and "leads scored 12,000" in en
    assert "12,345" in ja and "67,890" in ja and "9,001" in ja
    assert numbers(ja) == numbers(en)


def test_given_a_time_zone_the_summary_window_is_shown_in_it() -> None:
    ja = format_summary(SUMMARY, language="ja", zone="Asia/Tokyo")
    en = format_summary(SUMMARY, language="en", zone="UTC")
    assert "2026/12/07 00:00 (JST) 〜 2026/12/07 15:04 (JST)" in ja
    assert "window 2026-12-06 15:00 UTC .. 2026-12-07 06:04 UTC" in en


def test_given_japanese_the_status_has_the_japanese_words_and_the_same_numbers() -> None:
    ja = format_status(STATUS, language="ja", zone="Asia/Tokyo")
    en = format_status(STATUS, language="en", zone="UTC")
    for word in ("カーソル", "保存件数", "初動スピード", "担当者", "最近の実行", "成功"):
        assert word in ja, word
    assert "last runs:" in en and "last runs:" not in ja
    assert "2026/12/07 15:04 (JST)" in ja and "2026-12-07 06:04 UTC" in en
    assert "1,200" in ja and "1,100" in ja and "12,345" in ja
    assert numbers(ja) == numbers(en)


def test_given_a_run_still_going_status_says_so_in_the_language() -> None:
    running = {**STATUS, "runs": [{**STATUS["runs"][0], "outcome": None, "summary": None}]}
    assert "実行中" in format_status(running, language="ja", zone="Asia/Tokyo")
    assert "-> running" in format_status(running, language="en", zone="UTC")


def test_given_japanese_the_speed_to_lead_columns_line_up_in_terminal_columns() -> None:
    """Japanese headings take two terminal columns a character: each value ends in the
    column where its heading ends (right-aligned numbers), in both languages."""
    from app.tables import display_width
    from app.texts import speed_to_lead_lines

    rows = [*STATUS["speed_to_lead"], {**STATUS["speed_to_lead"][0], "owner": "005B",
                                       "handoffs": 7, "median_first_touch_business_hours": None}]
    def ends(line: str) -> list[int]:  # the terminal column where each word ends
        return [display_width(line[: m.end()]) for m in re.finditer(r"\S+", line)]

    for language in ("ja", "en"):
        heading, *body = [
            line for line in speed_to_lead_lines(rows, 4.0, language=language)[1:]
            if not set(line.strip()) <= {"-", " "}
        ]
        assert len(body) == 2
        assert ends(body[0])[1:] == ends(body[1])[1:], (language, body)
        assert ends(body[0])[-1] == ends(heading)[-1], (language, heading, body[0])
        if language == "ja":  # one word a heading: each number ends under its heading
            assert ends(heading)[1:] == ends(body[0])[1:], (heading, body[0])


def test_given_wide_characters_a_table_pads_by_terminal_columns() -> None:
    from app.tables import display_width, table

    lines = table(["名前", "n"], [["山田太郎", "1"], ["Bob", "22"]], "<>")
    assert len({display_width(line) for line in lines}) == 1, lines


HISTORY: dict[str, Any] = {
    "email": "a@example.co.jp",
    "changes": [
        {"at": "2026-12-06T15:30:00+00:00", "total": "12", "stage": "cold", "is_mql": False,
         "version": "v1", "causes": ["first"], "activities": [], "new_activities": 0},
        {"at": "2026-12-07T01:00:00+00:00", "total": "1234", "stage": "hot", "is_mql": True,
         "version": "v1", "causes": ["activity"], "new_activities": 3,
         "activities": [{"kind": "webinar_attended"}]},
    ],
    "versions": {},
}


def test_given_japanese_score_history_names_the_causes_in_japanese_in_the_time_zone() -> None:
    from app.score_versions import format_history

    ja = format_history(HISTORY, language="ja", zone="Asia/Tokyo")
    en = format_history(HISTORY, language="en", zone="UTC")
    assert "a@example.co.jp のスコア履歴 (2 件の変化)" in ja
    assert "初回スコア" in ja and "新しい行動: webinar_attended (+2)" in ja
    assert "2026/12/07 00:30 (JST)" in ja and "2026/12/07 10:00 (JST)" in ja
    assert "first score" in en and "new activity: webinar_attended (+2)" in en
    assert "2026-12-06 15:30 UTC" in en and " 1234 " in en and " 1234 " in ja
    assert "first score" not in ja
    empty = format_history({**HISTORY, "changes": []}, language="ja", zone="Asia/Tokyo")
    assert "記録されていません" in empty
