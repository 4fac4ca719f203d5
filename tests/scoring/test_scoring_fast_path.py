"""The fast path (one-pass aggregation, compiled conditions) gives exactly the results of the
implementation it replaced (tests/scoring/reference_scoring.py), on generated histories,
leads and rule sets that use every kind of rule, condition, decay and cap."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, replace
from datetime import timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.models import Activity, Company, Contact, DistinctActivities
from core.models import ActivityKind as K
from scoring import (
    LeadScore,
    MqlState,
    Rules,
    aggregate_activities,
    load_rules,
    score_aggregate,
    score_lead,
)
from tests.scoring import reference_scoring as reference
from tests.scoring.scoring_helpers import DAY, MAPPINGS, NOW, rules

# Every feature the engine has, several times over: multi-kind and attribute-tested rules,
# negative points under a window, once, total caps, all three decays, group caps and
# weights; MQL rules and disqualifiers with windows, at_least, not_followed_by, where, not,
# any and all; stages and segments reading fields, scores, activities and the MQL flag.
EVERYTHING = rules(base="""
[groups.web]
axis = "engagement"
max = 45
decay = { type = "half_life", days = 20 }

[groups.mail]
axis = "engagement"
weight = 0.7
min = -25
decay = { type = "linear", days = 45 }

[groups.flat]
axis = "engagement"
decay = { type = "none" }

[groups.profile]
axis = "fit"
weight = 1.5
max = 30

[groups.company]
axis = "fit"

[grade]
fit_thresholds = [25, 15, 5]
engagement_thresholds = [50, 30, 10]

[mql]
hold_days = 10

[stages]
default = "cold"

[[behaviour]]
id = "visit"
group = "web"
kinds = ["page_view"]
points = 5
cap_window = { points = 7, days = 3 }
cap_total = 40

[[behaviour]]
id = "pricing"
group = "web"
kinds = ["page_view"]
points = 2.5
where = { url = { glob = "*/pricing*" } }

[[behaviour]]
id = "content"
group = "web"
kinds = ["whitepaper_download", "event_registration"]
points = 10
cap_window = { points = 15, days = 10 }

[[behaviour]]
id = "webinar"
group = "web"
kinds = ["webinar_attended"]
points = 20
once = true
where = { attendance_percentage = { min = 25 } }

# Window caps that are whole multiples of whole points (k = 2, 1, 3; one negative): the
# generated code counts earners instead of summing shares.
[[behaviour]]
id = "visit_window"
group = "web"
kinds = ["page_view"]
points = 5
cap_window = { points = 10, days = 3 }

[[behaviour]]
id = "download_window"
group = "web"
kinds = ["whitepaper_download", "event_registration"]
points = 10
cap_window = { points = 10, days = 10 }

[[behaviour]]
id = "attended_window"
group = "web"
kinds = ["webinar_attended"]
points = -3
cap_window = { points = 9, days = 5 }

[[behaviour]]
id = "no_show"
group = "web"
kinds = ["webinar_no_show"]
points = -4
cap_window = { points = 6, days = 10 }

[[behaviour]]
id = "open"
group = "mail"
kinds = ["email_open"]
points = 1.3
cap_window = { points = 3, days = 7 }

[[behaviour]]
id = "click"
group = "mail"
kinds = ["email_click"]
points = 3
decay = { type = "half_life", days = 9 }
cap_total = 10

[[behaviour]]
id = "bounce"
group = "mail"
kinds = ["email_bounce"]
points = -7.5
cap_window = { points = 10, days = 30 }

[[behaviour]]
id = "unsubscribe"
group = "flat"
kinds = ["email_unsubscribe"]
points = -20
once = true

[[behaviour]]
id = "meeting"
group = "flat"
kinds = ["meeting"]
points = 4.2
cap_window = { points = 8, days = 14 }

[[behaviour]]
id = "forms"
group = "flat"
kinds = ["form_submission", "contact_us"]
points = 6
decay = { type = "linear", days = 30 }
cap_window = { points = 9, days = 5 }

[[fit]]
id = "size"
group = "company"
points = 10
when = { field = "company.numberofemployees", min = 1000 }

