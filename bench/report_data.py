"""A generated lead history written straight into a state store, for the report's equality
test and benchmark: deterministic (seeded), plausible (companies by industry and size, job
titles, original sources, ~20 activities a lead over email campaigns, webinars, white papers,
page views and forms; MQL decisions, MQL follow-up Tasks and Salesforce links with owners for
the leads that score high, and their Salesforce outcomes as the outcome pull stores them:
about half of those Leads in a SQL status (`funnel.toml [sql]`), a fifth converted with an
opportunity, won or lost for a third each). Written with executemany in big transactions.

Each MQL decision's basis (`mql_basis`: the rules with positive points and the segments of
the score at the MQL moment, `sync.mql_basis_store`) is written as a sync would have written
it when the episode started: the lead scored at `mql_state.since` from its activities up to
then, under the shipped rules (`write_bases`).

`synthetic_facts` also writes `kpi_facts` rows derived from the same generated numbers (not
from a replay), for timing the aggregation at sizes a replay would take hours to build; their
`verdict` is the one the fact builder computes (`sync.outcomes.lead_verdict`) from the same
stored outcomes.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sync.state import StateStore

INDUSTRIES = ["MANUFACTURING", "COMPUTER_SOFTWARE", "FINANCIAL_SERVICES", "RETAIL", None]
SOURCES = ["ORGANIC_SEARCH", "PAID_SEARCH", "PAID_SOCIAL", "EMAIL_MARKETING", "DIRECT_TRAFFIC",
           "REFERRALS", "OFFLINE", ""]
TITLES = ["部長", "CEO", "Engineer", "Manager", "担当", "Director"]
KINDS = [
    ("email_delivered", 5), ("email_open", 4), ("email_click", 2), ("page_view", 5),
    ("whitepaper_download", 1), ("webinar_registered", 1), ("webinar_attended", 1),
    ("form_submission", 1),
]
_EMAIL = [json.dumps({"campaign_id": f"cmp{n}"}) for n in range(40)]
_WEBINAR = [json.dumps({"marketing_event_id": f"web{n}"}) for n in range(12)]
ATTRS = {
    "email_delivered": _EMAIL, "email_open": _EMAIL, "email_click": _EMAIL,
    "webinar_registered": _WEBINAR, "webinar_attended": _WEBINAR,
    "page_view": [json.dumps({"url": u}) for u in ("/pricing", "/cases/a", "/blog/x", "/")],
    "": ["{}"],
}
OWNERS = [f"005OWNER{n:07d}" for n in range(12)]
MAPPINGS = Path(__file__).resolve().parents[1] / "mappings"


def generate(path: Path, leads: int, *, seed: int = 16, until: datetime,
             activities_per_lead: int = 20, clock=None) -> StateStore:
    """Write `leads` leads into a new SQLite store at `path`; returns it open."""
    rng = random.Random(seed)
    store = StateStore(path, clock=clock or (lambda: until))
    db = store._db
    kinds = [k for k, w in KINDS for _ in range(w)]
    start = until - timedelta(days=540)
    span = (until - start).total_seconds()
    companies = max(leads // 8, 1)
    with db.transaction():
        db.executemany(
            "INSERT INTO companies VALUES (?, ?, ?)",
            [
                (
                    f"co{n}",
                    json.dumps({"industry": rng.choice(INDUSTRIES),
                                "numberofemployees": str(rng.choice([20, 150, 600, 3000]))}),
                    until.isoformat(),
                )
                for n in range(companies)
            ],
        )
    batch = 20_000
    for first in range(0, leads, batch):
        contacts, acts, states, tasks, links, records, opps = [], [], [], [], [], [], []
        for n in range(first, min(first + batch, leads)):
            key = f"lead{n:07d}@example{n % 97}.co.jp"
            created = start + timedelta(seconds=rng.random() * span * 0.97)
            props = {
                "email": key,
                "createdate": created.isoformat().replace("+00:00", "Z"),
                "hs_analytics_source": rng.choice(SOURCES),
                "jobtitle": rng.choice(TITLES),
            }
            contacts.append((str(n), key, json.dumps(props), f"co{rng.randrange(companies)}",
                             created.isoformat(), 0))
            room = max((until - created).total_seconds(), 60.0)
            hot = rng.random() < 0.2
            count = max(1, int(rng.gauss(activities_per_lead, 4)))
            for a in range(count):
                kind = rng.choice(kinds)
                if hot and a % 5 == 0:
                    kind = rng.choice(["webinar_attended", "whitepaper_download", "page_view"])
                when = created + timedelta(seconds=rng.random() ** 0.7 * room)
                attrs = rng.choice(ATTRS.get(kind, ATTRS[""]))
                acts.append((f"g:{n}:{a}", kind, when.isoformat(), str(n), key, attrs))
            if hot:
                since = created + timedelta(seconds=rng.random() * room)
                states.append((key, 1, 1, since.isoformat(), "generated", until.isoformat()))
                stamp = min(since + timedelta(minutes=5), until).isoformat(timespec="seconds")
                tasks.append((f"mql:{key}:1", key, "done", "{}", f"00T{n}", stamp, stamp))
                links.append((key, "Lead", f"00Q{n:012d}", rng.choice(OWNERS), until.isoformat()))
                records_row, opp = _outcome(rng, n, key, since, until)
                records.append(records_row)
                if opp is not None:
                    opps.append(opp)
        with db.transaction():
            db.executemany("INSERT INTO contacts VALUES (?, ?, ?, ?, ?, ?)", contacts)
            db.executemany("INSERT INTO activities VALUES (?, ?, ?, ?, ?, ?)", acts)
            db.executemany("INSERT INTO mql_state VALUES (?, ?, ?, ?, ?, ?)", states)
            db.executemany("INSERT INTO tasks VALUES (?, ?, ?, ?, ?, ?, ?)", tasks)
            db.executemany("INSERT INTO links VALUES (?, ?, ?, ?, ?)", links)
            db.executemany(
                "INSERT INTO sf_records (record_id, sobject, email, status, is_converted, "
                "converted_at, converted_opportunity_id, mql_status, created_at, updated_at) "
                "VALUES (?, 'Lead', ?, ?, ?, ?, ?, 'MQL', ?, ?)", records)
            db.executemany(
                "INSERT INTO sf_opportunities (opportunity_id, stage, is_closed, is_won, amount, "
                "close_date, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", opps)
    write_bases(store)
    return store


def write_bases(store: StateStore, mappings: Path = MAPPINGS) -> int:
    """`mql_basis` for every stored MQL decision, as the sync writes it when the episode
    starts: the score at `mql_state.since` from the activities up to then (what a replay at
    that moment computes). Returns the rows written."""
    from app.leads import read_leads
    from scoring import load_rules, score_lead
    from sync.mql_basis_store import UPSERT, basis_of, basis_row

    rules = load_rules(mappings)
    db = store._db
    states = {r[0]: (int(r[1]), datetime.fromisoformat(r[2])) for r in db.execute(
        "SELECT lead_key, episode, since FROM mql_state WHERE since IS NOT NULL")}
    stamp = store._now_iso()
    rows = []
    for lead in read_leads(store, states):
        episode, since = states[lead.key]
        seen = [a for a in lead.activities if a.occurred_at <= since]
        basis = basis_of(score_lead(rules, lead.contact, lead.company, seen, since),
                         episode, since)
        assert basis is not None
        rows.append(basis_row(lead.key, basis, stamp))
    for first in range(0, len(rows), 50_000):
        with db.transaction():
            db.executemany(UPSERT, rows[first:first + 50_000])
    return len(rows)


def _outcome(rng: random.Random, n: int, key: str, since: datetime, until: datetime):
    """One MQL lead's Salesforce Lead row (and opportunity row when converted)."""
    room = max((until - since).total_seconds(), 60.0)
    roll = rng.random()
    status = "Working - Contacted" if roll < 0.5 else (
        "Closed - Not Converted" if roll < 0.6 else "Open - Not Contacted")
    converted = roll < 0.2
    opp_id = f"006{n:012d}" if converted else None
    at = since + timedelta(seconds=rng.random() * room)
    record = (f"00Q{n:012d}", key, "Closed - Converted" if converted else status,
              int(converted), at.date().isoformat() if converted else None, opp_id,
              since.isoformat(), until.isoformat())
    if opp_id is None:
        return record, None
    fate = rng.random()
    closed, won = fate < 0.66, fate < 0.33
    close = (at + timedelta(days=rng.randrange(1, 60))).date().isoformat()
    stage = "Closed Won" if won else ("Closed Lost" if closed else "Prospecting")
    return record, (opp_id, stage, int(closed), int(won), f"{rng.randrange(1, 90) * 100000}",
                    close if closed else None, at.isoformat(), until.isoformat())


