"""A failing image build names the failing step and its last lines."""

from __future__ import annotations

import secrets

import pytest

from cab_check.errors import EXIT_ENVIRONMENT, ImageBuildFailed
from cab_check.sandbox import connect


def test_a_failed_build_says_which_step_and_what_it_printed(docker_client, tmp_path):
    (tmp_path / "Dockerfile").write_text(
        "FROM debian:bookworm-slim\nRUN echo fetching-something && echo the-registry-said-no && exit 7\n"
    )
    with pytest.raises(ImageBuildFailed) as info:
        connect().ensure_image("broken-" + secrets.token_hex(3), tmp_path, None, lambda _: None)
    message = str(info.value)
    assert info.value.exit_code == EXIT_ENVIRONMENT
    assert "returned a non-zero code: 7" in message
    assert "the-registry-said-no" in message and "exit 7" in message
