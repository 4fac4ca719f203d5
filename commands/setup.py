"""`connector setup salesforce|hubspot`: what to set up in the connected systems for the
current mappings."""

from __future__ import annotations

import click

from app import setup_hubspot as hubspot_setup
from app import setup_salesforce as salesforce_setup
from commands.base import EXIT_OK, EXIT_USAGE, Context, echo_json, run_guarded


@click.group("setup")
def setup() -> None:
    """What to set up in the connected systems for the current mappings."""


@setup.command("salesforce")
@click.option("--check", is_flag=True, help="Describe Lead/Contact/Task and report what is "
              "missing or wrong in the configured org.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def setup_salesforce(obj: Context, check: bool, as_json: bool) -> None:
    """Print the custom fields to create in Salesforce for fields.toml (exit 2 when --check
    finds a field missing or wrong)."""

    def go() -> int:
        result = salesforce_setup.run_setup(obj.settings(), check)
        if as_json:
            echo_json(salesforce_setup.result_payload(result, check))
        else:
            click.echo(salesforce_setup.result_text(result, check))
        return EXIT_OK if salesforce_setup.setup_ok(result) else EXIT_USAGE

    run_guarded(go)


@setup.command("hubspot")
@click.option("--check", "check_only", is_flag=True,
              help="Only report what is missing or wrong; create nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def setup_hubspot(obj: Context, check_only: bool, as_json: bool) -> None:
    """Create the contact properties (and their group) that the HubSpot write-back needs;
    report properties that exist with another type (exit 2) without changing them."""

    def go() -> int:
        result = hubspot_setup.run_setup(obj.settings(), check_only)
        if as_json:
            echo_json(hubspot_setup.result_payload(result, check_only))
        else:
            click.echo(hubspot_setup.format_result(result))
        return EXIT_USAGE if hubspot_setup.problems_of(result, check_only) else EXIT_OK

    run_guarded(go)
