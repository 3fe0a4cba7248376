"""Loads the shipped tasks and TUIs from cab_check.resources, validating each file once, up front."""

from __future__ import annotations

import difflib
import tomllib
from importlib import resources as importlib_resources
from pathlib import Path

from pydantic import ValidationError

from cab_check.errors import TaskInvalid, UnknownTask, UnknownTui
from cab_check.models import TaskSpec, TuiSpec

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


def _read_toml(path: Path, what: type[Exception]) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise what(f"{path} could not be read as TOML: {exc}.") from None


def _first_problem(exc: ValidationError) -> str:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "(file)"
    return f"field '{field}': {err['msg']}"


def load_task(folder: Path) -> TaskSpec:
    """Reads one task folder; any problem is a TaskInvalid naming the file and field."""
    path = folder / TASK_FILE
    data = _read_toml(path, TaskInvalid)
    try:
        task = TaskSpec(**data, root=folder)
    except ValidationError as exc:
        raise TaskInvalid(f"{path}: {_first_problem(exc)}.") from None
    if not task.workdir.is_dir():
        raise TaskInvalid(f"{folder}: the task has no workdir/ folder for the agent.")
    if not image_dir(task.toolchain).joinpath("Dockerfile").is_file():
        raise TaskInvalid(f"{path}: field 'toolchain': no toolchain image named '{task.toolchain}'.")
    return task


def shipped_tasks() -> dict[str, TaskSpec]:
    tasks = {}
    for path in sorted(tasks_root().glob(f"*/*/{TASK_FILE}")):
        task = load_task(path.parent)
        tasks[task.slug] = task
    return tasks


def get_task(slug: str) -> TaskSpec:
    tasks = shipped_tasks()
    if slug in tasks:
        return tasks[slug]
    raise UnknownTask(_unknown("task", slug, tasks, "cab tasks"))


def load_tui(folder: Path) -> TuiSpec:
    path = folder / TUI_FILE
    data = _read_toml(path, UnknownTui)
    try:
        return TuiSpec(**data, root=folder)
    except ValidationError as exc:
        raise UnknownTui(f"{path}: {_first_problem(exc)}.") from None


def shipped_tuis() -> dict[str, TuiSpec]:
    return {p.parent.name: load_tui(p.parent) for p in sorted(tuis_root().glob(f"*/{TUI_FILE}"))}


def get_tui(name: str) -> TuiSpec:
    tuis = shipped_tuis()
    if name in tuis:
        return tuis[name]
    raise UnknownTui(_unknown("TUI", name, tuis, "cab tuis"))


def _unknown(kind: str, name: str, known: dict, listing: str) -> str:
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(close)}?" if close else f" Run `{listing}` to see them."
    return f"There is no {kind} named '{name}'.{hint}"
