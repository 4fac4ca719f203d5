"""Lead scoring, segmentation and MQL decisions: a pure core with no I/O and no clock.

    rules = load_rules("mappings")                      # ConfigError lists every problem
    score = score_lead(rules, contact, company, activities, now, previous=stored_state)
    store(score.mql_state)                              # hand it back next run

For a daily re-score when only time has passed, keep `aggregate_activities(...)` and call
`score_aggregate(...)` with a later `now` instead of re-reading the history.
"""

from scoring.aggregate import aggregate_activities
from scoring.engine import score_aggregate, score_lead
from scoring.loader import load_rules, rules_from_toml, validate_rules
from scoring.mql import next_mql_state
from scoring.result import ActivityAggregate, ExplanationEntry, LeadScore, MqlState, RuleTally
from scoring.rules import Rules

__all__ = [
    "ActivityAggregate",
    "ExplanationEntry",
    "LeadScore",
    "MqlState",
    "RuleTally",
    "Rules",
    "aggregate_activities",
    "load_rules",
    "next_mql_state",
    "rules_from_toml",
    "score_aggregate",
    "score_lead",
    "validate_rules",
]
