"""Does a task folder really test something: its grader fails on the shipped workdir and passes with the reference.

Both gradings run exactly as a cell grades: the tree goes into a fresh container of the task's toolchain image,
offline."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from cab_check import archive, catalog
from cab_check.models import TaskSpec
from cab_check.sandbox import ContainerRun, ContainerSpec, Sandbox, connect
from cab_check.settings import find_ca_bundle


def lay_out(task: TaskSpec, folder: Path, *, with_solution: bool) -> Path:
    """A copy of the workdir as shipped, or with solution/ laid over it."""
    shutil.copytree(task.workdir, folder)
    if with_solution:
        shutil.copytree(task.solution_dir, folder, dirs_exist_ok=True)
    return folder


def grade_folder(
    sandbox: Sandbox, run_id: str, task: TaskSpec, folder: Path, progress: Callable[[str], None] = lambda _: None
) -> ContainerRun:
    image = sandbox.ensure_image(task.toolchain, catalog.image_dir(task.toolchain), find_ca_bundle(), progress)
    grader = sandbox.create(run_id, ContainerSpec(image=image.tag, command=task.grader.command, role="grader"))
    try:
        with archive.build(lambda tar: archive.add_folder(tar, folder, "work")) as tree:
            sandbox.put_files(grader, tree)
        return sandbox.run(grader, timeout_s=task.grader.timeout_s)
    finally:
        sandbox.remove(grader)


def grade_variants(
    task: TaskSpec, progress: Callable[[str], None] = lambda _: None, engine: str | None = None
) -> list[str]:
    """Problems found by grading the workdir as shipped and, when there is one, with solution/ laid over it."""
    sandbox = connect(engine)
    run_id = "validate-" + secrets.token_hex(3)
    problems = []
    try:
        with tempfile.TemporaryDirectory(prefix="cab-check-validate-") as temp:
            progress("grading the workdir as shipped (it must fail)")
            shipped = grade_folder(
                sandbox, run_id, task, lay_out(task, Path(temp) / "shipped", with_solution=False), progress
            )
            if shipped.exit_code == 0:
                problems.append(f"{task.root / 'workdir'}: the grader passes as shipped, so the task tests nothing.")
            if task.solution_dir.is_dir():
                progress("grading with solution/ applied (it must pass)")
                fixed = grade_folder(
                    sandbox, run_id, task, lay_out(task, Path(temp) / "fixed", with_solution=True), progress
                )
                if fixed.exit_code != 0:
                    tail = (fixed.stdout + fixed.stderr).strip().splitlines()[-1:] or ["no output"]
                    problems.append(
                        f"{task.solution_dir}: the grader fails with the reference solution "
                        f"(exit {fixed.exit_code}: {tail[0][:200]})."
                    )
    finally:
        sandbox.remove_run(run_id)
    return problems