[[fit]]
id = "industry"
group = "company"
points = 7.5
when = { field = "company.industry", in = ["MACHINERY", "Manufacturing"] }

[[fit]]
id = "senior"
group = "profile"
points = 15
when = { field = "contact.jobtitle", regex = '\\b(director|vp|chief)\\b|部長' }

[[fit]]
id = "free_mail"
group = "profile"
points = -5
when = { field = "contact.email_domain", in = ["gmail.com"] }

[[fit]]
id = "no_title"
group = "profile"
points = -2
when = { field = "contact.jobtitle", missing = true }

[[mql.rules]]
id = "engaged_reader"
when.all = [
  { score = "engagement", min = 20 },
  { activity = ["whitepaper_download", "event_registration"], within_days = 30, at_least = 2 },
]

[[mql.rules]]
id = "hot_visitor"
when.any = [
  { all = [{ score = "total", above = 40 }, { score = "web", max = 44 }] },
  { activity = "page_view", within_days = 7, at_least = 3, where = { url = { regex = "pric" } } },
]

[[disqualifiers]]
id = "unsubscribed"
reason = "unsubscribed"
when = { activity = "email_unsubscribe", not_followed_by = ["email_resubscribe"] }

[[disqualifiers]]
id = "competitor"
when = { field = "company.domain", in = ["rival.example"] }

[[disqualifiers]]
id = "cold_and_bounced"
when.all = [
  { activity = "email_bounce", within_days = 60 },
  { not = { score = "fit", above = 10 } },
]

[[stages.rules]]
stage = "mql"
when = { is_mql = true }

[[stages.rules]]
stage = "hot"
when = { score = "total", above = 30, below = 1000 }

[[stages.rules]]
stage = "warm"
when.any = [
  { activity = ["meeting", "contact_us"], within_days = 20 },
  { activity = "email_click", within_days = 5, not_followed_by = ["email_unsubscribe"] },
]
""", segments="""
separator = "|"

[[dimensions]]
name = "size"
default = "unknown"
[[dimensions.rules]]
value = "large"
when = { field = "company.numberofemployees", min = 1000 }
[[dimensions.rules]]
value = "small"
when = { field = "company.numberofemployees", below = 1000 }

