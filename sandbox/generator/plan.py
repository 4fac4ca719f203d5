"""Per-company and per-contact plans: every random choice of the data set is made here.

A plan is a compact description (ints and short tuples) of one company or one contact and
everything that contact did. Rendering (`hubspot.py`, `salesforce.py`) turns plans into API
records without drawing random numbers, so rendering only some record kinds never shifts the
others.

Independence: contact `i` draws only from its own streams -- `Random(f"{seed}:identity:{i}")`
(who), `Random(f"{seed}:contact:{i}")` (what they did), `Random(f"{seed}:salesforce:{i}")`
(their Salesforce records) -- plus its company's (`{seed}:company:{c}`) and, for a designed
duplicate, contact `i - 1`'s identity. So it is the same whether 10 or 10 million contacts are
generated, any range of contacts can be produced on its own, and the Salesforce side never
replays the HubSpot activity.

Scenario (from the product article): white-paper download -> case-study mails over the next
days -> webinar invitation -> webinar registration and attendance -> consultation request.
Most leads stay cold; a few percent go all the way and are designed MQL candidates.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from random import Random
from typing import TypeVar

from . import vocab as V
from .ids import (
    COMPANY_ID_BASE,
    CONTACT_ID_BASE,
    DAY,
    HOUR,
    MINUTE,
    SECOND,
)

T = TypeVar("T")


def _uniform(rng: Random, lo: int, hi: int) -> int:
    """lo <= x < hi (lo when the range is empty); float-based, far cheaper than randrange."""
    return lo if hi <= lo else lo + int(rng.random() * (hi - lo))


def _below(rng: Random, n: int) -> int:
    return int(rng.random() * n)


def _pick(rng: Random, seq: Sequence[T]) -> T:
    return seq[int(rng.random() * len(seq))]


def _weighted(rng: Random, options: Sequence[T], cumulative: Sequence[float]) -> T:
    x = rng.random() * cumulative[-1]
    for option, edge in zip(options, cumulative, strict=True):
        if x < edge:
            return option
    return options[-1]


CONTACTS_PER_COMPANY = 4  # contact i's home company is i // 4
BIG_COMPANY_EVERY = 50  # companies 0, 50, 100, ... are large and shared by many contacts
HISTORY_DAYS = 180

# Index-designed anomalies: exact counts without a pass, and never overlapping each other.
DUPLICATE_PERIOD, DUPLICATE_AT = 250, 137  # contact i duplicates contact i - 1
MALFORMED_PERIOD, MALFORMED_AT = 100, 57

# Scoring rules the data is designed around (ground truth only; scoring/ owns the real rules).
POINTS_PAGE_VIEW = 5
POINTS_WHITEPAPER = 10
POINTS_WEBINAR_ATTENDED = 20
POINTS_CONSULTATION = 30
POINTS_FIT_LARGE_COMPANY = 10  # >= 1,000 employees (associated company)
POINTS_FIT_DIRECTOR = 15  # director or above
POINTS_FIT_MANUFACTURING = 10  # vocab.MANUFACTURING_INDUSTRIES
MQL_POINTS_THRESHOLD = 100

# Segments
COLD, WARM, MQL, UNSUBSCRIBED, HARD_BOUNCED, IMPORTED = (
    "cold",
    "warm",
    "mql",
    "unsubscribed",
    "hard_bounced",
    "imported",
)

# Email event types (HubSpot legacy v1 `type`)
DELIVERED, OPEN, CLICK, BOUNCE, STATUSCHANGE = (
    "DELIVERED",
    "OPEN",
    "CLICK",
    "BOUNCE",
    "STATUSCHANGE",
)

# Participation states
REGISTERED, ATTENDED, NO_SHOW, CANCELLED = "REGISTERED", "ATTENDED", "NO_SHOW", "CANCELLED"


# HubSpot original source (`hs_analytics_source`) per contact, with these weights in percent.
# Derived from a hash of the contact index, never from a random stream: adding it shifted no
# other choice of the data set.
ORIGINAL_SOURCES: tuple[tuple[str, int], ...] = (
    ("ORGANIC_SEARCH", 28),
    ("PAID_SEARCH", 16),
    ("EMAIL_MARKETING", 10),
    ("SOCIAL_MEDIA", 7),
    ("PAID_SOCIAL", 7),
    ("REFERRALS", 10),
    ("OTHER_CAMPAIGNS", 5),
    ("DIRECT_TRAFFIC", 9),
    ("OFFLINE", 8),
)


def original_source(index: int) -> str:
    """Contact `index`'s original source: deterministic, the same for every seed."""
    digest = hashlib.blake2b(f"source:{index}".encode(), digest_size=8).digest()
    x = int.from_bytes(digest, "big") % 100
    for source, weight in ORIGINAL_SOURCES:
        if x < weight:
            return source
        x -= weight
    return ORIGINAL_SOURCES[-1][0]


def campaign_ids(seed: int) -> dict[str, int]:
    base = 70_000_000 + (seed % 1000) * 1000
    return {
        "nurture": base + 100,
        "newsletter": base + 200,
        "invite": base + 300,
        "reminder": base + 400,
    }


@dataclass(frozen=True, slots=True)
class Timeline:
    """Portal-wide schedule relative to `now` (all epoch ms)."""

    now: int
    webinar_starts: tuple[int, ...]
    webinar_ends: tuple[int, ...]
    invites: tuple[int, ...]
    newsletters: tuple[int, ...]


