"""`connector score explain` and `connector score simulate`."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click

from app.explain import explain_lead, format_explanation
from app.score_versions import (
    compare_shadow,
    format_compare,
    format_history,
    format_promote,
    promote_shadow,
    rollback_rules,
    score_history,
)
from app.simulate import (
    DEFAULT_WEEKS,
    candidate_problems,
    format_simulation,
    run_simulation,
)
from commands.base import EXIT_OK, EXIT_USAGE, Context, echo_json, parse_date, run_guarded
from scoring.simulate import weeks_back


@click.group("score")
def score() -> None:
    """Explain a lead's score; back-test candidate rules on the stored history."""


@score.command("explain")
@click.argument("email")
@click.option(
    "--at",
    "at",
    metavar="DATETIME",
    help="Score as of this time (ISO 8601; default: now, with the stored MQL state).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
@click.pass_obj
def explain(obj: Context, email: str, at: str | None, as_json: bool) -> None:
    """Every point of one lead's score: rule by rule, totals, grade, segment, stage, MQL.

    EMAIL is compared in its normalised form (case, spaces, full-width letters).
    Exit code 2 when no stored lead has that email.
    """
    moment = parse_date(at, "--at")

    def go() -> int:
        payload = explain_lead(obj.settings(), email, moment, clock=obj.clock)
        if payload is None:
            click.echo(
                f"error: no lead with email {email.strip()!r} in the state store (emails are "
                "compared normalised; a lead is stored once a sync or backfill has read it)",
                err=True,
            )
            return EXIT_USAGE
        if as_json:
            echo_json(payload)
        else:
            click.echo(format_explanation(payload))
        return EXIT_OK

    run_guarded(go)


@score.command("simulate")
@click.option(
    "--rules",
    "rules_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder with the candidate scoring.toml and segments.toml.",
)
@click.option(
    "--since",
    metavar="DATE",
    help=f"Start of the replay (default: {DEFAULT_WEEKS} ISO weeks back).",
)
@click.option("--until", metavar="DATETIME", help="End of the replay (default: now).")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.pass_obj
def simulate_command(
    obj: Context, rules_dir: Path, since: str | None, until: str | None, as_json: bool
) -> None:
    """Replay the stored history under candidate rules and compare with the current ones.

    Reports the leads that would gain or lose MQL status (both scores and the deciding
    clause), new MQLs per ISO week under each rule set, and precision/recall against sales
    outcomes once they are stored. Exit code 2 lists every problem of broken candidate rules
    with file:line.
    """
    end = parse_date(until, "--until") or obj.clock()
    start = parse_date(since, "--since") or weeks_back(end, DEFAULT_WEEKS)
    if start >= end:
        raise click.BadParameter("must be before --until (default: now)", param_hint="--since")

    def go() -> int:
        settings = obj.settings()
        problems = candidate_problems(rules_dir)
        if problems:
            if as_json:
                echo_json({"rules_dir": str(rules_dir), "ok": False, "problems": problems})
            click.echo(
                f"error: candidate rules in {rules_dir} have {len(problems)} problem(s)", err=True
            )
            for problem in problems:
                click.echo(f"  - {problem}", err=True)
            return EXIT_USAGE
        payload = run_simulation(settings, rules_dir, start, end)
        if as_json:
            echo_json(payload)
        else:
            click.echo(format_simulation(payload))
        return EXIT_OK

    run_guarded(go)


# ------------------------------------------------------- rule versions, shadow, history
@score.command("compare")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
@click.pass_obj
def compare_command(obj: Context, as_json: bool) -> None:
    """The shadow rules ([shadow] rules_dir) against the live ones since the shadow's first
    run: MQLs each made, agreement, precision/recall against sales outcomes.

    Exit code 2 without a shadow or when its rule files have problems (file:line).
    """

    def go() -> int:
        payload = compare_shadow(obj.settings())
        if as_json:
            echo_json(payload)
        else:
            click.echo(format_compare(payload))
        return EXIT_OK

    run_guarded(go)


@score.command("promote")
@click.option("--reason", required=True, help="Why the shadow rules become live (recorded).")
@click.option("--by", "by", metavar="NAME", help="Who promotes them (default: the OS user).")
@click.option("--undo", is_flag=True, help="Put back the rule files the last promotion (or "
              "rollback) replaced, as `score rollback` does.")
@click.option("--json", "as_json", is_flag=True, help="Print what was recorded as JSON.")
@click.pass_obj
def promote_command(obj: Context, reason: str, by: str | None, undo: bool, as_json: bool) -> None:
    """Make the shadow rules live: record their version (hash, who, when, why), copy their
    files over the live mappings (journalled: a crash half-way is finished by the next run;
    the replaced files are kept under <mappings>/.versions/), and score with them from the
    next run on. With --undo: put back the files the last promotion replaced.

    Exit code 2 without a shadow or when the shadow's rule files do not load.
    """

    def go() -> int:
        settings = obj.settings()
        payload = (
            rollback_rules(settings, None, reason=reason, by=by, clock=obj.clock)
            if undo
            else promote_shadow(settings, reason=reason, by=by, clock=obj.clock)
        )
        if as_json:
            echo_json(payload)
        else:
            click.echo(format_promote(payload))
        return EXIT_OK

    run_guarded(go)


@score.command("rollback")
@click.argument("version")
@click.option("--reason", required=True, help="Why these rules are put back (recorded).")
@click.option("--by", "by", metavar="NAME", help="Who puts them back (default: the OS user).")
@click.option("--json", "as_json", is_flag=True, help="Print what was recorded as JSON.")
@click.pass_obj
def rollback_command(obj: Context, version: str, reason: str, by: str | None,
                     as_json: bool) -> None:
    """Put back rule VERSION's files kept in <mappings>/.versions/VERSION/ (by a promotion or
    rollback that replaced them), recorded as a version event (who, when, why).

    Exit code 2 when that version is not kept, its kept files were edited, or it is live.
    """

    def go() -> int:
        payload = rollback_rules(obj.settings(), version, reason=reason, by=by, clock=obj.clock)
        if as_json:
            echo_json(payload)
        else:
            click.echo(format_promote(payload))
        return EXIT_OK

    run_guarded(go)


@score.command("history")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="Print the history as JSON.")
@click.pass_obj
def history_command(obj: Context, email: str, as_json: bool) -> None:
    """Every change of one lead's score, stage and MQL status: when, why (activity, decay,
    rule version, sales outcome) and the rule version that made it.

    Exit code 2 when no stored lead has that email.
    """

    def go() -> int:
        settings = obj.settings()
        payload = score_history(settings, email)
        if payload is None:
            click.echo(
                f"error: no lead with email {email.strip()!r} in the state store (emails are "
                "compared normalised) / このメールアドレスのリードは保存されていません",
                err=True,
            )
            return EXIT_USAGE
        if as_json:
            echo_json(payload)
        else:
            click.echo(format_history(payload, language=settings.ui.language,
                                      zone=settings.ui.timezone))
        return EXIT_OK

    run_guarded(go)


