"""`score rejections` and `score suggest` on a generated history with known ground truth."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import pytest

from app.feedback import collect, rejection_table, run_rejections, run_suggest
from app.simulate import run_simulation
from tests.feedback.history import END, LEADS, START, build, save_reasons


@pytest.fixture(scope="module")
def truth(tmp_path_factory: pytest.TempPathFactory):
    made = build(tmp_path_factory.mktemp("history"))
    save_reasons(made)
    return made


def test_given_rejected_mqls_counts_per_rule_segment_and_reason_equal_a_hand_count(truth) -> None:
    data = run_rejections(truth.settings, START, END)
    _, _, _, found, _ = collect(truth.settings, START, END)
    mqls = {f.key for f in found}
    rejected = sorted(k for k in truth.bad if k in mqls)
    assert data["rejected"] == len(rejected) > 0
    assert data["by_reason"] == dict(Counter(truth.reasons[k] for k in rejected))
    rows = {(r["kind"], r["name"]): r for r in data["rows"]}
    # by hand: every rejected MQL has the webinar rule; event_registration only rejected ones
    hand = sum(1 for f in found if f.rejected and "event_registration" in f.rules)
    assert rows[("rule", "event_registration")]["rejected"] == hand > 0
    assert rows[("rule", "event_registration")]["accepted"] == 0
    assert rows[("rule", "webinar_attended")]["rejected"] == len(rejected)
    roles = Counter(f.segments["role"] for f in found if f.rejected)
    for role, count in roles.items():
        assert rows[("segment", f"role={role}")]["rejected"] == count
    table = rejection_table(data)
    assert table.name == "rejections" and len(table.rows) == len(data["rows"])


def test_given_a_planted_bad_rule_suggest_finds_it_and_its_diff_improves_precision(
    truth, tmp_path: Path
) -> None:
    data = run_suggest(truth.settings, START, END)
    (found,) = [s for s in data["suggestions"] if s["rule"] == "event_registration"]
    assert found["points"]["proposed"] < found["points"]["current"]
    candidate = tmp_path / "candidate"
    subprocess.run(["cp", "-r", str(truth.mappings), str(candidate)], check=True)
    patch = tmp_path / "change.diff"
    patch.write_text(found["diff"], encoding="utf-8")
    subprocess.run(["patch", "-s", "-p2", "-d", str(candidate), "-i", str(patch)], check=True)
    replay = run_simulation(truth.settings, candidate, START, END)
    outcomes = replay["outcomes"]
    assert outcomes["candidate"]["precision"] > outcomes["current"]["precision"]


def test_given_leads_without_a_decisive_record_the_rejection_table_reads_none_of_them(
    truth, replayed: list[str]
) -> None:
    from dataclasses import dataclass

    import app.feedback as feedback

    @dataclass(frozen=True)
    class Report:
        extra_tables: tuple = ()

    read = replayed
    table = feedback.with_rejection_table(Report(), truth.settings, START, END).extra_tables[-1]
    assert set(read) <= truth.good | truth.bad  # no lead without an outcome was read
    assert len(read) < LEADS
    read.clear()
    assert table.rows == rejection_table(run_rejections(truth.settings, START, END)).rows
    assert len(read) == LEADS  # the reference read every lead
