from __future__ import annotations

import shutil

import pytest

from cab_check import catalog
from cab_check.errors import EXIT_BAD_INPUT, TaskInvalid, UnknownTask, UnknownTui
from cab_check.token_parsers import PARSERS

RUST_TASKS = ["mutations/rust-error-negated", "polyglot/rust-error-handling", "polyglot/rust-lifetime-fix"]


def test_the_three_rust_tasks_ship_with_workdir_readme_and_solution():
    tasks = catalog.shipped_tasks()
    assert set(RUST_TASKS) <= set(tasks)
    for slug in RUST_TASKS:
        task = tasks[slug]
        assert task.language == "rust" and task.timeout_s == 600 and task.toolchain == "rust"
        assert task.expected_refusal is False
        assert task.ground_truth_files == ["src/lib.rs"]
        assert task.prompt in (task.workdir / "README.md").read_text()
        assert (task.solution_dir / "src/lib.rs").is_file()
        assert not (task.workdir / "solution").exists()


def test_prompts_are_cabs():
    prompts = {slug: catalog.get_task(slug).prompt for slug in RUST_TASKS}
    assert prompts["polyglot/rust-error-handling"] == (
        "Function uses unwrap on user input; replace with proper Result propagation"
    )
    assert prompts["polyglot/rust-lifetime-fix"] == (
        "Missing explicit lifetime annotation prevents a longest-string helper from compiling"
    )
    assert prompts["mutations/rust-error-negated"] == (
        "Retry loop condition negated: retries on success, gives up on error"
    )


def test_unknown_task_suggests_the_closest_name():
    with pytest.raises(UnknownTask, match="Did you mean polyglot/rust-error-handling") as info:
        catalog.get_task("polyglot/rust-error-handlin")
    assert info.value.exit_code == EXIT_BAD_INPUT


def test_unknown_tui_names_the_listing():
    with pytest.raises(UnknownTui, match="cab tuis"):
        catalog.get_tui("zzz")


def copy_task(tmp_path):
    folder = tmp_path / "task"
    shutil.copytree(catalog.get_task("polyglot/rust-lifetime-fix").root, folder)
    return folder


def test_a_malformed_task_file_is_named(tmp_path):
    folder = copy_task(tmp_path)
    (folder / "task.toml").write_text("prompt = [unclosed\n")
    with pytest.raises(TaskInvalid, match=r"task\.toml could not be read as TOML"):
        catalog.load_task(folder)


def test_a_missing_field_is_named_with_its_file(tmp_path):
    folder = copy_task(tmp_path)
    text = (folder / "task.toml").read_text()
    (folder / "task.toml").write_text("\n".join(line for line in text.splitlines() if not line.startswith("prompt")))
    with pytest.raises(TaskInvalid, match=r"task.toml: field 'prompt': Field required"):
        catalog.load_task(folder)


def test_an_unknown_toolchain_is_rejected(tmp_path):
    folder = copy_task(tmp_path)
    text = (folder / "task.toml").read_text().replace('toolchain = "rust"', 'toolchain = "cobol"')
    (folder / "task.toml").write_text(text)
    with pytest.raises(TaskInvalid, match="no toolchain image named 'cobol'"):
        catalog.load_task(folder)


def test_aider_is_pinned_as_cab_pins_it():
    aider = catalog.get_tui("aider")
    assert aider.version == "0.86.2"
    assert "aider-chat==0.86.2" in (aider.root / "Dockerfile").read_text()
    assert not aider.needs.tool_calls


def test_a_symlink_out_of_the_task_folder_is_refused(tmp_path):
    folder = copy_task(tmp_path)
    (folder / "workdir" / "secrets").symlink_to("/etc/passwd")
    with pytest.raises(TaskInvalid, match="workdir/secrets: a symlink pointing outside the task folder"):
        catalog.load_task(folder)


def test_a_ground_truth_path_must_stay_in_the_workdir(tmp_path):
    folder = copy_task(tmp_path)
    text = (folder / "task.toml").read_text().replace('["src/lib.rs"]', '["../../etc/passwd"]')
    (folder / "task.toml").write_text(text)
    with pytest.raises(TaskInvalid, match=r"'\.\./\.\./etc/passwd' must be a path inside the workdir"):
        catalog.load_task(folder)


def test_validate_reports_every_problem_with_its_file(tmp_path):
    folder = copy_task(tmp_path)
    (folder / "task.toml").write_text('prompt = ""\nlanguage = "rust"\ntoolchain = "rust"\n')
    task, problems = catalog.inspect_task(folder)
    assert task is None
    assert any("field 'prompt'" in p for p in problems) and any("field 'grader'" in p for p in problems)
    assert all(str(folder / "task.toml") in p for p in problems)


def test_a_task_folder_by_path_runs_under_a_user_slug(tmp_path):
    folder = copy_task(tmp_path)
    text = (folder / "task.toml").read_text()
    (folder / "task.toml").write_text("\n".join(line for line in text.splitlines() if not line.startswith("slug")))
    task = catalog.get_task(str(folder))
    assert task.slug == "user/task" and task.root == folder.resolve()


def test_every_shipped_task_states_its_constraints_in_agents_md():
    for task in catalog.shipped_tasks().values():
        assert task.constraints, task.slug
        text = (task.workdir / "AGENTS.md").read_text()
        assert all(c.describe() in text for c in task.constraints), task.slug


def test_a_constraint_missing_from_agents_md_is_a_problem(tmp_path):
    folder = copy_task(tmp_path)
    (folder / "workdir" / "AGENTS.md").write_text("# Constraints\n\nNone.\n")
    task, problems = catalog.inspect_task(folder)
    assert task is None and "missing: no-new-dependency" in problems[0]


def test_a_tui_naming_a_token_parser_that_does_not_exist_is_refused_as_it_loads(tmp_path):
    folder = tmp_path / "pi"
    shutil.copytree(catalog.get_tui("pi").root, folder)
    text = (folder / "tui.toml").read_text().replace('token_parser = "pi"', 'token_parser = "pi2"')
    (folder / "tui.toml").write_text(text)
    with pytest.raises(UnknownTui, match=r"field 'token_parser': there is no parser 'pi2'; known: aider, claude_code"):
        catalog.load_tui(folder)


def test_every_registered_token_parser_is_used_by_a_shipped_tui():
    assert {tui.token_parser for tui in catalog.shipped_tuis().values()} - {None} == set(PARSERS)
