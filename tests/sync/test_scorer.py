"""The pipeline's scoring stage: the pure core's score, its MQL state, and a Task breakdown
that is formatted only when a Task description reads it."""

from __future__ import annotations

from datetime import timedelta

from core.models import Activity, Company, Contact
from core.models import ActivityKind as K
from scoring import load_rules
from scoring.result import EXPLANATION_SLOT, LeadScore
from sync.scorer import RulesScorer, format_breakdown
from tests.scoring.scoring_helpers import MAPPINGS, NOW


def test_breakdown_is_formatted_when_read_and_says_what_the_explanation_says() -> None:
    scorer = RulesScorer(load_rules(MAPPINGS))
    lead = Contact("c1", "ann@acme.example", {"jobtitle": "Director of Production"})
    firm = Company("co1", {"numberofemployees": "5000", "industry": "MACHINERY"})
    history = [
        Activity("wp:1", K.WHITEPAPER_DOWNLOAD, NOW - timedelta(days=2), contact_id="c1"),
        Activity("pv:1", K.PAGE_VIEW, NOW - timedelta(days=1), contact_id="c1",
                 attributes={"url": "https://www.example.com/pricing"}),
    ]
    score, state, breakdown = scorer.score(lead, firm, history, NOW, None)

    assert state == score.mql_state
    # nothing has read the explanation yet: scoring did not build it for the breakdown
    assert type(EXPLANATION_SLOT.__get__(score, LeadScore)) is not tuple
    text = breakdown()
    assert text == format_breakdown(score)
    assert "director_or_above" in text and "whitepaper_download" in text
    assert text.splitlines()[-1].startswith(f"= {score.total} ")