NEWSLETTER_DAYS = 14  # one newsletter every two weeks unless a data set asks for more


@lru_cache(maxsize=16)
def timeline(now_ms: int, newsletter_days: int = NEWSLETTER_DAYS) -> Timeline:
    day0 = now_ms - now_ms % DAY
    starts = tuple(day0 + off * DAY + 5 * HOUR for off, _ in V.WEBINARS)  # 14:00 JST
    return Timeline(
        now=now_ms,
        webinar_starts=starts,
        webinar_ends=tuple(s + HOUR for s in starts),
        invites=tuple(s - 14 * DAY - 4 * HOUR for s in starts),  # 10:00 JST, two weeks before
        newsletters=tuple(
            day0 + off * DAY + 90 * MINUTE for off in range(-175, 0, newsletter_days)
        ),
    )


# --- Companies ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpportunityPlan:
    number: int
    name: str
    stage: str
    probability: int
    amount: int
    close_ms: int
    created_ms: int
    modified_ms: int
    owner: int


@dataclass(frozen=True, slots=True)
class CompanyPlan:
    index: int
    hubspot_id: str
    name: str
    name_ja: str
    name_en: str
    domain: str
    industry: str
    employees: int
    revenue: int
    country: str
    city: str
    phone: str
    created_ms: int
    modified_ms: int
    convention: int
    in_salesforce: bool
    sf_owner: int
    sf_type: str
    sf_created_ms: int
    sf_modified_ms: int
    opportunities: tuple[OpportunityPlan, ...]
    role_mailbox: int | None  # index into vocab.SF_ROLE_MAILBOXES: a Salesforce-only Contact


_COMBOS = len(V.REGIONS) * len(V.BUSINESS_WORDS) * len(V.LEGAL_FORMS)
_COMBO_STRIDE = 1009  # coprime with _COMBOS, so c -> combination is a bijection per generation


def _jp_phone(rng: Random) -> str:
    area = _pick(rng, ("03", "06", "052", "045", "092", "011", "053"))
    return f"{area}-{_uniform(rng, 1000, 10000)}-{_uniform(rng, 1000, 10000)}"