@score.command("tune")
@click.option("--target-share", type=float, metavar="P",
              help="Share of the period's new leads that should become MQLs, e.g. 0.05.")
@click.option("--capacity", type=float, metavar="N",
              help="Hand-offs sales can work a week (fits the median full week).")
@click.option("--since", metavar="DATE",
              help=f"Start of the period (default: {DEFAULT_WEEKS} ISO weeks back).")
@click.option("--json", "as_json", is_flag=True, help="Print the tuning as JSON.")
@click.pass_obj
def tune_command(
    obj: Context, target_share: float | None, capacity: float | None, since: str | None,
    as_json: bool,
) -> None:
    """The MQL score threshold that would have made share P of new leads MQLs (or that fits
    N hand-offs a week), with back-tested precision/recall there and at today's threshold.
    Nothing is changed: the proposal comes as a diff of mappings/scoring.toml.
    しきい値の提案のみで、設定は変更しません。
    """
    from app.tune import format_tune, run_tune

    if (target_share is None) == (capacity is None):
        raise click.UsageError("give one of --target-share P or --capacity N")
    end = obj.clock()
    start = parse_date(since, "--since") or weeks_back(end, DEFAULT_WEEKS)

    def go() -> int:
        payload = run_tune(obj.settings(), since=start, until=end,
                           target_share=target_share, capacity=capacity)
        if as_json:
            echo_json(payload)
        else:
            click.echo(format_tune(payload))
        return EXIT_OK

    run_guarded(go)


def _feedback_period(obj: Context, since: str | None) -> tuple[datetime, datetime]:
    end = obj.clock()
    start = parse_date(since, "--since") or weeks_back(end, DEFAULT_WEEKS)
    if start >= end:
        raise click.BadParameter("must be before now", param_hint="--since")
    return start, end


@score.command("rejections")
@click.option("--since", metavar="DATE",
              help=f"Start of the period (default: {DEFAULT_WEEKS} ISO weeks back).")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_obj
def rejections_command(obj: Context, since: str | None, as_json: bool) -> None:
    """MQLs sales rejected, per scoring rule and per segment, with the reasons.
    営業が不適格とした MQL をルール別・セグメント別に数えます。"""
    from app.feedback import format_rejections, run_rejections

    start, end = _feedback_period(obj, since)

    def go() -> int:
        payload = run_rejections(obj.settings(), start, end)
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2) if as_json
                   else format_rejections(payload))
        return EXIT_OK

    run_guarded(go)


@score.command("suggest")
@click.option("--since", metavar="DATE",
              help=f"Start of the period (default: {DEFAULT_WEEKS} ISO weeks back).")
@click.option("--json", "as_json", is_flag=True, help="Print the suggestions as JSON.")
@click.pass_obj
def suggest_command(obj: Context, since: str | None, as_json: bool) -> None:
    """Rule changes the stored history argues for, each with its measured lift and a diff
    of mappings/scoring.toml; never applied. 提案のみで、ルールは変更しません。"""
    from app.feedback import format_suggest, run_suggest

    start, end = _feedback_period(obj, since)

    def go() -> int:
        payload = run_suggest(obj.settings(), start, end)
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2, default=str) if as_json
                   else format_suggest(payload))
        return EXIT_OK

    run_guarded(go)