def synthetic_facts(store: StateStore, *, seed: int, meta: dict[str, str],
                    dims: list[str], mappings: Path = MAPPINGS) -> None:
    """`kpi_facts`, `kpi_segments` and `kpi_engagement` rows from the stored leads' own
    numbers (creation, MQL decision), without a replay: for timing the aggregation; the
    verdict from the stored outcomes, as the fact builder computes it."""
    from kpi.compute import period_label
    from sync.kpi_store import FACT_COLUMNS, SEP, micros
    from sync.outcomes import lead_verdict, load_funnel

    funnel = load_funnel(mappings)
    with_records = [r[0] for r in store._db.execute(
        "SELECT DISTINCT email FROM sf_records WHERE email IS NOT NULL")]
    verdicts = {key: lead_verdict(o, funnel)
                for key, o in store.outcomes.outcomes_for(with_records).items()}

    rng = random.Random(seed)
    values = {"industry": ["manufacturing", "it", "finance", "other", "unknown"],
              "size": ["enterprise", "midmarket", "smb", "unknown"],
              "role": ["executive", "manager", "staff", "unknown"],
              "behaviour": ["engaged", "active", "dormant", "unengaged"]}
    db = store._db
    since = {r[0]: r[1] for r in db.execute("SELECT lead_key, since FROM mql_state")}
    outcome = {
        r[0]: r[1:] for r in db.execute(
            "SELECT r.email, r.status, o.created_at, o.is_closed, o.is_won, o.close_date "
            "FROM sf_records r LEFT JOIN sf_opportunities o "
            "ON o.opportunity_id = r.converted_opportunity_id")
    }
    rows = db.execute("SELECT email, hubspot_id, properties FROM contacts").fetchall()
    as_of = int(meta["as_of"])
    with db.transaction():
        for table in ("kpi_facts", "kpi_segments", "kpi_engagement"):
            db.execute(f"DELETE FROM {table}")
        for first in range(0, len(rows), 50_000):
            facts, segs, eng = [], [], []
            for key, hid, text in rows[first:first + 50_000]:
                props = json.loads(text)
                created = datetime.fromisoformat(props["createdate"].replace("Z", "+00:00"))
                mql = datetime.fromisoformat(since[key]) if key in since else None
                channel = props["hs_analytics_source"] or "UNKNOWN"
                seg = [rng.choice(values.get(d, ["x"])) for d in dims]
                interest = created + timedelta(days=rng.random() * 30) if rng.random() < .5 \
                    else None

                def lab(m):
                    return (None, None) if m is None else (period_label(m, "month"),
                                                           period_label(m, "week"))
                found = outcome.get(key)
                sql_flag, opp_at, won_at, lost_at = 0, None, None, None
                if found is not None:
                    status, converted, is_closed, is_won, close = found
                    sql_flag = int(status in ("Working - Contacted", "Closed - Converted"))
                    if converted:
                        opp_at = micros(datetime.fromisoformat(converted))
                        closed_at = micros(datetime.fromisoformat(close).replace(tzinfo=UTC)) \
                            if close else None
                        won_at = closed_at if is_won else None
                        lost_at = closed_at if is_closed and not is_won else None
                facts.append((key, hid, micros(created), *lab(created), channel, SEP.join(seg),
                              micros(mql), *lab(mql), micros(interest), *lab(interest),
                              micros(mql), int(found is not None), sql_flag, None, opp_at,
                              won_at, lost_at, None, as_of,
                              as_of + int(rng.random() * 60 * 86_400) * 1_000_000,
                              verdicts.get(key)))
                segs += [(key, d, v) for d, v in zip(dims, seg, strict=True)]
                segs.append((key, "channel", channel))
                for period in ("week", "month"):
                    for step in range(3):
                        label = period_label(created + timedelta(days=40 * step), period)
                        eng.append((key, period, label, 3, 2, 1, step % 2, 0, step % 3 == 0))
            db.executemany(
                f"INSERT INTO kpi_facts VALUES ({','.join('?' * len(FACT_COLUMNS))})", facts)
            db.executemany("INSERT INTO kpi_segments VALUES (?, ?, ?)", segs)
            db.executemany("INSERT OR IGNORE INTO kpi_engagement VALUES "
                           "(?, ?, ?, ?, ?, ?, ?, ?, ?)", eng)
        db.execute("DELETE FROM kpi_stale")
        db.executemany("INSERT INTO kpi_meta VALUES (?, ?) ON CONFLICT(name) DO UPDATE "
                       "SET value = excluded.value", list(meta.items()))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)
