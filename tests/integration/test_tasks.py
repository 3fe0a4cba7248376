"""Every shipped task fails as shipped and passes with its reference solution, graded in its toolchain image."""

from __future__ import annotations

import re
import secrets
import shutil

import pytest

from cab_check import catalog, workspace
from cab_check.docker_backend import DockerBackend
from cab_check.settings import find_ca_bundle

# Test names exactly as cab-methodology.md lists them.
EXPECTED_TESTS = {
    "polyglot/rust-error-handling": {
        "happy_path", "empty", "negative_numbers", "bad_input_does_not_panic", "bad_input_reports_index_and_value"
    },
    "polyglot/rust-lifetime-fix": {"empty_left", "picks_longer", "ties_pick_left"},
    "mutations/rust-error-negated": {
        "first_attempt_ok_returns_immediately", "gives_up_after_max_attempts", "retries_on_error_until_success",
        "zero_max_attempts_errors",
    },
}


@pytest.fixture(scope="module")
def backend():
    docker = DockerBackend(run_id="tasks-" + secrets.token_hex(3))
    yield docker
    docker.remove_run(docker.run_id)


def grade(backend, task, folder):
    image = backend.ensure_image(task.toolchain, catalog.image_dir(task.toolchain), find_ca_bundle(), lambda _: None)
    workspace.hand_to_container_user(folder)
    return backend.run_container(image.tag, task.grader.command, workdir=folder, user=workspace.container_user(),
                                 timeout_s=task.grader.timeout_s, name_suffix=f"grade-{task.name}-{folder.name}")


@pytest.mark.parametrize("slug", sorted(EXPECTED_TESTS))
def test_task_fails_as_shipped_and_passes_with_its_reference(backend, slug, tmp_path):
    task = catalog.get_task(slug)
    shipped = tmp_path / "shipped"
    shutil.copytree(task.workdir, shipped)
    failed = grade(backend, task, shipped)
    assert failed.exit_code != 0, failed.stdout[-2000:]
    assert not (shipped / "target").exists()  # the grader builds outside the workdir

    fixed = tmp_path / "fixed"
    shutil.copytree(task.workdir, fixed)
    shutil.copytree(task.solution_dir, fixed, dirs_exist_ok=True)
    passed = grade(backend, task, fixed)
    assert passed.exit_code == 0, passed.stdout[-2000:] + passed.stderr[-2000:]
    names = set(re.findall(r"^test tests::(\w+) \.\.\. ok$", passed.stdout, re.M))
    assert names == EXPECTED_TESTS[slug]
