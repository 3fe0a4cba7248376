"""Does a task folder really test something: its grader fails on the shipped workdir and passes with the reference.

Both gradings run exactly as a cell grades: on a copy, in the task's toolchain image, offline."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from cab_check import catalog, workspace
from cab_check.docker_backend import ContainerRun, DockerBackend
from cab_check.models import TaskSpec
from cab_check.settings import find_ca_bundle


def lay_out(task: TaskSpec, folder: Path, *, with_solution: bool) -> Path:
    """A copy of the workdir as shipped, or with solution/ laid over it."""
    shutil.copytree(task.workdir, folder)
    if with_solution:
        shutil.copytree(task.solution_dir, folder, dirs_exist_ok=True)
    return folder


def grade_folder(docker: DockerBackend, task: TaskSpec, folder: Path,
                 progress: Callable[[str], None] = lambda _: None) -> ContainerRun:
    image = docker.ensure_image(task.toolchain, catalog.image_dir(task.toolchain), find_ca_bundle(), progress)
    workspace.hand_to_container_user(folder)
    return docker.run_container(image.tag, task.grader.command, workdir=folder, user=workspace.container_user(),
                                timeout_s=task.grader.timeout_s, name_suffix=f"grade-{secrets.token_hex(3)}")


def grade_variants(task: TaskSpec, progress: Callable[[str], None] = lambda _: None) -> list[str]:
    """Problems found by grading the workdir as shipped and, when there is one, with solution/ laid over it."""
    docker = DockerBackend("validate-" + secrets.token_hex(3))
    problems = []
    try:
        with tempfile.TemporaryDirectory(prefix="cab-check-validate-") as temp:
            progress("grading the workdir as shipped (it must fail)")
            shipped = grade_folder(docker, task, lay_out(task, Path(temp) / "shipped", with_solution=False), progress)
            if shipped.exit_code == 0:
                problems.append(f"{task.root / 'workdir'}: the grader passes as shipped, so the task tests nothing.")
            if task.solution_dir.is_dir():
                progress("grading with solution/ applied (it must pass)")
                fixed = grade_folder(docker, task, lay_out(task, Path(temp) / "fixed", with_solution=True), progress)
                if fixed.exit_code != 0:
                    tail = (fixed.stdout + fixed.stderr).strip().splitlines()[-1:] or ["no output"]
                    problems.append(f"{task.solution_dir}: the grader fails with the reference solution "
                                    f"(exit {fixed.exit_code}: {tail[0][:200]}).")
    finally:
        docker.remove_run(docker.run_id)
    return problems