[[dimensions]]
name = "state"
default = "quiet"
[[dimensions.rules]]
value = "qualified"
when = { is_mql = true }
[[dimensions.rules]]
value = "negative"
when = { score = "mail", max = -0.01 }
[[dimensions.rules]]
value = "recent"
when = { activity = ["page_view", "email_open"], within_days = 3 }
""")

SHIPPED = load_rules(MAPPINGS)

KINDS = [K.PAGE_VIEW, K.WHITEPAPER_DOWNLOAD, K.EVENT_REGISTRATION, K.WEBINAR_ATTENDED,
         K.EMAIL_OPEN, K.EMAIL_CLICK, K.EMAIL_BOUNCE, K.EMAIL_UNSUBSCRIBE,
         K.EMAIL_RESUBSCRIBE, K.MEETING, K.FORM_SUBMISSION, K.CONTACT_US,
         K.CONSULTATION_REQUEST, K.EMAIL_DELIVERED, K.WEBINAR_NO_SHOW]

attributes = st.fixed_dictionaries({}, optional={
    "url": st.sampled_from(["https://x.example/pricing", "https://x.example/pricing/team",
                            "https://x.example/cases/1", "/blog"]),
    "attendance_percentage": st.sampled_from([5, 25, 80, "60", None]),
    "bounce_type": st.sampled_from(["hard", "soft"]),
})
events = st.tuples(
    st.sampled_from(KINDS),
    # days in the past; ties, the future of `now`, exactly on the edge of a window
    st.one_of(st.floats(-3, 400, allow_nan=False),
              st.sampled_from([0.0, 1.0, 2.5, -1.0, 3.0, 5.0, 7.0, 10.0, 20.0, 30.0, 60.0])),
    attributes,
    st.integers(0, 3),  # how many extra copies under the same source_id
)
histories = st.lists(events, max_size=45).map(lambda items: [
    Activity(f"{kind}:{n}", kind, NOW - timedelta(days=days_ago), contact_id="c1",
             attributes=attrs)
    for n, (kind, days_ago, attrs, copies) in enumerate(items)
    for _ in range(1 + copies)
])
contacts = st.builds(
    lambda email, title: Contact("c1", email, {"jobtitle": title}),
    st.sampled_from(["ann@acme.example", "bo@gmail.com", None, "odd-address"]),
    st.sampled_from([None, "", "  Director of Sales ", "VP Marketing", "営業部長", "Engineer"]),
)
companies = st.one_of(st.none(), st.builds(
    lambda size, industry, domain: Company("co1", {"numberofemployees": size,
                                                  "industry": industry, "domain": domain}),
    st.sampled_from([None, "5000", "1,200", "12", "n/a"]),
    st.sampled_from([None, "MACHINERY", "manufacturing", "BANKING"]),
    st.sampled_from([None, "rival.example", "acme.example"]),
))
states = st.sampled_from([
    None, MqlState(),
    MqlState(1, True, NOW - 3 * DAY, "hot_visitor"),
    MqlState(2, True, NOW - 30 * DAY, "engaged_reader"),
    MqlState(1, False, None, None),
])
RULE_SETS = {"everything": EVERYTHING, "shipped": SHIPPED}


def both(rule_set: Rules, history: list[Activity], lead: Contact, firm: Company | None,
         moment_days: float, later_days: float, previous: MqlState | None) -> None:
    now = NOW + moment_days * DAY
    later = now + later_days * DAY

    fast_aggregate = aggregate_activities(rule_set, history, now)
    assert fast_aggregate == reference.aggregate_activities(rule_set, history, now)
    expected = reference.score_lead(rule_set, lead, firm, history, now, previous)
    assert score_lead(rule_set, lead, firm, history, now, previous) == expected
    # the explanation is built when first read: read alone, it is the same tuple
    assert score_lead(rule_set, lead, firm, history, now, previous).explanation == \
        expected.explanation
    # so is the MQL reason
    assert score_lead(rule_set, lead, firm, history, now, previous).mql_reason == \
        expected.mql_reason
    if len({a.source_id for a in history}) == len(history):  # as the state store hands them
        assert score_lead(rule_set, lead, firm, DistinctActivities(history), now,
                          previous) == expected
    assert score_aggregate(rule_set, lead, firm, fast_aggregate, later, previous) == \
        reference.score_aggregate(rule_set, lead, firm, fast_aggregate, later, previous)


def test_given_an_unread_explanation_copies_and_pickles_carry_the_built_entries() -> None:
    import pickle

    from scoring import ExplanationEntry

    history = [Activity(f"a{i}", K.PAGE_VIEW, NOW - i * DAY, contact_id="c1",
                        attributes={"url": "/pricing"}) for i in range(6)]
    lead = Contact("c1", "a@acme.example", {"jobtitle": "Director"})
    expected = reference.score_lead(SHIPPED, lead, None, history, NOW)
    assert expected.explanation and type(expected.explanation) is tuple

    def fresh() -> LeadScore:
        return score_lead(SHIPPED, lead, None, history, NOW)

    for copied in (pickle.loads(pickle.dumps(fresh())), replace(fresh()), fresh()):
        assert copied == expected
        assert type(copied.explanation) is tuple and copied.explanation == expected.explanation
        assert all(type(e) is ExplanationEntry for e in copied.explanation)
        assert copied.explanation is copied.explanation  # built once
    assert repr(fresh()) == repr(expected)
    with pytest.raises(FrozenInstanceError):
        fresh().explanation = ()  # type: ignore[misc]


@pytest.mark.parametrize("rule_set", list(RULE_SETS), ids=list(RULE_SETS))
@settings(deadline=None, max_examples=150)
@given(history=histories, lead=contacts, firm=companies,
       moment=st.one_of(st.just(0.0), st.floats(-5, 60)),
       later=st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0, 120)), previous=states)
def test_given_any_lead_the_fast_path_equals_the_replaced_implementation_exactly(
    rule_set: str, history: list[Activity], lead: Contact, firm: Company | None,
    moment: float, later: float, previous: MqlState | None,
) -> None:
    both(RULE_SETS[rule_set], history, lead, firm, moment, later, previous)


def test_given_synthetic_benchmark_leads_both_implementations_agree_on_every_lead() -> None:
    import random

    from core.models import ActivityKind

    rng = random.Random(4)
    kinds = sorted(ActivityKind.ALL)
    for n in range(300):
        history = [
            Activity(f"a{n}:{i}", rng.choice(kinds),
                     NOW - timedelta(seconds=rng.randint(-86400, 400 * 86400)),
                     contact_id="c1",
                     attributes={"url": rng.choice(["/pricing", "/cases/3", "/"]),
                                 "bounce_type": rng.choice(["hard", "soft"])})
            for i in range(rng.randint(0, 60))
        ]
        firm = Company("co1", {"numberofemployees": str(rng.randint(1, 5000)),
                               "industry": rng.choice(["MACHINERY", "BANKING", None])})
        lead = Contact("c1", rng.choice(["a@gmail.com", "b@acme.example"]),
                       {"jobtitle": rng.choice(["Director", "部長", None, "Student"])})
        for rule_set in RULE_SETS.values():
            both(rule_set, history, lead, firm, rng.uniform(-2, 10), rng.uniform(0, 90), None)


@pytest.mark.parametrize("rule_set", list(RULE_SETS), ids=list(RULE_SETS))
def test_given_activities_exactly_on_window_edges_the_counted_window_caps_agree(
    rule_set: str,
) -> None:
    # Runs of activities exactly one window apart, and several at one instant, for every
    # kind: whether the k-th latest earner sits on the cutoff decides each share.
    offsets = [0, 0, 1, 3, 3, 5, 6, 6, 8, 10, 10, 13, 15, 20, 20, 25, 30, 40]
    history = [
        Activity(f"{kind}:{n}", kind, NOW - timedelta(days=days), contact_id="c1",
                 attributes={"url": "https://x.example/pricing", "bounce_type": "hard"})
        for kind in sorted(K.ALL) for n, days in enumerate(offsets)
    ]
    lead = Contact("c1", "ann@acme.example", {"jobtitle": "VP Marketing"})
    both(RULE_SETS[rule_set], history, lead, None, 0.0, 2.0, None)
    both(RULE_SETS[rule_set], history[::-1], lead, None, 0.5, 0.0, None)


def test_activity_carries_its_epoch_seconds_outside_equality_and_repr() -> None:
    early = Activity("a", K.PAGE_VIEW, NOW + timedelta(microseconds=7), contact_id="c1")
    same = Activity(source_id="a", kind=K.PAGE_VIEW, occurred_at=NOW + timedelta(microseconds=7),
                    contact_id="c1", email=None, attributes={})
    other_zone = Activity("a", K.PAGE_VIEW, early.occurred_at.astimezone(
        timezone(timedelta(hours=9))), contact_id="c1")

    assert early.occurred_ts == early.occurred_at.timestamp() == other_zone.occurred_ts
    assert early == same and early.attributes == {} and "occurred_ts" not in repr(early)
    moved = replace(early, occurred_at=NOW)
    assert moved.occurred_ts == NOW.timestamp() and moved.contact_id == "c1"


def test_activity_still_refuses_naive_times_and_freezes_its_attributes() -> None:
    attributes = {"url": "/pricing"}
    activity = Activity("a", K.PAGE_VIEW, NOW, attributes=attributes)
    attributes["url"] = "/changed"

    assert activity.attributes == {"url": "/pricing"}
    with pytest.raises(TypeError):
        activity.attributes["url"] = "/x"  # type: ignore[index]
    with pytest.raises(FrozenInstanceError):
        activity.kind = K.EMAIL_OPEN  # type: ignore[misc]
    with pytest.raises(ValueError, match="timezone-aware"):
        Activity("b", K.PAGE_VIEW, NOW.replace(tzinfo=None))


def test_compiled_program_binds_rule_values_as_names_never_as_source_text() -> None:
    source = SHIPPED.program.source

    for text in ("MACHINERY", "gmail.com", "webinar_attended", "director", "unsubscribed"):
        assert text not in source
    assert "def labels(T, P, now_ts, S, M):" in source
