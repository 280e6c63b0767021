"""The suite's own time limits (conftest.py): a long test's hang detector leaves room for a
slow, busy machine, and a test that sets its own limit keeps it."""

from __future__ import annotations

import pytest

from conftest import LONG_TEST_TIMEOUT_FACTOR


def _timeout(request: pytest.FixtureRequest) -> float | None:
    marker = request.node.get_closest_marker("timeout")
    return None if marker is None else float(marker.args[0])


@pytest.mark.long
def test_a_long_test_gets_a_multiple_of_the_default_timeout(request: pytest.FixtureRequest) -> None:
    # Given pytest.ini's default timeout, When a test marked long is collected without its own
    default = float(request.config.getini("timeout"))

    # Then its limit is the default times the factor, which is more than the default
    assert default > 0
    assert _timeout(request) == LONG_TEST_TIMEOUT_FACTOR * default > default


@pytest.mark.long
@pytest.mark.timeout(42)
def test_a_long_test_with_its_own_timeout_keeps_it(request: pytest.FixtureRequest) -> None:
    assert _timeout(request) == 42


def test_a_short_test_keeps_the_default_timeout(request: pytest.FixtureRequest) -> None:
    # The default applies through pytest.ini, not through a marker
    assert _timeout(request) is None
