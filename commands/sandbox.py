"""`connector sandbox serve` and `connector demo`: the local HubSpot and Salesforce servers,
and the whole product run against them."""

from __future__ import annotations

from pathlib import Path

import click

from app.demo import run_demo
from commands.base import EXIT_INTERNAL, EXIT_OK, Context, echo_json, parse_date, run_guarded
from sandbox.serve import SandboxOptions, serve_forever


@click.group()
def sandbox() -> None:
    """Local HubSpot and Salesforce API servers for tests and demos."""


@sandbox.command("serve")
@click.option("--hubspot-port", type=int, default=8090, show_default=True)
@click.option("--salesforce-port", type=int, default=8091, show_default=True)
@click.option(
    "--seed", "seed_kind", type=click.Choice(["demo", "none"]), default="demo", show_default=True
)
@click.option("--contacts", type=click.IntRange(min=0), default=500, show_default=True)
@click.option(
    "--hubspot-tier",
    type=click.Choice(["free", "pro", "enterprise", "unlimited"]),
    default="pro",
    show_default=True,
)
@click.option("--faults", default=None, help="e.g. '429=0.05,5xx=0.02,reset=0.01,seed=7'.")
@click.option(
    "--hubspot-token",
    default=None,
    help="Token the HubSpot server accepts (default: pat-sandbox-hubspot-token).",
)
@click.option(
    "--salesforce-session",
    default=None,
    help="Session id the Salesforce server accepts (default: see README).",
)
@click.option(
    "--write-config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write a connector config file that points at these servers.",
)
@click.option(
    "--random-seed", type=int, default=42, show_default=True, help="Seed of the synthetic data."
)
@click.option(
    "--now",
    "seed_now",
    default=None,
    help="The moment the synthetic data is generated up to (ISO 8601; default: now). With "
    "--random-seed, two sandboxes given the same --now hold the same data.",
)
@click.option(
    "--webhook-url",
    default=None,
    help="Send the HubSpot sandbox's contact changes as signed webhook batches to this URL.",
)
@click.option(
    "--webhook-secret",
    default=None,
    help="The app client secret the webhooks are signed with (X-HubSpot-Signature-v3).",
)
@click.pass_obj
def sandbox_serve(
    obj: Context,
    hubspot_port: int,
    salesforce_port: int,
    seed_kind: str,
    contacts: int,
    hubspot_tier: str,
    faults: str | None,
    hubspot_token: str | None,
    salesforce_session: str | None,
    write_config: Path | None,
    random_seed: int,
    seed_now: str | None,
    webhook_url: str | None,
    webhook_secret: str | None,
) -> None:
    """Serve both sandboxes until SIGINT or SIGTERM."""
    now = parse_date(seed_now, "--now")

    def go() -> int:
        return serve_forever(
            SandboxOptions(
                hubspot_port=hubspot_port,
                salesforce_port=salesforce_port,
                seed=seed_kind,
                contacts=contacts,
                tier=hubspot_tier,
                faults=faults,
                hubspot_token=hubspot_token,
                salesforce_session=salesforce_session,
                write_config=write_config,
                random_seed=random_seed,
                now=now,
                clock=obj.clock,
                webhook_url=webhook_url,
                webhook_secret=webhook_secret,
            ),
            announce=click.echo,
        )

    run_guarded(go)


@click.command()
@click.option("--contacts", type=click.IntRange(min=1), default=500, show_default=True)
@click.option(
    "--workdir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("demo-out"),
    show_default=True,
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def demo(obj: Context, contacts: int, workdir: Path, as_json: bool) -> None:
    """Start the sandbox, seed demo data, backfill, then sync incrementally; print a summary."""

    def go() -> int:
        result = run_demo(
            contacts=contacts,
            workdir=workdir,
            echo=None if as_json else click.echo,
            clock=obj.clock,
        )
        if as_json:
            echo_json(result)
        return EXIT_OK if result["ok"] else EXIT_INTERNAL

    run_guarded(go)
