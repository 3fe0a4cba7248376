"""Loads the shipped tasks and TUIs from cab_check.resources, validating each file once, up front."""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from importlib import resources as importlib_resources
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from cab_check.errors import TaskInvalid, UnknownTask, UnknownTui
from cab_check.models import TaskSpec, TuiSpec
from cab_check.token_parsers import PARSERS

TASK_FILE = "task.toml"
TUI_FILE = "tui.toml"


def resources_root() -> Path:
    return Path(str(importlib_resources.files("cab_check.resources")))


def tasks_root() -> Path:
    return resources_root() / "tasks"


def tuis_root() -> Path:
    return resources_root() / "tuis"


def image_dir(toolchain: str) -> Path:
    return resources_root() / "images" / toolchain


def relay_dir() -> Path:
    """The image of the relay that carries a run's model traffic (cab_check.sandbox.relay)."""
    return resources_root() / "sandbox" / "relay"


def base_dir(name: str) -> Path:
    """The images TUI images build on (`# cab-base: NAME`): never a task's toolchain."""
    return resources_root() / "bases" / name


def _read_toml(path: Path, what: type[Exception]) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise what(f"{path} could not be read as TOML: {exc}.") from None


def _describe(err: ErrorDetails) -> str:
    field = ".".join(str(p) for p in err["loc"]) or "(file)"
    return f"field '{field}': {err['msg']}"


def _first_problem(exc: ValidationError) -> str:
    return _describe(exc.errors()[0])


def _escaping_links(folder: Path) -> list[str]:
    """Symlinks that lead out of the task folder: copying the workdir would pull host files into it."""
    root = folder.resolve()
    problems = []
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() and not (path.parent / os.readlink(path)).resolve().is_relative_to(root):
            problems.append(f"{path}: a symlink pointing outside the task folder; put the file itself there.")
    return problems


def _inside(relative: str) -> bool:
    path = PurePosixPath(relative)
    return not path.is_absolute() and ".." not in path.parts


def inspect_task(folder: Path) -> tuple[TaskSpec | None, list[str]]:
    """Every problem with a task folder, each naming its file and field; the task too when there are none."""
    path = folder / TASK_FILE
    if not path.is_file():
        return None, [f"{folder}: there is no {TASK_FILE}; `cab task new` scaffolds a task folder."]
    try:
        data = _read_toml(path, TaskInvalid)
    except TaskInvalid as exc:
        return None, [str(exc)]
    data.setdefault("slug", f"user/{folder.name}")
    problems = _escaping_links(folder)
    if not (folder / "workdir").is_dir():
        problems.append(f"{folder}: the task has no workdir/ folder for the agent.")
    try:
        task = TaskSpec(**data, root=folder)
    except ValidationError as exc:
        return None, [f"{path}: {_describe(err)}." for err in exc.errors()] + problems
    if not image_dir(task.toolchain).joinpath("Dockerfile").is_file():
        known = ", ".join(sorted(p.name for p in (resources_root() / "images").iterdir()))
        problems.append(f"{path}: field 'toolchain': no toolchain image named '{task.toolchain}' (there are: {known}).")
    problems += _unstated_constraints(task)
    for relative in task.ground_truth_files:
        if not _inside(relative):
            problems.append(f"{path}: field 'ground_truth_files': '{relative}' must be a path inside the workdir.")
    return (None if problems else task), problems


def _unstated_constraints(task: TaskSpec) -> list[str]:
    """The agent learns the constraints only from workdir/AGENTS.md, so each declared one must be written there."""
    agents = task.workdir / "AGENTS.md"
    text = agents.read_text(encoding="utf-8", errors="replace") if agents.is_file() else ""
    missing = [c.describe() for c in task.constraints if c.describe() not in text]
    if not missing:
        return []
    return [f"{agents}: the constraints task.toml declares must be stated here too; missing: {'; '.join(missing)}."]


def load_task(folder: Path) -> TaskSpec:
    """Reads one task folder; its first problem is a TaskInvalid naming the file and field."""
    task, problems = inspect_task(folder)
    if problems:
        more = f" ({len(problems) - 1} more: run `cab task validate {folder}`)" if len(problems) > 1 else ""
        raise TaskInvalid(problems[0].rstrip(".") + more + ".")
    assert task is not None
    return task


def shipped_tasks() -> dict[str, TaskSpec]:
    tasks = {}
    for path in sorted(tasks_root().glob(f"*/*/{TASK_FILE}")):
        task = load_task(path.parent)
        tasks[task.slug] = task
    return tasks


def get_task(ref: str) -> TaskSpec:
    """A shipped task by slug, or a task folder of the user's by path."""
    tasks = shipped_tasks()
    if ref in tasks:
        return tasks[ref]
    folder = Path(ref).expanduser()
    if folder.is_dir():
        return load_task(folder.resolve())
    raise UnknownTask(_unknown("task", ref, tasks, "cab tasks"))


def load_tui(folder: Path) -> TuiSpec:
    path = folder / TUI_FILE
    data = _read_toml(path, UnknownTui)
    try:
        tui = TuiSpec(**data, root=folder)
    except ValidationError as exc:
        raise UnknownTui(f"{path}: {_first_problem(exc)}.") from None
    if tui.token_parser and tui.token_parser not in PARSERS:
        known = ", ".join(sorted(PARSERS))
        raise UnknownTui(f"{path}: field 'token_parser': there is no parser {tui.token_parser!r}; known: {known}.")
    return tui


def shipped_tuis() -> dict[str, TuiSpec]:
    return {p.parent.name: load_tui(p.parent) for p in sorted(tuis_root().glob(f"*/{TUI_FILE}"))}


def get_tui(name: str) -> TuiSpec:
    tuis = shipped_tuis()
    if name in tuis:
        return tuis[name]
    raise UnknownTui(_unknown("TUI", name, tuis, "cab tuis"))


def _unknown(kind: str, name: str, known: Mapping[str, object], listing: str) -> str:
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else f" Run `{listing}` to see them."
    return f"There is no {kind} named '{name}'.{hint}"
