# ruff: noqa: F811  (the fixture imported from test_score_versions)
"""The sync stores the basis of an MQL decision exactly when a lead starts a new MQL episode
under the live rules (`mql_basis`): after the backfill for every qualified lead, with the
state's moment and the rules a replay at that moment credits; not for the shadow rule set's
MQLs; not again when a later run finds the lead still qualified in the same episode."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from scoring import load_rules, score_lead
from sync.runner import mappings_dir, open_store
from tests.e2e.test_score_versions import shadow_setup, sync_at  # noqa: F401


def stored(settings: Any) -> dict[str, tuple]:
    with open_store(settings) as store:
        return {r[0]: tuple(r[1:]) for r in store._db.execute(
            "SELECT lead_key, episode, since, rules, segments, updated_at FROM mql_basis")}


def test_given_syncs_with_a_shadow_a_basis_is_stored_per_new_live_episode_only(
    shadow_setup: Any,
) -> None:
    _, settings, _, (a, b, c, d), first = shadow_setup
    bases = stored(settings)
    with open_store(settings) as store:
        states = store.mql_decisions()
        qualified = {k for k, s in states.items() if s.qualified}
        assert {c, d} <= qualified and a not in qualified and b not in qualified
        assert set(bases) == qualified  # the shadow's MQLs a and b have none
        rules = load_rules(mappings_dir(settings))
        from app.leads import read_leads

        for lead in read_leads(store, [c, d]):
            state = states[lead.key]
            episode, since, _, _, _ = bases[lead.key]
            assert (episode, since) == (state.episode, state.since.isoformat())
            assert state.since == first
            seen = [x for x in lead.activities if x.occurred_at <= state.since]
            replay = score_lead(rules, lead.contact, lead.company, seen, state.since)
            found = store.mql_basis.bases_for([lead.key])[lead.key]
            assert found.rules == {e.rule_id for e in replay.explanation
                                   if e.contribution_cents > 0}
            assert dict(found.segments) == dict(replay.segments)
    sync_at(settings, first + timedelta(hours=1))  # still qualified, same episode
    assert stored(settings) == bases  # nothing rewritten (updated_at included)
