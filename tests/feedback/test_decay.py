"""`score suggest`'s decay proposal on the generated history: a planted too-fast decay (and a
short hold) makes MQLs drop out before sales' first touch; the shipped decay does not."""

from __future__ import annotations

import re
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from app.feedback import run_suggest
from app.leads import existing_store, read_leads
from app.simulate import run_simulation
from scoring import load_rules
from scoring.simulate import replay_lead, week_bounds
from sync.state import StateStore
from sync.state_rows import precise_iso
from tests.feedback.history import END, START, Truth, build

TOUCH_AFTER = timedelta(days=4)  # sales reach each hand-off four days after its MQL moment


def plant_handoffs(truth: Truth) -> int:
    """One touched hand-off per lead the (current) rules make MQL, as the SLA table holds."""
    rules = load_rules(truth.mappings)
    bounds = week_bounds(START, END)
    with existing_store(truth.settings) as store:
        leads = list(read_leads(store))
    rows = []
    for lead in leads:
        first = replay_lead(rules, lead, bounds).first_qualified
        if first is not None:
            touched = first + TOUCH_AFTER
            rows.append((lead.key, 1, precise_iso(first), precise_iso(touched), "call",
                         precise_iso(touched)))  # fmt: skip
    store = StateStore(truth.settings.resolve(truth.settings.state.path))
    with store.transaction() as db:
        db.executemany(
            "INSERT INTO handoffs (lead_key, episode, mql_at, touched_at, touch_kind, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
    store.close()
    return len(rows)


def plant_fast_decay(mappings: Path) -> None:
    path = mappings / "scoring.toml"
    text = path.read_text(encoding="utf-8")
    text = text.replace('decay = { type = "half_life", days = 90 }',
                        'decay = { type = "half_life", days = 1 }', 1)  # fmt: skip
    text = re.sub(r"(?m)^hold_days = 30$", "hold_days = 1", text, count=1)
    assert "days = 1 }" in text and "hold_days = 1" in text
    path.write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def fast(tmp_path_factory: pytest.TempPathFactory) -> Truth:
    truth = build(tmp_path_factory.mktemp("fast"))
    plant_fast_decay(truth.mappings)
    assert plant_handoffs(truth) >= 10
    return truth


def test_given_a_too_fast_decay_suggest_proposes_a_slower_one_with_measured_lift(
    fast: Truth, tmp_path: Path
) -> None:
    data = run_suggest(fast.settings, START, END)
    decay = [s for s in data["suggestions"] if s["kind"] == "slower_decay"]
    assert len(decay) == 1
    found = decay[0]
    assert found["groups"]["behaviour"]["current"] == 1
    assert found["groups"]["behaviour"]["proposed"] > 1
    assert found["median_first_touch_hours"] == 96.0
    assert found["dropout"]["current"] >= 0.2 > found["dropout"]["proposed"] >= 0
    # the diff applies to a copy of mappings/ and `score simulate` replays it
    copy = tmp_path / "candidate"
    subprocess.run(["cp", "-r", str(fast.mappings), str(copy)], check=True)
    subprocess.run(["patch", "-p2", "-d", str(copy)], input=found["diff"].encode(), check=True,
                   capture_output=True)  # fmt: skip
    patched = (copy / "scoring.toml").read_text(encoding="utf-8")
    proposed = found["groups"]["behaviour"]["proposed"]
    assert f'decay = {{ type = "half_life", days = {proposed:g} }}' in patched
    replay = run_simulation(fast.settings, copy, START, END)
    assert replay["outcomes"]["candidate"]["recall"] == found["lift"]["recall"]["proposed"]


def test_given_the_shipped_decay_and_hold_no_decay_change_is_proposed(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    truth = build(tmp_path_factory.mktemp("shipped"))
    assert plant_handoffs(truth) >= 10
    data = run_suggest(truth.settings, START, END)
    assert not [s for s in data["suggestions"] if s["kind"] == "slower_decay"]
