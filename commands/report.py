"""`connector report`: funnel KPIs per period and segment from the stored state."""

from __future__ import annotations

from pathlib import Path

import click

from app.kpi_report import build_report, owner_id, write_outputs
from commands.base import EXIT_OK, Context, echo_json, parse_date, run_guarded
from core.i18n import as_language
from kpi.export import report_dict


@click.command()
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="HTML file to write (default report.html; not written with only --json/--csv).",
)
@click.option("--since", help="Start (YYYY-MM-DD; default: 26 weeks before --until).")
@click.option("--until", help="End, the moment KPIs are counted to (default: now).")
@click.option(
    "--period", type=click.Choice(["week", "month"]), default="month", show_default=True
)
@click.option("--segment", help="Only leads of one segment: DIMENSION=VALUE, e.g. "
              "industry=manufacturing or channel=PAID_SEARCH.")
@click.option("--lang", "lang", type=click.Choice(["ja", "en"]),
              help="Language of the HTML report (default: ui.language, from the locale).")
@click.option("--owner", help="Only the leads (and hand-offs) of one Salesforce owner: a "
              "User id, 15 or 18 characters (as in the record's URL).")
@click.option("--engine", type=click.Choice(["sql", "replay"]), default="sql", hidden=True,
              help="Support only: 'replay' replays every lead instead of reading the facts.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON on stdout.")
@click.option(
    "--csv",
    "csv_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Also write one CSV per table into this folder.",
)
@click.pass_obj
def report(
    obj: Context,
    out: Path | None,
    since: str | None,
    until: str | None,
    period: str,
    segment: str | None,
    lang: str | None,
    owner: str | None,
    engine: str,
    as_json: bool,
    csv_dir: Path | None,
) -> None:
    """Funnel KPIs per period and segment from the stored state: one offline HTML file."""
    start = parse_date(since, "--since")
    end = parse_date(until, "--until") or obj.clock()

    def go() -> int:
        settings = obj.settings(salesforce=False)  # state and mappings: no Salesforce sign-in
        data = build_report(
            settings, until=end, since=start, period=period, segment=segment,
            owner=owner_id(owner), engine="replay" if engine == "replay" else "sql",
            keep_copy=True,
        )
        html_path = out if out is not None or as_json or csv_dir else Path("report.html")
        language = as_language(lang, settings.ui.language)
        written = write_outputs(
            data, html_path=html_path, csv_dir=csv_dir, language=language,
            zone=settings.ui.timezone,
        )
        if as_json:
            echo_json(report_dict(data))
        for path in written:
            click.echo(f"wrote {path}", err=as_json)
        return EXIT_OK

    run_guarded(go)
