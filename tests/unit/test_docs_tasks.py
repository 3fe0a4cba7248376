"""docs/tasks.md is enough to write a task folder cab-check accepts."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from cab_check import catalog
from cab_check.models import Constraint

DOC = Path(__file__).parents[2] / "docs" / "tasks.md"


def example_block(language: str) -> str:
    section = DOC.read_text(encoding="utf-8").split("## A complete example", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(rf"```{language}\n(.*?)```", section, re.DOTALL)
    assert len(blocks) == 1, f"one {language} block in the example"
    return blocks[0]


def test_a_task_folder_written_from_the_docs_example_is_accepted(tmp_path):
    folder = tmp_path / "my-task"
    scaffold = catalog.resources_root() / "scaffold" / "python"
    shutil.copytree(scaffold, folder)  # the code and tests the example describes in words
    (folder / "task.toml").write_text(example_block("toml"), encoding="utf-8")
    (folder / "workdir" / "AGENTS.md").write_text(example_block("markdown"), encoding="utf-8")
    task, problems = catalog.inspect_task(folder)
    assert problems == []
    assert [c.kind for c in task.constraints] == ["file-not-touched", "no-new-dependency"]


def test_the_agents_md_line_the_docs_give_for_each_kind_is_the_one_validation_asks_for():
    rows = re.findall(r"^\| `([a-z-]+)` \|.*\| `` `([^`]+)` `` ", DOC.read_text(encoding="utf-8"), re.MULTILINE)
    assert {kind for kind, _ in rows} == {
        "file-not-touched",
        "no-new-dependency",
        "no-comments-added",
        "file-pattern-required-in-diff",
    }
    for kind, line in rows:
        words = line.split()
        params = dict(w.split("=", 1) for w in words[1:])
        constraint = Constraint(
            kind=kind,
            paths=params.get("path", params.get("paths", "")).split(",")
            if "path" in params or "paths" in params
            else [],
            max_added=int(params.get("max_added", 0)),
            require_added=params.get("require_added", "true") == "true",
        )
        assert constraint.describe() == line
