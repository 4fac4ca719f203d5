"""Exit codes of the feedback commands: 2 with a message for bad input, never a traceback."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cli import main
from tests.feedback.history import build


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> str:
    truth = build(tmp_path_factory.mktemp("history"))
    return str(truth.settings.config_path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["score", "tune", "--target-share", "1.5"], "between 0 and 1"),
        (["score", "tune", "--target-share", "0"], "between 0 and 1"),
        (["score", "tune", "--target-share", "0.05", "--since", "last week"], "is not a date"),
        (["score", "rejections", "--since", "2026-13-01"], "is not a date"),
    ],
)
def test_given_bad_input_the_command_exits_2_with_a_message(config, args, message) -> None:
    result = CliRunner().invoke(main, ["--config", config, *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
