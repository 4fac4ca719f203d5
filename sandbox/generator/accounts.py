"""A small generated history with a known account roll-up (deterministic for a seed): companies
with planted contacts whose job titles give roles, whose last activity sits inside or outside
the 30-day windows (the edge included), and whose scores sit clearly above or below the
default `engaged_score` (30 points), for tests that count the expected account values from
the plan itself, not from the connector's code.

Scores are planted through activities the default rules count (`mappings/scoring.toml`):
- "high": a consultation request (30), a contact-us form (20) and three white-paper
  downloads (10 each, capped at 30 in 30 days) on one day: 80 behaviour points, 45 or more
  after 75 days of the 90-day half-life;
- "low": one white-paper download: 10 at most, 25 with a director's persona points.
Companies are outside the target industry and small (no firmographic points).

Lead-to-account matching is planted too: contacts without a company association whose e-mail
domain is a HubSpot company's `domain`, contacts at domains only a Salesforce Account's
`Website` has, and free-mail contacts next to a Salesforce Account and a HubSpot company whose
site is a free-mail domain (which must never match).

Shapes: the HubSpot read shapes of `sandbox.generator.hubspot` (forms from `form_records`),
Salesforce REST shapes (`SalesforceSandbox.seed`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .hubspot import form_guids, form_records
from .ids import iso, to_ms

DIRECTOR_TITLES = ("製造部長", "営業本部長", "Director of Operations", "取締役 工場長")
ENGINEER_TITLES = ("生産技術エンジニア", "Software Engineer", "情報システム担当")
OTHER_TITLES = ("営業担当", "Marketing Manager", "部長代理")  # 部長代理: a deputy, no role
AGES_DAYS = (3.0, 12.0, 25.0, 29.5, 31.0, 45.0, 75.0)
COMPANY_ID_BASE = 2_100_000_000
CONTACT_ID_BASE = 2_100_000
FREE_MAIL = "gmail.com"


@dataclass(frozen=True, slots=True)
class PlantedContact:
    hubspot_id: str
    email: str
    jobtitle: str
    director: bool
    engineer: bool
    high: bool  # planted score class: above (True) or below the default engaged score
    last_activity: datetime
    company_id: str | None  # the associated HubSpot company (None: matched by domain only)


@dataclass(frozen=True, slots=True)
class PlantedCompany:
    domain: str
    name: str
    hubspot_id: str | None  # None: only Salesforce knows this company (an Account)
    salesforce_account_id: str | None


@dataclass
class AccountHistory:
    companies: list[PlantedCompany]
    contacts: list[PlantedContact]
    hubspot: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    salesforce: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def account_of(self, contact: PlantedContact) -> PlantedCompany | None:
        """The planted truth: the company, else the company whose domain is the e-mail's,
        never for free mail."""
        domain = contact.email.rsplit("@", 1)[1]
        if contact.company_id is not None:
            return next(c for c in self.companies if c.hubspot_id == contact.company_id)
        if domain == FREE_MAIL:
            return None
        return next((c for c in self.companies if c.domain == domain), None)


def _sf_id(prefix: str, n: int) -> str:
    return f"{prefix}5g0000{n:06d}AAA"


def generate_accounts(seed: int, now: datetime, companies: int = 10) -> AccountHistory:
    rng = random.Random(seed)
    now_ms = to_ms(now)
    guids = form_guids(seed)
    history = AccountHistory([], [])
    hs: dict[str, list[dict[str, Any]]] = {
        "forms": list(form_records(seed, now_ms)), "companies": [], "contacts": [],
        "associations": [], "form_submissions": []}
    sf: dict[str, list[dict[str, Any]]] = {"Account": []}
    serial = [0]

    def company(n: int, domain: str, *, hubspot: bool, salesforce: bool) -> PlantedCompany:
        name = f"アカウント工業{n}株式会社"
        hid = str(COMPANY_ID_BASE + n) if hubspot else None
        sid = _sf_id("001", 500 + n) if salesforce else None
        if hid:
            created = iso(now_ms - 400 * 86_400_000)
            hs["companies"].append({
                "id": hid, "properties": {
                    "name": name, "domain": domain, "industry": "RETAIL",
                    "numberofemployees": "40", "country": "Japan", "createdate": created,
                    "hs_lastmodifieddate": created, "hs_object_id": hid},
                "createdAt": created, "updatedAt": created, "archived": False})
        if sid:
            sf["Account"].append({"Id": sid, "Name": name, "Website": f"https://www.{domain}/"})
        planted = PlantedCompany(domain, name, hid, sid)
        history.companies.append(planted)
        return planted

    def contact(owner: PlantedCompany | None, domain: str, title: str, age: float,
                high: bool, *, associated: bool = True) -> None:
        serial[0] += 1
        n = serial[0]
        hid = str(CONTACT_ID_BASE + n)
        email = f"planted{n}@{domain}"
        last = now - timedelta(days=age)
        created = iso(now_ms - 300 * 86_400_000)
        company_id = owner.hubspot_id if owner is not None and associated else None
        hs["contacts"].append({
            "id": hid, "properties": {
                "email": email, "firstname": "花子", "lastname": f"検証{n}", "jobtitle": title,
                "company": owner.name if owner else "", "lifecyclestage": "lead",
                "createdate": created, "lastmodifieddate": created,
                "hs_lastmodifieddate": created, "hs_object_id": hid},
            "createdAt": created, "updatedAt": created, "archived": False})
        if company_id:
            hs["associations"].append({
                "fromObjectType": "contacts", "toObjectType": "companies", "from": {"id": hid},
                "to": {"id": company_id},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}]})
        forms = ["consultation_ja", "contact_us", "whitepaper_ja", "whitepaper_en",
                 "whitepaper_ja"] if high else ["whitepaper_ja"]
        last_ms = to_ms(last)
        for k, key in enumerate(forms):  # the last one is the last activity
            values = [{"name": "email", "value": email}, {"name": "lastname", "value": f"検証{n}"},
                      {"name": "firstname", "value": "花子"}]
            hs["form_submissions"].append({
                "formId": guids[key], "conversionId": f"00000000-0000-4000-8000-{n:06d}{k:06d}",
                "submittedAt": last_ms - (len(forms) - 1 - k) * 60_000, "values": values,
                "pageUrl": "https://www.example-corp.jp/forms"})
        history.contacts.append(PlantedContact(
            hid, email, title, title in DIRECTOR_TITLES, title in ENGINEER_TITLES, high, last,
            company_id))

    # Planted cases first: a buying group whose engineer is 25 days in (it dissolves six days
    # later), the window's edge (31 days out, 29.5 in), a deputy (部長代理) who is no director.
    a = company(0, "planted-a.co.jp", hubspot=True, salesforce=True)
    contact(a, a.domain, "製造部長", 3, False)
    contact(a, a.domain, "生産技術エンジニア", 25, False)
    b = company(1, "planted-b.co.jp", hubspot=True, salesforce=True)
    contact(b, b.domain, "営業本部長", 31, False)
    contact(b, b.domain, "Software Engineer", 3, False)
    contact(b, b.domain, "Marketing Manager", 29.5, False)
    c = company(2, "planted-c.co.jp", hubspot=True, salesforce=True)
    contact(c, c.domain, "部長代理", 3, True)
    contact(c, c.domain, "情報システム担当", 12, False)
    # A company whose lead without an association is matched by domain.
    d = company(3, "planted-d.co.jp", hubspot=True, salesforce=True)
    contact(d, d.domain, "Director of Operations", 45, True)
    contact(d, d.domain, "Software Engineer", 12, False, associated=False)
    for n in range(4, companies):
        planted = company(n, f"acct{n}-{rng.randrange(10_000):04d}.co.jp", hubspot=True,
                          salesforce=rng.random() < 0.8)
        for _ in range(rng.randint(1, 5)):
            title = rng.choice(DIRECTOR_TITLES + ENGINEER_TITLES + OTHER_TITLES)
            contact(planted, planted.domain, title, rng.choice(AGES_DAYS), rng.random() < 0.4,
                    associated=rng.random() < 0.85)
    # Companies only Salesforce knows: leads matched to the Account by its Website.
    for n in (companies, companies + 1):
        planted = company(n, f"sfonly{n}.co.jp", hubspot=False, salesforce=True)
        contact(planted, planted.domain, rng.choice(DIRECTOR_TITLES), 3, True)
        contact(planted, planted.domain, rng.choice(ENGINEER_TITLES), 12, False)
    # Free mail never matches, not even a Salesforce Account or a HubSpot company at it.
    sf["Account"].append({"Id": _sf_id("001", 990), "Name": "Gmail 個人",
                          "Website": f"https://{FREE_MAIL}"})
    free_company = str(COMPANY_ID_BASE + 990)
    hs["companies"].append({
        "id": free_company, "properties": {"name": "Gmail", "domain": FREE_MAIL,
                                           "hs_object_id": free_company},
        "createdAt": iso(now_ms), "updatedAt": iso(now_ms), "archived": False})
    contact(None, FREE_MAIL, "製造部長", 3, True)
    contact(None, FREE_MAIL, "生産技術エンジニア", 3, True)
    history.hubspot, history.salesforce = hs, sf
    return history


__all__ = ["AccountHistory", "PlantedCompany", "PlantedContact", "generate_accounts"]
