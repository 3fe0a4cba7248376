from __future__ import annotations

import os
import subprocess

from cab_check import archive, workspace


def make_task_dir(tmp_path):
    source = tmp_path / "source"
    (source / "src").mkdir(parents=True)
    (source / "src/lib.rs").write_text("fn a() {}\n")
    (source / "README.md").write_text("fix it\n")
    return source


def tree_of(folder, baseline=None):
    """The folder as a container would give it back: a tar stream of work/."""
    with archive.build(lambda tar: archive.add_folder(tar, folder, "work")) as tar:
        return archive.read_tree(archive.chunks_of(tar), baseline=baseline)


def test_prepare_commits_a_baseline_and_compare_sees_every_change(tmp_path):
    source = make_task_dir(tmp_path)
    workdir = tmp_path / "work"
    workspace.prepare_workdir(source, workdir)
    log = subprocess.run(
        ["git", "-c", "safe.directory=*", "log", "--oneline"], cwd=workdir, capture_output=True, text=True, check=True
    ).stdout
    assert "cab-check baseline" in log
    before = tree_of(workdir)
    assert set(before.entries) == {"src/lib.rs", "README.md"}  # .git is the harness's, not the task's

    (workdir / "src/lib.rs").write_text("fn a() -> u8 { 1 }\n")
    (workdir / "README.md").unlink()
    (workdir / ".aider.chat.history.md").write_text("# chat\n")
    (workdir / ".gitignore").write_text(".aider*\n")  # ignore rules hide nothing from the count
    changes = workspace.compare(before, tree_of(workdir, before))

    assert changes.added == [".aider.chat.history.md", ".gitignore"]
    assert changes.removed == ["README.md"]
    assert changes.modified == ["src/lib.rs"]
    assert changes.total == 4
    assert "+fn a() -> u8 { 1 }" in changes.diff and "-fn a() {}" in changes.diff
    assert "-fix it" in changes.diff
    assert changes.added_texts[".aider.chat.history.md"] == "# chat\n"


def test_a_symlink_the_agent_made_is_counted_but_never_followed(tmp_path):
    source = make_task_dir(tmp_path)
    workdir = tmp_path / "work"
    workspace.prepare_workdir(source, workdir)
    before = tree_of(workdir)
    secret = tmp_path / "outside.txt"
    secret.write_text("host secret\n")
    os.symlink(secret, workdir / "peek")
    changes = workspace.compare(before, tree_of(workdir, before))
    assert changes.added == ["peek"]
    assert f"peek: symlink to {secret} (added)" in changes.diff
    assert "host secret" not in changes.diff
    assert "peek" not in changes.added_texts


def test_an_unchanged_tree_has_no_changes(tmp_path):
    workdir = make_task_dir(tmp_path)
    before = tree_of(workdir)
    changes = workspace.compare(before, tree_of(workdir, before))
    assert changes.total == 0 and changes.diff == ""


def test_a_huge_diff_is_cut_and_says_how_many_files_it_leaves_out(tmp_path, monkeypatch):
    monkeypatch.setattr(workspace, "MAX_DIFF_CHARS", 2000)
    workdir = make_task_dir(tmp_path)
    before = tree_of(workdir)
    for i in range(100):
        (workdir / f"f{i:03d}.txt").write_text(f"line {i}\n" * 5)
    changes = workspace.compare(before, tree_of(workdir, before))
    assert len(changes.added) == 100
    assert len(changes.diff) < 2200
    cut = changes.diff.splitlines()[-1]
    assert cut.startswith("[cab-check: the diff is cut here;") and "listed in blast_radius" in cut