@lru_cache(maxsize=4096)
def company_plan(seed: int, c: int, now_ms: int) -> CompanyPlan:
    rng = Random(f"{seed}:company:{c}")
    gen, rest = divmod(c, _COMBOS)
    m = (rest * _COMBO_STRIDE + seed) % _COMBOS
    region_i, word_i, form_i = (
        m % len(V.REGIONS),
        (m // len(V.REGIONS)) % len(V.BUSINESS_WORDS),
        m // (len(V.REGIONS) * len(V.BUSINESS_WORDS)),
    )
    r_ro, r_ja = V.REGIONS[region_i]
    w_ro, w_ja, w_en, industry = V.BUSINESS_WORDS[word_i]
    template, en_suffix, tld = V.LEGAL_FORMS[form_i]
    label = f"{w_ro}-{r_ro}" if form_i == 1 else f"{r_ro}-{w_ro}"
    domain = f"{label}{gen if gen else ''}.{tld}"
    name_ja = template.format(r_ja + w_ja)
    name_en = f"{r_ro.capitalize()} {w_en} {en_suffix}"
    if c % 97 == 13:
        name = V.ODD_COMPANY_NAMES[(c // 97) % len(V.ODD_COMPANY_NAMES)]
    elif tld == "com" or rng.random() < 0.25:
        name = name_en
    else:
        name = name_ja

    if c % BIG_COMPANY_EVERY == 0:
        employees = int(1000 * 50 ** rng.random())
    else:
        employees = int(10 * 5000 ** (rng.random() ** 2))
    revenue = employees * _uniform(rng, 8, 41) * 1_000_000
    if tld == "com" and rng.random() < 0.5:
        country, city = _pick(rng, V.FOREIGN_LOCATIONS)
        phone = f"+1 {_uniform(rng, 200, 990)}-555-{_uniform(rng, 1000, 10000)}"
    else:
        country, city = "Japan", _pick(rng, V.JP_CITIES)
        phone = _jp_phone(rng)

    created = now_ms - _uniform(rng, 30 * DAY, 720 * DAY)
    if rng.random() < 0.01:
        modified = now_ms - _below(rng, HOUR)
    else:
        modified = now_ms - int((now_ms - created) * rng.random() ** 2)
    modified = max(modified, created)
    convention = _below(rng, 5)

    in_sf = rng.random() < (0.8 if c % BIG_COMPANY_EVERY == 0 else 0.3)
    sf_owner = _below(rng, len(V.SF_USERS) - 1)
    sf_created = now_ms - _uniform(rng, 60 * DAY, 900 * DAY)
    sf_modified = now_ms - _uniform(rng, 0, now_ms - sf_created)
    opportunities: list[OpportunityPlan] = []
    if in_sf and rng.random() < 0.35:
        for k in range(1 + (rng.random() < 0.3)):
            stage, probability = _pick(rng, V.SF_OPPORTUNITY_STAGES)
            o_created = now_ms - _uniform(rng, 5 * DAY, 300 * DAY)
            closed = stage.startswith("Closed")
            close = o_created + _uniform(rng, 10 * DAY, 120 * DAY)
            if closed:
                close = min(close, now_ms - DAY)
            opportunities.append(
                OpportunityPlan(
                    number=c * 2 + k,
                    name=f"{name} - {('スマートファクトリー導入', 'MES更新', 'IoT PoC')[k % 3]}",
                    stage=stage,
                    probability=probability,
                    amount=_uniform(rng, 30, 3000) * 100_000,
                    close_ms=close,
                    created_ms=o_created,
                    modified_ms=o_created + (now_ms - o_created) // _uniform(rng, 1, 6),
                    owner=sf_owner,
                )
            )
    won = any(o.stage == "Closed Won" for o in opportunities)
    role_mailbox = _below(rng, len(V.SF_ROLE_MAILBOXES)) if in_sf and rng.random() < 0.3 else None
    return CompanyPlan(
        index=c,
        hubspot_id=str(COMPANY_ID_BASE + c),
        name=name,
        name_ja=name_ja,
        name_en=name_en,
        domain=domain,
        industry=industry,
        employees=employees,
        revenue=revenue,
        country=country,
        city=city,
        phone=phone,
        created_ms=created,
        modified_ms=modified,
        convention=convention,
        in_salesforce=in_sf,
        sf_owner=sf_owner,
        sf_type="Customer - Direct" if won else "Prospect",
        sf_created_ms=sf_created,
        sf_modified_ms=sf_modified,
        opportunities=tuple(opportunities),
        role_mailbox=role_mailbox,
    )


# --- Contact identity -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a contact is: enough to build a designed duplicate from it."""

    lang: str
    persona: str  # "business" | "student" | "job_seeker"
    firstname: str | None
    lastname: str | None
    given_ascii: str
    family_ascii: str
    email: str | None
    free_mail: bool
    company_index: int | None  # associated HubSpot company (None for free mail)
    company_prop: str | None
    jobtitle: str | None
    title_level: str | None
    phone: str | None


def _corporate_local(convention: int, given: str, family: str) -> str:
    if convention == 0:
        return f"{given}.{family}"
    if convention == 1:
        return f"{family}.{given}"
    if convention == 2:
        return f"{given[0]}.{family}"
    if convention == 3:
        return f"{family}-{given[0]}"
    return f"{family}_{given}"


def _title(rng: Random, lang: str) -> tuple[str | None, str | None]:
    if rng.random() < 0.05:
        return None, None
    if rng.random() < 0.004:
        return V.LONG_TITLE, V.MANAGER
    if lang == "ja" and rng.random() < 0.78:
        title, level, with_dept = V.JA_TITLES[_skewed_index(rng, len(V.JA_TITLES))]
        if with_dept and rng.random() < 0.6:
            sep = _pick(rng, (" ", "", "　"))  # half-width, none, full-width space
            title = f"{_pick(rng, V.JA_DEPARTMENTS)}{sep}{title}"
        return title, level
    title, level = V.EN_TITLES[_skewed_index(rng, len(V.EN_TITLES))]
    return title, level


def _skewed_index(rng: Random, n: int) -> int:
    """More staff and managers than executives: the lists run junior -> senior."""
    return min(n - 1, int(n * rng.random() ** 1.6))


@lru_cache(maxsize=1024)
def identity(seed: int, i: int, now_ms: int) -> Identity:
    rng = Random(f"{seed}:identity:{i}")
    lang = "ja" if rng.random() < 0.82 else "en"
    p = rng.random()
    persona = "student" if p < 0.04 else "job_seeker" if p < 0.07 else "business"

    # Family name by arithmetic, not by draw: block mates (same home company) never share
    # one, so corporate addresses, which all contain the full family name, never collide.
    if lang == "ja":
        fam_ro, fam_kanji = V.JA_FAMILY[(i * 7919 + seed) % len(V.JA_FAMILY)]
        giv_ro, giv_kanji = _pick(rng, V.JA_GIVEN)
        style = rng.random()
        if style < 0.62:
            firstname, lastname = giv_kanji, _pick(rng, fam_kanji)
        elif style < 0.95:
            firstname, lastname = giv_ro, fam_ro
        else:
            firstname, lastname = giv_ro.upper(), fam_ro.upper()
        given_ascii, family_ascii = giv_ro.lower(), fam_ro.lower()
    else:
        lastname, family_ascii = V.EN_FAMILY[(i * 7919 + seed) % len(V.EN_FAMILY)]
        firstname, given_ascii = _pick(rng, V.EN_GIVEN)
    if rng.random() < 0.01:
        firstname = None  # people skip optional fields

    home = i // CONTACTS_PER_COMPANY
    free_mail = persona != "business" or rng.random() < 0.22
    shared = rng.random() < 0.15
    company_index: int | None
    if free_mail:
        company_index = None
        pattern = _below(rng, 4)
        local = (
            f"{given_ascii}.{family_ascii}",
            f"{family_ascii}{given_ascii}",
            f"{given_ascii}_{family_ascii}",
            f"{given_ascii[0]}{family_ascii}",
        )[pattern]
        email = f"{local}{i}@{_pick(rng, V.FREE_MAIL_DOMAINS)}"
    else:
        company_index = (
            BIG_COMPANY_EVERY * _below(rng, home // BIG_COMPANY_EVERY + 1) if shared else home
        )
        company = company_plan(seed, company_index, now_ms)
        local = _corporate_local(company.convention, given_ascii, family_ascii)
        # Contacts of a shared (large) company come from anywhere: the index keeps them unique.
        email = f"{local}{i}@{company.domain}" if shared else f"{local}@{company.domain}"

    if persona == "student":
        jobtitle, level = _pick(rng, V.STUDENT_TITLES), V.STUDENT
        company_prop = _pick(rng, V.UNIVERSITIES) if rng.random() < 0.6 else None
    elif persona == "job_seeker":
        jobtitle, level = _pick(rng, V.JOB_SEEKER_TITLES), V.JOB_SEEKER
        company_prop = None
    else:
        jobtitle, level = _title(rng, lang)
        company = company_plan(seed, company_index if company_index is not None else home, now_ms)
        q = rng.random()
        if q < 0.8:
            company_prop = company.name  # as typed: the name, an English or a shortened form
        elif q < 0.9:
            company_prop = company.name_en
        elif q < 0.95:
            company_prop = company.name_ja.replace("株式会社", "").strip()
        else:
            company_prop = None
    phone: str | None = None
    if rng.random() < 0.6:
        phone = (
            _jp_phone(rng)
            if rng.random() < 0.7
            else f"+81 90-{_uniform(rng, 1000, 10000)}-{_uniform(rng, 1000, 10000)}"
        )
    return Identity(
        lang=lang,
        persona=persona,
        firstname=firstname,
        lastname=lastname,
        given_ascii=given_ascii,
        family_ascii=family_ascii,
        email=email,
        free_mail=free_mail,
        company_index=company_index,
        company_prop=company_prop,
        jobtitle=jobtitle,
        title_level=level,
        phone=phone,
    )


def _malformed(email: str, variant: int) -> str | None:
    local, _, domain = email.partition("@")
    return (
        f"{local}.{domain}",  # missing @
        f"{local.replace('.', ' ', 1) if '.' in local else local + ' '}@{domain}",  # space
        "",
        None,
        f"{local}@@{domain}",
        f"{local}@{domain},",
        f"{local}＠{domain}",  # full-width at sign, typed with a Japanese IME
    )[variant % 7]


def _case_variant(email: str, variant: int) -> str:
    """An address as someone typed it: other case or stray whitespace (Salesforce keeps it)."""
    local, _, domain = email.partition("@")
    if variant % 3 == 0:
        local = ".".join(p.capitalize() for p in local.split("."))
        domain = domain[:1].upper() + domain[1:]
        return f"{local}@{domain}"
    if variant % 3 == 1:
        return email.upper()
    return f" {email} "


def _second_address(email: str, variant: int) -> str:
    """The address a person's second HubSpot contact was created with.

    HubSpot keeps contact emails lower-cased and unique, so a duplicate person never shares an
    address with the first contact: they signed up again with a personal or another work
    address. (Case and whitespace variants occur in typed form values and in Salesforce.)
    """
    local, _, domain = email.partition("@")
    # A plus tag with the duplicate's own number: unique by construction (nothing else in
    # the generator makes a "+"), so two duplicates never collide, however many there are.
    if variant % 2 == 0 and domain.lower() != "gmail.com":
        return f"{local}+{variant}@gmail.com"
    return f"{local}+{variant}@{domain}"


# --- Contact journey ------------------------------------------------------------------------


@dataclass(slots=True)
class SalesforceRecordPlan:
    sobject: str  # "Contact" | "Lead"
    number: int
    email: str
    owner: int
    created_ms: int
    modified_ms: int
    lead_source: str
    status: str | None = None  # Lead only
    converted_contact: int | None = None  # Contact number
    converted_account: int | None = None  # company index
    converted_ms: int | None = None
    account: int | None = None  # company index (Contact only)


@dataclass(slots=True)
class ContactPlan:
    index: int
    hubspot_id: str
    ident: Identity
    email: str | None
    segment: str
    duplicate_of: int | None
    malformed: bool
    created_ms: int
    modified_ms: int
    lifecyclestage: str
    lead_status: str | None
    # (ms, form key, conversion uuid bits, message index)
    forms: list[tuple[int, str, int, int]]
    # (ms, type, campaign id, event uuid bits, detail)
    emails: list[tuple[int, str, int, int, tuple]]
    # (ms, page index, uuid bits, referrer index)
    pages: list[tuple[int, int, int, int]]
    # (webinar, state, occurred ms, registered ms, duration s or None)
    participations: list[tuple[int, str, int, int, int | None]]
    # (meeting number, activity type, start, end, outcome, created, modified)
    meetings: list[tuple[int, str, int, int, str, int, int]]
    points: int
    mql_candidate: bool


class _Journey:
    """Builds one contact's activity lists; a small helper so the steps read in order."""

    def __init__(self, rng: Random, tl: Timeline, seed: int, segment: str, lang: str) -> None:
        self.rng, self.tl, self.segment, self.lang = rng, tl, segment, lang
        self.now = tl.now
        self.campaigns = campaign_ids(seed)
        self.forms: list[tuple[int, str, int, int]] = []
        self.emails: list[tuple[int, str, int, int, tuple]] = []
        self.pages: list[tuple[int, int, int, int]] = []
        self.participations: list[tuple[int, str, int, int, int | None]] = []

    def page(self, ms: int, page: int, referrer: int | None = None) -> None:
        if ms <= self.now:
            ref = _below(self.rng, len(V.REFERRERS)) if referrer is None else referrer
            self.pages.append((ms, page, self.rng.getrandbits(128), ref))

    def form(self, ms: int, key: str) -> None:
        """A submission on the form's landing page, preceded by a view of that page."""
        if ms > self.now:
            return
        landing = _FORM_LANDING_PAGE.get(key)
        if landing is not None:
            self.page(ms - _uniform(self.rng, 20 * SECOND, 5 * MINUTE), landing)
        message = _below(self.rng, len(V.CONSULTATION_MESSAGES))
        self.forms.append((ms, key, self.rng.getrandbits(128), message))

    def email(self, ms: int, kind: str, campaign: int, detail: tuple = ()) -> None:
        self.emails.append((ms, kind, campaign, self.rng.getrandbits(128), detail))


_FORM_LANDING_PAGE: dict[str, int] = {
    "whitepaper_en": V.PAGE_INDEX["/whitepaper/smart-factory-guide"],
    "whitepaper_ja": V.PAGE_INDEX["/whitepaper/smart-factory-guide"],
    "consultation_en": V.PAGE_INDEX["/consultation"],
    "consultation_ja": V.PAGE_INDEX["/consultation"],
    "contact_us": V.PAGE_INDEX["/contact"],
    "webinar": V.PAGE_INDEX["/webinars"],
    "newsletter": V.PAGE_INDEX["/newsletter"],
}

_WARM_SOURCES = ("whitepaper", "webinar", "contact_us", "newsletter")
_COLD_SOURCES = ("whitepaper", "newsletter", "import", "contact_us")
_INVITE_P = {MQL: 0.5, WARM: 0.5, COLD: 0.3, UNSUBSCRIBED: 0.3, HARD_BOUNCED: 0.3}
GRAYMAIL_AFTER = 75 * DAY  # HubSpot-style suppression of contacts who never engage
_OPEN_P = {MQL: 0.75, WARM: 0.5, COLD: 0.18, UNSUBSCRIBED: 0.3, HARD_BOUNCED: 0.0}
_CLICK_P = {MQL: 0.55, WARM: 0.3, COLD: 0.08, UNSUBSCRIBED: 0.05, HARD_BOUNCED: 0.0}


def contact_plan(
    seed: int, i: int, now_ms: int, newsletter_days: int = NEWSLETTER_DAYS
) -> ContactPlan:
    tl = timeline(now_ms, newsletter_days)
    rng = Random(f"{seed}:contact:{i}")
    malformed = i % MALFORMED_PERIOD == MALFORMED_AT
    duplicate_of = i - 1 if i % DUPLICATE_PERIOD == DUPLICATE_AT else None
    ident = identity(seed, duplicate_of if duplicate_of is not None else i, now_ms)
    email = ident.email
    if duplicate_of is not None and email is not None:
        email = _second_address(email, i // DUPLICATE_PERIOD)
    elif malformed and email is not None:
        email = _malformed(email, i // MALFORMED_PERIOD)

    r = rng.random()
    if malformed or duplicate_of is not None:
        segment = IMPORTED
    elif r < 0.015:
        segment = HARD_BOUNCED
    elif r < 0.045:
        segment = UNSUBSCRIBED
    elif r < 0.09:
        segment = MQL if ident.persona == "business" else WARM
    elif r < 0.27:
        segment = WARM
    else:
        segment = COLD

    if segment == MQL:
        created = now_ms - _uniform(rng, 20 * DAY, 178 * DAY)
    elif rng.random() < 0.01:
        created = now_ms - _below(rng, HOUR)  # brand new: an incremental sync must see it
    else:
        created = now_ms - _below(rng, HISTORY_DAYS * DAY)

    j = _Journey(rng, tl, seed, segment, ident.lang)
    wp_form = "whitepaper_ja" if ident.lang == "ja" else "whitepaper_en"
    consult_form = "consultation_ja" if ident.lang == "ja" else "consultation_en"

    # 1. How the contact entered HubSpot.
    if segment == IMPORTED:
        source = "import"
    elif segment == MQL:
        source = "whitepaper"
    elif segment == WARM:
        source = _weighted(rng, _WARM_SOURCES, (0.6, 0.8, 0.9, 1.0))
    else:
        source = _weighted(rng, _COLD_SOURCES, (0.55, 0.7, 0.95, 1.0))
    if source == "whitepaper":
        j.form(created, wp_form)
    elif source == "contact_us":
        j.form(created, "contact_us")
    elif source == "newsletter":
        j.form(created, "newsletter")
    newsletter = source == "newsletter" or rng.random() < (0.6 if segment in (WARM, MQL) else 0.35)

    # 2. Webinar registration (and attendance).
    registered: dict[int, int] = {}  # webinar -> registration ms
    webinars = range(len(tl.webinar_starts))
    if source == "webinar":
        upcoming = [w for w in webinars if tl.webinar_starts[w] > created + HOUR]
        if upcoming:
            registered[upcoming[0]] = created
            j.form(created, "webinar")
    want = {MQL: 1.0, WARM: 0.55, COLD: 0.04, UNSUBSCRIBED: 0.02}.get(segment, 0.0)
    if not registered and rng.random() < want:
        if segment == MQL:
            choices = [
                w
                for w in webinars
                if tl.webinar_starts[w] >= created + 2 * DAY
                and tl.webinar_ends[w] <= now_ms - DAY // 2
            ]
        else:
            choices = [w for w in webinars if tl.webinar_starts[w] > created + 2 * HOUR]
        if choices:
            w = choices[0] if segment == MQL else _pick(rng, choices)
            start, invite = tl.webinar_starts[w], tl.invites[w]
            earliest = max(created + 10 * MINUTE, invite + 30 * MINUTE)
            latest = min(start - HOUR, now_ms)
            if latest > earliest:
                reg = earliest + int((latest - earliest) * rng.random() ** 2)
                registered[w] = reg
                j.form(reg, "webinar")
    attended_count = 0
    for w, reg in registered.items():
        start, end = tl.webinar_starts[w], tl.webinar_ends[w]
        if end > now_ms:
            j.participations.append((w, REGISTERED, reg, reg, None))
            continue
        p = rng.random()
        if segment == MQL or (segment == WARM and p < 0.45) or (segment != WARM and p < 0.2):
            joined = start + _below(rng, 10 * MINUTE)
            duration = _uniform(rng, 15 * 60, 3600 - (joined - start) // SECOND)
            j.participations.append((w, ATTENDED, joined, reg, duration))
            attended_count += 1
        elif p < 0.85:
            j.participations.append((w, NO_SHOW, end, reg, None))
        else:
            j.participations.append((w, CANCELLED, _uniform(rng, reg, start), reg, None))

    # 3. Consultation request.
    consult_ms: int | None = None
    if segment == MQL:
        end = tl.webinar_ends[next(iter(registered))] if registered else created
        if rng.random() < 0.08:
            consult_ms = now_ms - _below(rng, HOUR)  # became an MQL just now
        else:
            consult_ms = end + _uniform(rng, DAY // 2, min(10 * DAY, now_ms - end - MINUTE))
        j.page(consult_ms - _uniform(rng, 2 * MINUTE, 2 * HOUR), V.PAGE_INDEX["/pricing"])
    elif segment == WARM and rng.random() < (0.3 if ident.persona == "job_seeker" else 0.06):
        consult_ms = created + _uniform(rng, HOUR, now_ms - created)
    if consult_ms is not None:
        j.form(consult_ms, consult_form if ident.persona != "job_seeker" else "contact_us")

    # 4. Meetings booked from a consultation request.
    meetings: list[tuple[int, str, int, int, str, int, int]] = []
    if (
        consult_ms is not None
        and ident.persona == "business"
        and rng.random() < (0.85 if segment == MQL else 0.4)
    ):
        m_created = consult_ms + _uniform(rng, 2 * HOUR, 2 * DAY)
        if m_created <= now_ms:
            start = consult_ms + _uniform(rng, 2 * DAY, 10 * DAY)
            start -= start % (30 * MINUTE)
            end = start + (30 * MINUTE if rng.random() < 0.4 else HOUR)
            kind = _weighted(rng, ("Consultation", "Demo", "Discovery call"), (5, 8, 10))
            if start > now_ms:
                outcome, modified = "SCHEDULED", m_created
            else:
                outcome = _weighted(
                    rng, ("COMPLETED", "NO_SHOW", "CANCELED", "SCHEDULED"), (72, 84, 94, 100)
                )
                modified = min(now_ms, max(m_created, end + _uniform(rng, HOUR, 2 * DAY)))
            meetings.append((i * 2, kind, start, end, outcome, m_created, modified))

    # 5. Marketing email, in send order; subscription state changes as it goes.
    if segment != IMPORTED:
        _emails(j, rng, tl, created, source == "whitepaper", newsletter, registered)

    # 6. Browsing.
    sessions = {MQL: (4, 9), WARM: (2, 6)}.get(segment)
    if sessions:
        for _ in range(_uniform(rng, sessions[0], sessions[1] + 1)):
            j.page(created + _uniform(rng, MINUTE, now_ms - created), _pick(rng, V.BROWSE_PAGES))
    elif segment != IMPORTED and rng.random() < 0.3:
        j.page(created + _uniform(rng, MINUTE, now_ms - created), _pick(rng, V.BROWSE_PAGES))
    if segment != IMPORTED and rng.random() < 0.015:
        j.page(now_ms - _below(rng, HOUR), _pick(rng, V.BROWSE_PAGES))  # visiting right now
    if ident.persona == "job_seeker" and segment != IMPORTED:
        j.page(created + _uniform(rng, MINUTE, now_ms - created), V.PAGE_INDEX["/careers"])

    j.emails.sort(key=lambda e: e[0])
    j.pages.sort(key=lambda p: p[0])
    j.forms.sort(key=lambda f: f[0])

    # 7. Contact bookkeeping: lastmodifieddate covers every change the activity made.
    latest = max(
        [created]
        + [e[0] for e in j.emails[-1:]]
        + [p[0] for p in j.pages[-1:]]
        + [f[0] for f in j.forms[-1:]]
        + [p[2] for p in j.participations]
        + [m[6] for m in meetings]
    )
    modified = min(now_ms, latest + _uniform(rng, SECOND, 3 * MINUTE))

    lifecycle = (
        "subscriber" if source in ("newsletter", "import") and rng.random() < 0.5 else "lead"
    )
    lead_status = None
    if segment == MQL:
        lifecycle = _weighted(
            rng, ("lead", "marketingqualifiedlead", "salesqualifiedlead"), (50, 85, 100)
        )
        lead_status = _pick(rng, ("NEW", "OPEN", "IN_PROGRESS", "CONNECTED"))
    elif ident.persona != "business" and rng.random() < 0.5:
        lifecycle, lead_status = "other", "UNQUALIFIED"
    elif rng.random() < 0.3:
        lead_status = _pick(rng, ("NEW", "OPEN", "ATTEMPTED_TO_CONTACT"))

    points, candidate = _score(seed, ident, j, attended_count, now_ms)
    return ContactPlan(
        index=i,
        hubspot_id=str(CONTACT_ID_BASE + i),
        ident=ident,
        email=email,
        segment=segment,
        duplicate_of=duplicate_of,
        malformed=malformed,
        created_ms=created,
        modified_ms=modified,
        lifecyclestage=lifecycle,
        lead_status=lead_status,
        forms=j.forms,
        emails=j.emails,
        pages=j.pages,
        participations=j.participations,
        meetings=meetings,
        points=points,
        mql_candidate=candidate,
    )


def _emails(
    j: _Journey,
    rng: Random,
    tl: Timeline,
    created: int,
    nurture: bool,
    newsletter: bool,
    registered: dict[int, int],
) -> None:
    now, camp = tl.now, j.campaigns
    # (send ms, campaign id, link page path, webinar registered from this invite or -1)
    sends: list[tuple[int, int, str, int]] = []
    if nurture:
        for step, days in enumerate((1, 3, 7, 14, 21)):
            sends.append(
                (
                    created + days * DAY + _below(rng, 5 * MINUTE),
                    camp["nurture"] + step * 2 + (j.lang == "en"),
                    V.NURTURE_LINKS[step],
                    -1,
                )
            )
    if newsletter:
        for k, ms in enumerate(tl.newsletters):
            if ms >= created:
                sends.append(
                    (ms, camp["newsletter"] + k, V.PAGES[_pick(rng, V.BROWSE_PAGES)][0], -1)
                )
    for w, ms in enumerate(tl.invites):
        reg = registered.get(w, -1)
        # Each invitation goes to one list (topic, region): most contacts are not on it.
        if ms >= created and (reg > ms or rng.random() < _INVITE_P[j.segment]):
            sends.append((ms, camp["invite"] + w, "/webinars", w if reg > ms else -1))
    for w, reg in registered.items():
        ms = tl.webinar_starts[w] - DAY
        if ms >= reg:
            sends.append((ms, camp["reminder"] + w, "/webinars", -1))
    sends.sort()

    segment = j.segment
    p_open, p_click = _OPEN_P[segment], _CLICK_P[segment]
    subscribed = True
    unsub_at = _uniform(rng, 1, 7) if segment == UNSUBSCRIBED else -1
    delivered_count = 0
    last_engaged = created
    for send_ms, campaign, link, invite_for in sends:
        if send_ms > now:
            break
        if not subscribed or send_ms - last_engaged > GRAYMAIL_AFTER:
            continue  # unsubscribed, or suppressed as graymail (never opens anything)
        if segment == HARD_BOUNCED:
            j.email(
                send_ms + _uniform(rng, 5 * SECOND, 2 * MINUTE),
                BOUNCE,
                campaign,
                (_pick(rng, V.HARD_BOUNCE_CATEGORIES),),
            )
            break  # HubSpot never mails a hard-bounced address again
        if rng.random() < 0.01:
            j.email(
                send_ms + _uniform(rng, 5 * SECOND, 2 * MINUTE),
                BOUNCE,
                campaign,
                (_pick(rng, V.SOFT_BOUNCE_CATEGORIES),),
            )
            continue
        delivered = send_ms + _uniform(rng, 5 * SECOND, 5 * MINUTE)
        if delivered > now:
            break
        j.email(delivered, DELIVERED, campaign)
        delivered_count += 1
        ua, loc = _below(rng, len(V.USER_AGENTS)), _below(rng, len(V.LOCATIONS))
        opened = clicked = None
        if invite_for >= 0:  # the invitation this contact registered from: open, click, register
            clicked = registered[invite_for] - 6 * MINUTE  # then the registration page
            opened = delivered + (clicked - delivered) // 2
        elif rng.random() < p_open:
            opened = delivered + min(5 * DAY, MINUTE + int(rng.expovariate(1 / (6 * HOUR))))
            if rng.random() < p_click:
                clicked = opened + _uniform(rng, 3 * SECOND, 3 * MINUTE)
        if opened is not None and opened <= now:
            last_engaged = opened
            j.email(opened, OPEN, campaign, (ua, loc, _uniform(rng, 500, 90_000)))
            if clicked is not None and clicked <= now:
                link_id = _uniform(rng, 1, 12)
                j.email(clicked, CLICK, campaign, (ua, loc, link, link_id))
                page = V.PAGE_INDEX.get(link.split("?")[0], 0)
                j.page(clicked + _uniform(rng, SECOND, 5 * SECOND), page, referrer=-1)
        if delivered_count == unsub_at:
            t = opened if opened is not None and opened <= now else delivered
            t += _uniform(rng, MINUTE, DAY)
            if t <= now:
                j.email(t, STATUSCHANGE, campaign, ("UNSUBSCRIBED", "SOURCE_RECIPIENT"))
                subscribed = False
                if rng.random() < 0.15:
                    back = t + _uniform(rng, 5 * DAY, 60 * DAY)
                    if back <= now:
                        j.email(back, STATUSCHANGE, campaign, ("SUBSCRIBED", "SOURCE_RECIPIENT"))
                        subscribed = True


# Salesforce presence of one person, by share: (~25% of HubSpot emails overall)
_WITH_ACCOUNT: tuple[tuple[str, ...], ...] = (
    ("contact",),
    ("lead",),
    ("converted",),
    ("lead", "lead"),
    ("lead", "contact"),
    (),
)
_WITHOUT_ACCOUNT: tuple[tuple[str, ...], ...] = (("lead",), ("lead", "lead"), ())


def salesforce_plan(seed: int, i: int, now_ms: int) -> list[SalesforceRecordPlan]:
    """Contact i's Salesforce Contacts/Leads: ~25% of HubSpot emails, some more than once.

    Drawn from its own stream (`{seed}:salesforce:{i}`), so the Salesforce side can be
    generated without replaying the contact's HubSpot activity.
    """
    if i % MALFORMED_PERIOD == MALFORMED_AT or i % DUPLICATE_PERIOD == DUPLICATE_AT:
        return []  # imported junk and API-created duplicates never reached Salesforce
    ident = identity(seed, i, now_ms)
    if ident.email is None:
        return []
    rng = Random(f"{seed}:salesforce:{i}")
    company = (
        company_plan(seed, ident.company_index, now_ms) if ident.company_index is not None else None
    )
    has_account = company is not None and company.in_salesforce
    if has_account:
        kinds = _weighted(rng, _WITH_ACCOUNT, (0.12, 0.19, 0.25, 0.26, 0.27, 1.0))
    else:
        kinds = _weighted(rng, _WITHOUT_ACCOUNT, (0.20, 0.22, 1.0))
    out: list[SalesforceRecordPlan] = []
    default_owner = len(V.SF_USERS) - 1  # the lead queue user
    for k, kind in enumerate(kinds):
        # Salesforce keeps whatever case the address was typed in.
        typed_other_case = rng.random() < (0.5 if k else 0.15)
        email = _case_variant(ident.email, 0) if typed_other_case else ident.email
        created = now_ms - _uniform(rng, 5 * DAY, 700 * DAY)
        modified = created + int((now_ms - created) * rng.random())
        if company is not None and rng.random() < 0.6:
            owner = company.sf_owner
        elif rng.random() < 0.3:
            owner = default_owner
        else:
            owner = _below(rng, default_owner)
        common = {"email": email, "owner": owner, "lead_source": _pick(rng, V.SF_LEAD_SOURCES)}
        if kind == "lead":
            status = _pick(rng, V.SF_OPEN_LEAD_STATUSES)
            out.append(
                SalesforceRecordPlan(
                    "Lead",
                    4 * i + k,
                    created_ms=created,
                    modified_ms=modified,
                    status=status,
                    **common,
                )
            )
            continue
        assert company is not None  # Contacts only exist for companies with an Account
        if kind == "contact":
            out.append(
                SalesforceRecordPlan(
                    "Contact",
                    4 * i + k,
                    created_ms=created,
                    modified_ms=modified,
                    account=company.index,
                    **common,
                )
            )
            continue
        # converted: the Lead and the Contact it became, same address
        converted = created + _uniform(rng, DAY, now_ms - created)
        out.append(
            SalesforceRecordPlan(
                "Contact",
                4 * i,
                created_ms=converted,
                modified_ms=max(converted, modified),
                account=company.index,
                **common,
            )
        )
        out.append(
            SalesforceRecordPlan(
                "Lead",
                4 * i + 1,
                created_ms=created,
                modified_ms=converted,
                status="Closed - Converted",
                converted_contact=4 * i,
                converted_account=company.index,
                converted_ms=converted,
                **common,
            )
        )
    if out and rng.random() < 0.03:  # an old disqualified lead for the same person
        out.append(
            SalesforceRecordPlan(
                "Lead",
                4 * i + 3,
                email=ident.email,
                owner=default_owner,
                created_ms=now_ms - 800 * DAY,
                modified_ms=now_ms - 400 * DAY,
                lead_source="Other",
                status="Closed - Not Converted",
            )
        )
    return out


def _score(seed: int, ident: Identity, j: _Journey, attended: int, now_ms: int) -> tuple[int, bool]:
    points = POINTS_PAGE_VIEW * len(j.pages)
    whitepapers = sum(1 for f in j.forms if f[1] in V.WHITEPAPER_FORMS)
    consultations = sum(1 for f in j.forms if f[1] in V.CONSULTATION_FORMS)
    points += POINTS_WHITEPAPER * whitepapers + POINTS_CONSULTATION * consultations
    points += POINTS_WEBINAR_ATTENDED * attended
    if ident.company_index is not None:
        company = company_plan(seed, ident.company_index, now_ms)
        points += POINTS_FIT_LARGE_COMPANY if company.employees >= 1000 else 0
        points += POINTS_FIT_MANUFACTURING if company.industry in V.MANUFACTURING_INDUSTRIES else 0
    points += POINTS_FIT_DIRECTOR if ident.title_level in V.DIRECTOR_OR_ABOVE else 0
    candidate = consultations > 0 and attended > 0 and points >= MQL_POINTS_THRESHOLD
    return points, candidate
