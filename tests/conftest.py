"""Settings every test starts from."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def english_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    """`[ui] language` defaults from the locale (core/i18n.py); pin it so the suite reads the
    same texts on a Japanese desktop and in CI. Tests of the Japanese texts set the language
    (or these variables) themselves."""
    for name in ("LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
