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


def test_the_users_npm_registry_reaches_a_build_that_declares_it(docker_client, tmp_path, monkeypatch):
    (tmp_path / "Dockerfile").write_text(
        "FROM debian:bookworm-slim\nARG NPM_CONFIG_REGISTRY=https://default.invalid/\n"
        'RUN echo "registry=${NPM_CONFIG_REGISTRY}" > /registry\n'
    )
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", "http://npm.mirror.invalid:4873/")
    image = connect().ensure_image("registry-" + secrets.token_hex(3), tmp_path, None, lambda _: None)
    try:
        printed = docker_client.containers.run(image.tag, ["cat", "/registry"], remove=True)
        assert printed == b"registry=http://npm.mirror.invalid:4873/\n"
    finally:
        docker_client.images.remove(image.tag, force=True)
