"""`connector score compare`, `score promote` and `score history`: the shadow rule set
against the live one since the shadow started, making it live as a recorded version, and
one lead's score changes with their causes (docs/scoring-versions.md)."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from app.leads import existing_store
from app.tables import ratio, table, when
from core.clock import Clock
from core.config import Settings
from core.errors import ConfigError
from core.i18n import Language, moment, number, t
from core.identity import canonical_email
from scoring.simulate import OutcomeScore, outcome_score
from sync.db import state_target
from sync.lock import state_lock
from sync.outcomes import load_funnel, stored_outcome_labels
from sync.rule_versions import (
    SCORING_FILES,
    VERSIONS_FOLDER,
    Swap,
    begin_swap,
    fingerprint,
    finish_swap,
    kept_folder,
    load_shadow,
    shadow_folder,
    shadow_problems,
)
from sync.runner import mappings_dir, open_store
from sync.score_store import LIVE, SHADOW
from sync.state import StateStore
from sync.state_rows import precise_iso

TEXT_LIST_LIMIT = 30
NO_SHADOW = (
    "no shadow rule set: set [shadow] rules_dir in the config to a folder with scoring.toml "
    "and segments.toml, and let a sync run"
)


def _shadow_dir(settings: Settings) -> Path:
    folder = shadow_folder(settings)
    if folder is None:
        raise ConfigError(NO_SHADOW)
    problems = shadow_problems(folder)
    if problems:
        raise ConfigError(
            f"shadow rules in {folder} ([shadow] rules_dir) have {len(problems)} problem(s)",
            problems,
        )
    return folder


# ------------------------------------------------------------------------------ compare
def compare_shadow(settings: Settings) -> dict[str, Any]:
    """Since the shadow's first run: the MQLs each rule set made among the leads both
    scored, their agreement, and precision/recall against stored sales outcomes (as
    `score simulate` counts them: MQL at any time in the period, known outcomes only)."""
    shadow_dir = _shadow_dir(settings)
    folder = mappings_dir(settings)
    live, shadow = fingerprint(folder), fingerprint(shadow_dir)
    with existing_store(settings) as store:
        row = store.scores.version(shadow.version)
        since_text = None if row is None else row["shadow_since"]
        leads: set[str] = set()
        live_mqls: dict[str, str] = {}
        shadow_mqls: dict[str, str] = {}
        labels = None
        if since_text is not None:
            since = datetime.fromisoformat(since_text)
            leads = store.scores.scored_since(SHADOW, since)
            live_mqls = {k: v for k, v in store.scores.mqls_since(LIVE, since).items()
                         if k in leads}
            shadow_mqls = {k: v for k, v in store.scores.mqls_since(SHADOW, since).items()
                           if k in leads}
            labels = stored_outcome_labels(store, load_funnel(folder))
    both = sorted(live_mqls.keys() & shadow_mqls.keys())
    live_only = sorted(live_mqls.keys() - shadow_mqls.keys())
    shadow_only = sorted(shadow_mqls.keys() - live_mqls.keys())
    outcomes = None
    if labels is not None:
        known = [k for k in leads if k in labels]
        positives = sum(1 for k in known if labels[k])
        outcomes = {
            "known": len(known),
            "positives": positives,
            **{
                name: _stats(outcome_score(
                    sum(1 for k in known if k in mqls),
                    sum(1 for k in known if k in mqls and labels[k]),
                    positives,
                ))
                for name, mqls in (("live", live_mqls), ("shadow", shadow_mqls))
            },
        }
    return {
        "since": since_text,
        "shadow_running": live.version != shadow.version,
        "leads_compared": len(leads),
        "live": _side(folder, live.version, live_mqls),
        "shadow": _side(shadow_dir, shadow.version, shadow_mqls),
        "agreement": {
            "both": len(both),
            "live_only": len(live_only),
            "shadow_only": len(shadow_only),
            "neither": len(leads) - len(both) - len(live_only) - len(shadow_only),
            "both_leads": both,
            "live_only_leads": live_only,
            "shadow_only_leads": shadow_only,
        },
        "outcomes": outcomes,
        "outcomes_note": "MQL = MQL at any time since the shadow started; positive / negative "
        "= the outcome stages named in mappings/funnel.toml [backtest]; leads without a known "
        "outcome are left out" if outcomes is not None
        else "no Salesforce outcomes stored yet (a sync pulls them)",
    }


def _side(folder: Path, version: str, mqls: dict[str, str]) -> dict[str, Any]:
    return {
        "rules_dir": str(folder),
        "version": version,
        "mqls": len(mqls),
        "mql_leads": [{"email": k, "mql_at": v} for k, v in sorted(mqls.items())],
    }


def _stats(stats: OutcomeScore) -> dict[str, Any]:
    return {"flagged": stats.flagged, "hits": stats.hits, "precision": stats.precision,
            "recall": stats.recall}


def format_compare(data: dict[str, Any]) -> str:
    if data["since"] is None:
        return (f"shadow rules {data['shadow']['version']} from {data['shadow']['rules_dir']} "
                "have not run yet: the next sync scores with them")
    lines = [f"shadow since {when(data['since'])}: {data['leads_compared']} leads scored by "
             "both rule sets"]
    if not data["shadow_running"]:
        lines.append("  (the shadow rules are now the live rules: promoted; no shadow runs)")
    for name in ("live", "shadow"):
        side = data[name]
        lines.append(f"  {name:6}  rules {side['version']} from {side['rules_dir']}: "
                     f"{side['mqls']} MQLs")
    agreement = data["agreement"]
    lines.append(f"agreement: both {agreement['both']}, live only {agreement['live_only']}, "
                 f"shadow only {agreement['shadow_only']}, neither {agreement['neither']}")
    for title, key in (("live only", "live_only_leads"), ("shadow only", "shadow_only_leads")):
        listed = agreement[key]
        if listed:
            lines.append(f"  {title}: " + ", ".join(listed[:TEXT_LIST_LIMIT])
                         + (" ..." if len(listed) > TEXT_LIST_LIMIT else ""))
    outcomes = data["outcomes"]
    if outcomes is None:
        lines.append(f"precision / recall: {data['outcomes_note']}")
    else:
        lines.append(f"precision / recall against {outcomes['known']} known sales outcomes "
                     f"({outcomes['positives']} positive):")
        for name in ("live", "shadow"):
            stats = outcomes[name]
            lines.append(f"  {name:6}  precision {ratio(stats['precision'])} ({stats['hits']} "
                         f"of {stats['flagged']} MQLs), recall {ratio(stats['recall'])}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ promote
def promote_shadow(
    settings: Settings, *, reason: str, by: str | None, clock: Clock
) -> dict[str, Any]:
    """Make the shadow rules live: their files replace the live ones (journalled, the
    replaced ones kept in `<mappings>/.versions/<old version>/`), and the version event is
    recorded with who, when and why. Under the run lock: no run scores half-way through."""
    if not reason.strip():
        raise ConfigError("--reason: say why the shadow rules become live")
    shadow_dir = _shadow_dir(settings)
    load_shadow(shadow_dir)  # the files must compile, not only parse
    return _swap(settings, shadow_dir, "promote", reason=reason, by=by, clock=clock)


def rollback_rules(
    settings: Settings, version: str | None, *, reason: str, by: str | None, clock: Clock
) -> dict[str, Any]:
    """Put back the rule files a promotion or rollback kept in `<mappings>/.versions/
    <version>/` (None: those the last one replaced, `promote --undo`), recorded as a version
    event like a promotion. ConfigError when they are not kept, altered, or already live."""
    if not reason.strip():
        raise ConfigError("--reason: say why the rules are put back")
    folder = mappings_dir(settings)
    if version is None:
        with _locked_store(settings, clock) as store:
            finish_swap(folder, store.scores)
            events = store.scores.events()
        if not events:
            raise ConfigError("nothing to undo: no promotion or rollback is recorded")
        version = str(events[-1]["previous"])
    source = kept_folder(folder, version)
    if not source.is_dir():
        kept = sorted(p.name for p in (folder / VERSIONS_FOLDER).glob("*")
                      if p.is_dir() and not p.name.startswith("."))
        raise ConfigError(f"rule version {version} is not kept in {folder / VERSIONS_FOLDER} "
                          f"(kept: {', '.join(kept) or 'none'})")
    if fingerprint(source).version != version:
        raise ConfigError(f"{source}: its files are no longer version {version} (edited after "
                          "they were kept): not put back")
    return _swap(settings, source, "rollback", reason=reason, by=by, clock=clock)


@contextmanager
def _locked_store(settings: Settings, clock: Clock) -> Iterator[StateStore]:
    """The state store under the run lock: no run scores while the rule files change."""
    with (
        state_lock(state_target(settings), wait_seconds=settings.sync.lock_wait_seconds),
        open_store(settings, clock=clock) as store,
    ):
        yield store


def _swap(
    settings: Settings, source: Path, action: str, *, reason: str, by: str | None,
    clock: Clock,
) -> dict[str, Any]:
    folder = mappings_dir(settings)
    who = by or _os_user()
    with _locked_store(settings, clock) as store:
        finish_swap(folder, store.scores)  # one a crash interrupted goes first
        live, new = fingerprint(folder), fingerprint(source)
        if live.version == new.version:
            raise ConfigError(f"the rules in {source} are already live (version "
                              f"{live.version}): nothing to {action}")
        at = clock()
        swap = Swap(
            id=f"{action}:{new.version}:{precise_iso(at)}", action=action,
            version=new.version, previous=live.version, at=at, by=who,
            reason=reason.strip(), manifest=tuple(new.manifest()),
            previous_manifest=tuple(live.manifest()),
        )
        begin_swap(source, folder, swap)
        finish_swap(folder, store.scores)
    return {
        "action": action,
        "version": new.version,
        "previous": live.version,
        "by": who,
        "at": at.isoformat(),
        "reason": reason.strip(),
        "files": [str(folder / name) for name in SCORING_FILES],
        "previous_files": str(kept_folder(folder, live.version)),
        "note": "the next run scores with this version; stored scores and history are kept."
        + (" Point [shadow] rules_dir at a new candidate or remove it."
           if action == "promote" else ""),
    }


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment or the password database
        return "unknown"


def format_promote(data: dict[str, Any]) -> str:
    done, ja = (
        ("promoted", "シャドーのルールを本番に反映しました")
        if data["action"] == "promote"
        else ("put back", "以前のルールに戻しました")
    )
    return (
        f"{done} rules {data['version']} (was {data['previous']}) by {data['by']} at "
        f"{when(data['at'])}: {data['reason']}\n"
        f"  previous files kept in {data['previous_files']}\n  {data['note']}\n"
        f"  {ja} (バージョン {data['version']})。"
    )


# ------------------------------------------------------------------------------ history
def score_history(settings: Settings, email: str) -> dict[str, Any] | None:
    """Every stored change of the lead's live score, stage and MQL status, oldest first,
    with its causes and version; None when no stored lead has that (normalised) email."""
    key = canonical_email(email)
    if key is None:
        return None
    with existing_store(settings) as store:
        if not store.contacts_by_email([key]).get(key):
            return None
        changes = store.scores.history(key, LIVE)
        versions = {
            v: store.scores.version(v) for v in dict.fromkeys(c["version"] for c in changes)
        }
    return {
        "email": key,
        "changes": changes,
        "versions": {
            v: None if row is None else {
                "first_seen_at": row["first_seen_at"],
                "recorded_at": row["recorded_at"],
                "recorded_by": row["recorded_by"],
                "reason": row["reason"],
                "promoted_from": row["promoted_from"],
            }
            for v, row in versions.items()
        },
    }


CAUSES = ("first", "activity", "decay", "rule_version", "sales_outcome", "profile", "merged")


def format_history(data: dict[str, Any], *, language: Language = "en", zone: str = "UTC") -> str:
    """The history as a table, in `language`, moments in `zone` ([ui])."""
    changes = data["changes"]
    if not changes:
        return t("hist_none", language, email=data["email"])

    def cause_name(name: str) -> str:
        return t(f"cause_{name}", language) if name in CAUSES else name

    rows = []
    for c in changes:
        cause = ", ".join(cause_name(name) for name in c["causes"])
        if c["activities"]:
            named = ", ".join(a["kind"] for a in c["activities"])
            more = c["new_activities"] - len(c["activities"])
            cause += f": {named}" + (f" (+{more})" if more > 0 else "")
        before = c.get("previous") or {}
        sales = c.get("sales_outcome")
        if sales:
            cause += f" ({sales.get('status') or sales.get('stage') or 'recycled'})"
        if "rule_version" in c["causes"]:
            cause += f" ({before.get('version')} -> {c['version']})"
        rows.append([moment(c["at"], language, zone), str(c["total"]), c["stage"],
                     "MQL" if c["is_mql"] else "-", c["version"], cause])
    titles = [t(k, language) for k in ("hist_at", "hist_score", "hist_stage")]
    titles += ["MQL", t("hist_version", language), t("hist_cause", language)]
    return "\n".join([t("hist_title", language, email=data["email"], n=number(len(changes))),
                      *table(titles, rows, "<><<<<")])
