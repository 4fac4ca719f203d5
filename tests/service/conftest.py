"""The end-to-end tests' pinned clock (tests/e2e/conftest.py) for every test here."""

from tests.e2e.conftest import pinned_test_clock

__all__ = ["pinned_test_clock"]
