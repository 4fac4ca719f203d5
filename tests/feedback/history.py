"""A generated history with known ground truth, straight into a state store (deterministic).

600 leads created over 26 ISO weeks. A third are *good* (sales made an opportunity of them),
a third *bad* (sales rejected them: `Closed - Not Converted` with a reason), the rest have no
outcome. Good and bad leads attend a webinar and request a consultation (the shipped MQL
rule's conditions) with page views and white papers in random amounts; only bad leads
register for events, and the planted rule `event_registration` (40 points) lifts them over
the threshold: the bad rule `score suggest` must find.
"""

from __future__ import annotations

import random
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.config import Settings, load_settings
from core.models import Activity, Contact
from core.outcomes import OpportunityRecord, SalesforceRecord
from sync.state import StateStore

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2026, 6, 1, tzinfo=UTC)  # a Monday
END = datetime(2026, 11, 30, tzinfo=UTC)  # 26 weeks later
LEADS = 600
REASONS = ("No budget", "Not now", "Competitor", "Not a fit")


@dataclass
class Truth:
    good: set[str]
    bad: set[str]
    reasons: dict[str, str]
    settings: Settings
    mappings: Path


def plant_bad_rule(mappings: Path) -> None:
    path = mappings / "scoring.toml"
    text = path.read_text(encoding="utf-8")
    text = re.sub(r'(id = "event_registration"\n(?:.*\n)*?points = )5', r"\g<1>40", text, count=1)
    other = '\n[[behaviour]]\nid = "other_form"'
    text = text.replace("cap_window = { points = 10, days = 30 }\n" + other, other, 1)
    path.write_text(text, encoding="utf-8")


def build(tmp: Path, *, seed: int = 7) -> Truth:
    mappings = tmp / "mappings"
    shutil.copytree(ROOT / "mappings", mappings)
    plant_bad_rule(mappings)
    state = tmp / "state.db"
    config = tmp / "connector.toml"
    config.write_text(
        f'[salesforce]\nauth = "session"\ninstance_url = "https://example.my.salesforce.com"\n'
        f'session_id = "x"\n[state]\npath = "{state}"\n[sync]\nmappings_dir = "{mappings}"\n',
        encoding="utf-8",
    )
    rng = random.Random(seed)
    store = StateStore(state)
    contacts, activities, records, opportunities = [], [], [], []
    good, bad, reasons = set(), set(), {}
    span = (END - START).total_seconds()
    for n in range(LEADS):
        key = f"lead{n:03d}@acme{n % 40}.example"
        created = START + timedelta(seconds=rng.uniform(0, span * 0.9))
        contacts.append(Contact(f"c{n}", key, {"createdate": created.isoformat(),
                                               "jobtitle": rng.choice(["Engineer", "部長"])},
                                updated_at=created))
        kind = n % 3  # 0 good, 1 bad, 2 unknown
        acts: list[tuple[str, datetime]] = []
        t = created
        for _ in range(rng.randint(0, 5)):
            t += timedelta(hours=rng.uniform(1, 72))
            acts.append(("page_view", t))
        if rng.random() < 0.5:
            acts.append(("whitepaper_download", t + timedelta(hours=2)))
        if kind in (0, 1) and rng.random() < 0.6:
            acts.append(("webinar_attended", t + timedelta(days=1)))
            acts.append(("consultation_request", t + timedelta(days=rng.uniform(1.5, 5))))
        if kind == 1 and rng.random() < 0.8:
            acts.append(("event_registration", t + timedelta(days=1, hours=1)))
        for i, (k, at) in enumerate(acts):
            if at < END:
                activities.append(Activity(f"{key}:{i}", k, at, contact_id=f"c{n}", email=key))
        if kind == 0:
            good.add(key)
            records.append(SalesforceRecord("Lead", f"00Q{n:015d}", key, "Closed - Converted",
                                            True, created.date(), f"003{n:015d}",
                                            f"006{n:015d}"))
            opportunities.append(OpportunityRecord(f"006{n:015d}", "Prospecting", False, False,
                                                   None, None, created))
        elif kind == 1:
            bad.add(key)
            reasons[key] = REASONS[n % len(REASONS)]
            records.append(SalesforceRecord("Lead", f"00Q{n:015d}", key, "Closed - Not Converted",
                                            rejection_reason=reasons[key]))
    store.upsert_contacts(contacts)
    store.add_activities(activities)
    store.outcomes.save_salesforce_records(records)
    store.outcomes.save_opportunities(opportunities)
    store.close()
    return Truth(good, bad, reasons, load_settings(config), mappings)


def save_reasons(truth: Truth) -> None:
    store = StateStore(truth.settings.resolve(truth.settings.state.path))
    records = store.outcomes.outcomes_for(truth.bad)
    store.rejections.save_reasons(
        SalesforceRecord("Lead", o.record_id, key, o.status, rejection_reason=truth.reasons[key])
        for key, o in records.items()
    )
    store.close()
