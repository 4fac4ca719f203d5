"""Account scores in the report (`ExtraTable` "accounts") and for `connector accounts`.

Both read the state store's `accounts` table (`sync.account_store`), which each run's account
pass fills (docs/accounts.md): top accounts by score with name/domain, engaged contacts,
buying group (and which roles), account MQL (its rule) and the Salesforce Account owner.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from kpi.model import ExtraTable, KpiReport

TOP = 50
COLUMNS: tuple[dict[str, str], ...] = (
    {"en": "account", "ja": "アカウント"},
    {"en": "domain", "ja": "ドメイン"},
    {"en": "score", "ja": "スコア"},
    {"en": "engaged contacts", "ja": "エンゲージ人数"},
    {"en": "buying group", "ja": "購買グループ"},
    {"en": "roles", "ja": "役割"},
    {"en": "account MQL", "ja": "アカウントMQL"},
    {"en": "owner", "ja": "担当者"},
)


def account_rows(store: Any, limit: int | None = TOP) -> list[dict[str, Any]]:
    """The top accounts as plain rows (the command's JSON)."""
    out = []
    for a in store.accounts.top(limit):
        r = a.result
        out.append({
            "account": a.name or a.domain or a.account_key,
            "account_key": a.account_key,
            "hubspot_company_id": a.company_id,
            "salesforce_account_id": a.sf_account_id,
            "domain": a.domain,
            "score": r.get("score"),
            "contacts": r.get("contacts"),
            "engaged_contacts": r.get("engaged"),
            "engaged_roles": r.get("engaged_roles", []),
            "buying_group": bool(r.get("buying_group")),
            "buying_group_roles": r.get("buying_group_roles", []),
            "account_mql": bool(r.get("mql")),
            "mql_rule": r.get("mql_rule"),
            "owner": a.owner_id,
        })
    return out


def accounts_table(rows: list[dict[str, Any]]) -> ExtraTable:
    return ExtraTable(
        name="accounts",
        title={"en": "Top accounts by score", "ja": "スコア上位のアカウント"},
        columns=COLUMNS,
        rows=tuple(
            (
                r["account"], r["domain"], r["score"], r["engaged_contacts"],
                "yes" if r["buying_group"] else "no", ", ".join(r["buying_group_roles"]),
                r["mql_rule"] or ("yes" if r["account_mql"] else "no"), r["owner"],
            )
            for r in rows
        ),
        note={"en": "Buying group: the roles of [account.buying_group] active in the window "
                    "(docs/accounts.md).",
              "ja": "購買グループ: [account.buying_group] の役割が期間内に揃っているか"
                    "（docs/accounts.md）。"},
    )


def with_accounts(report: KpiReport, settings: Any) -> KpiReport:
    """`report` with the accounts table added when the account roll-up is on."""
    if not settings.accounts.enabled:
        return report
    from sync.runner import open_store

    with open_store(settings, create=False) as store:
        rows = account_rows(store)
    return replace(report, extra_tables=(*report.extra_tables, accounts_table(rows)))


__all__ = ["account_rows", "accounts_table", "with_accounts"]
