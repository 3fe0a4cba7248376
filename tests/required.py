"""What a test needs from this machine (an engine, a daemon, a Debian package): without it the test skips on a
developer's machine and fails in CI, where .ci/run installs and starts everything the tests need."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str, in_ci: str | None = None) -> NoReturn:
    """Skip for `reason`; with CI=true, fail saying `in_ci` (or `reason`) instead."""
    if IN_CI:
        pytest.fail(f"CI=true but {in_ci or reason}", pytrace=False)
    pytest.skip(reason)
