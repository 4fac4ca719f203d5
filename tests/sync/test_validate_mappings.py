"""`validate_mappings`: the one offline check of every mapping file, which `connector
mappings validate` prints and a run refuses to start on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from app.mapping_checks import validate_mappings
from cli import main

ROOT = Path(__file__).resolve().parents[2]


def _mappings(tmp_path: Path) -> Path:
    folder = tmp_path / "mappings"
    shutil.copytree(ROOT / "mappings", folder)
    return folder


def test_the_shipped_mappings_have_no_problem(tmp_path: Path) -> None:
    assert validate_mappings(_mappings(tmp_path)) == []


def test_given_broken_costs_and_hubspot_toml_every_problem_is_listed_with_the_others(
    tmp_path: Path,
) -> None:
    folder = _mappings(tmp_path)
    (folder / "costs.toml").write_text('currency = "yen"\n', encoding="utf-8")
    (folder / "hubspot.toml").write_text(
        '[[property]]\nsource = "score"\nname = "hs_score"\n', encoding="utf-8"
    )
    (folder / "funnel.toml").write_text("[lost]\nlead_statuses = [3]\n", encoding="utf-8")

    problems = validate_mappings(folder)

    assert any(p.startswith(f"{folder / 'costs.toml'}:1: currency:") for p in problems)
    assert any(p.startswith(f"{folder / 'hubspot.toml'}:3: property[0].name") for p in problems)
    assert any(p.startswith(f"{folder / 'funnel.toml'}:2: lost.lead_statuses[0]") for p in problems)
    # the command prints exactly that list
    result = CliRunner().invoke(main, ["mappings", "validate", "--dir", str(folder), "--json"])
    assert result.exit_code == 2
    assert json.loads(result.output)["problems"] == problems
