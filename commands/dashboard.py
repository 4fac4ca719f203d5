"""`connector dashboard`: the KPI dashboard alone, read-only (app.dashboard, docs/dashboard.md)."""

from __future__ import annotations

import click

from app.dashboard.serve import run_dashboard
from commands.base import Context, run_guarded


@click.command()
@click.option("--host", help="Address to listen on (default: serve.host, 127.0.0.1); beyond "
              "loopback serve.dashboard_token is required. / 待ち受けるアドレス (既定: "
              "serve.host)。ローカルホスト以外では serve.dashboard_token が必須です。")
@click.option("--port", type=click.IntRange(1, 65535),
              help="Port to listen on (default: serve.port, 8080). / 待ち受けるポート "
              "(既定: serve.port, 8080)。")
@click.pass_obj
def dashboard(obj: Context, host: str | None, port: int | None) -> None:
    """The live KPI dashboard (no sync loop): filters, drill-down, Japanese and English.

    \b
    ライブKPIダッシュボード (同期は行いません)。同期が終わると再読み込みなしで更新され、
    期間・セグメント・担当者で絞り込み、数値をクリックすると内訳のリードを表示します。
    日本語と英語を切り替えられます (docs/dashboard.md)。
    """
    run_guarded(lambda: run_dashboard(obj.settings(salesforce=False), clock=obj.clock,
                                      host=host, port=port))
