"""`connector mappings validate`: the rule and field-mapping files admins edit."""

from __future__ import annotations

from pathlib import Path

import click

from app.mapping_checks import check_mappings
from commands.base import EXIT_OK, EXIT_USAGE, Context, echo_json, run_guarded


@click.group()
def mappings() -> None:
    """Check the rule and field-mapping files admins edit."""


@mappings.command("validate")
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    help="Mappings folder (default: sync.mappings_dir from the config).",
)
@click.option("--online", is_flag=True, help="Also check fields.toml against the Salesforce "
              "and HubSpot schemas and hubspot.toml against the HubSpot contact properties "
              "(at most 11 API calls: 3 describes, 1 User query, 2 property lists, one probe "
              "per HubSpot activity stream, which says available / unavailable and why).")
@click.option("--json", "as_json", is_flag=True, help="Print the problems as JSON.")
@click.pass_obj
def validate(obj: Context, directory: Path | None, online: bool, as_json: bool) -> None:
    """Validate every file in the mappings folder, and the shadow rule set when [shadow]
    rules_dir is set (with the configured folder, not --dir); print every problem with file
    and line (exit 2 when there is one; warnings alone exit 0)."""

    def go() -> int:
        settings = obj.settings() if online or directory is None else None
        found = check_mappings(settings, directory, online)
        if as_json:
            echo_json(found.payload())
        else:
            click.echo(found.text())
        return EXIT_USAGE if found.failed else EXIT_OK

    run_guarded(go)
