"""`connector score tune` on a generated history with known ground truth."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.tune import run_tune
from core.errors import ConfigError
from tests.feedback.history import END, START, build


@pytest.fixture(scope="module")
def truth(tmp_path_factory: pytest.TempPathFactory):
    return build(tmp_path_factory.mktemp("history"))


def test_given_target_share_five_percent_the_replayed_share_is_within_one_point(truth) -> None:
    data = run_tune(truth.settings, since=START, until=END, target_share=0.05)
    assert data["tuned_rules"][0]["id"] == "score_webinar_consultation"
    assert abs(data["at_threshold"]["share"] - 0.05) <= 0.01
    assert data["threshold"] > data["current_threshold"]  # 50 makes far more than 5% MQLs
    assert data["at_current"]["share"] > 0.1
    assert data["at_threshold"]["precision"] is not None
    assert "+when.all = [" not in data["diff"] and "min = 50" in data["diff"]


def test_given_capacity_the_median_week_fits_and_a_lower_threshold_does_not(truth) -> None:
    data = run_tune(truth.settings, since=START, until=END, capacity=3)
    assert data["at_threshold"]["median_full_week"] <= 3
    lower = run_tune(truth.settings, since=START, until=END, capacity=100)
    assert lower["threshold"] < data["threshold"]


@pytest.mark.parametrize("share", [0, 1, 1.5, -0.1])
def test_given_a_share_outside_zero_one_it_is_a_config_error(truth, share: float) -> None:
    with pytest.raises(ConfigError, match="between 0 and 1"):
        run_tune(truth.settings, since=START, until=END, target_share=share)


def test_given_no_outcomes_stored_tune_says_so(tmp_path: Path, truth) -> None:
    from sync.state import StateStore

    empty = truth.settings.model_copy(deep=True)
    empty.state.path = tmp_path / "empty.db"
    StateStore(tmp_path / "empty.db").close()
    with pytest.raises(ConfigError, match="no Salesforce outcomes"):
        run_tune(empty, since=START, until=END, target_share=0.05)
