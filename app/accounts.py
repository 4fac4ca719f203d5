"""`connector accounts`: the account roll-up as the last run left it (docs/accounts.md)."""

from __future__ import annotations

from typing import Any

from app.account_report import account_rows


def list_accounts(settings: Any, limit: int | None) -> list[dict[str, Any]]:
    from sync.runner import open_store

    with open_store(settings, create=False) as store:
        return account_rows(store, limit)


def format_accounts(rows: list[dict[str, Any]], enabled: bool) -> str:
    if not rows:
        if not enabled:
            return ("no accounts yet: set [accounts] enabled = true and run a sync / "
                    "アカウントはまだありません")
        return "no accounts yet: run a sync / アカウントはまだありません（sync を実行してください）"
    lines = ["score  engaged  group  MQL  account (domain)",
             "スコア・エンゲージ人数・購買グループ・MQL・アカウント"]
    for r in rows:
        group = "yes" if r["buying_group"] else "no"
        mql = r["mql_rule"] or "-"
        roles = ",".join(r["buying_group_roles"]) or "-"
        lines.append(f"{r['score']:>5}  {r['engaged_contacts']:>7}  {group:>5}  {mql}  "
                     f"{r['account']} ({r['domain'] or '-'}) roles={roles} "
                     f"owner={r['owner'] or '-'}")
    return "\n".join(lines)


__all__ = ["format_accounts", "list_accounts"]
