"""A run's files are saved whole or not at all."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from cab_check import store
from cab_check.errors import EXIT_ENVIRONMENT, ResultNotSaved
from cab_check.models import FORMAT_VERSION, CellResult


def test_a_full_disk_leaves_no_half_written_run(isolated_history, monkeypatch):
    def disk_full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(ResultNotSaved) as info, store.saving("20261122-000000-abcdef") as folder:
        store.write_atomic(folder / "recording.cast", "{}\n")  # this one lands
        monkeypatch.setattr(store.os, "replace", disk_full)
        store.write_atomic(folder / store.RESULT_FILE, "{}\n")  # this one cannot
    assert info.value.exit_code == EXIT_ENVIRONMENT
    assert "No space left on device" in str(info.value) and "CAB_CHECK_HOME" in str(info.value)
    assert not folder.exists() and not store.run_dir("20261122-000000-abcdef").exists()  # nothing half-written
    assert store.list_runs() == []


def test_a_run_saved_whole_is_listed(isolated_history):
    with store.saving("r1") as folder:
        store.write_atomic(folder / "recording.cast", "{}\n")
        assert not store.run_dir("r1").exists()  # the run appears only once it is whole
    assert (store.run_dir("r1") / "recording.cast").read_text() == "{}\n"


@pytest.fixture
def read_only_history(isolated_history):
    """The history folder on storage the user cannot write: a read-only mount as root (who ignores file modes),
    else a folder without write permission. An earlier run is in it."""
    import subprocess

    runs = isolated_history / "runs"
    (runs / "earlier").mkdir(parents=True)
    (runs / "earlier" / "result.json").write_text("{}")
    if os.geteuid() == 0:
        subprocess.run(["mount", "--bind", "-o", "ro", str(runs), str(runs)], check=True)
        subprocess.run(["mount", "-o", "remount,bind,ro", str(runs)], check=True)
        yield runs
        subprocess.run(["umount", str(runs)], check=True)
    else:
        runs.chmod(0o555)
        yield runs
        runs.chmod(0o755)


def test_an_unwritable_history_is_one_sentence_before_any_work(read_only_history):
    with pytest.raises(ResultNotSaved, match="cannot be written") as info:
        store.check_writable()
    assert info.value.exit_code == EXIT_ENVIRONMENT and "CAB_CHECK_HOME" in str(info.value)
    assert (read_only_history / "earlier" / "result.json").read_text() == "{}"


def test_a_save_a_killed_process_left_is_swept_and_a_live_ones_is_not(isolated_history):
    import subprocess
    import sys

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    runs = isolated_history / "runs"
    (runs / f"{store.STAGING_PREFIX}{dead}-r-dead").mkdir(parents=True)
    (runs / f"{store.STAGING_PREFIX}{os.getpid()}-r-live").mkdir()
    assert store.sweep_unfinished() == 1
    assert [p.name for p in runs.iterdir()] == [f"{store.STAGING_PREFIX}{os.getpid()}-r-live"]
    assert store.list_runs() == []


def test_results_of_format_1_load_through_the_upgrade_step_and_unreadable_ones_are_named(isolated_history):
    """Format 1 (before typed axes): refusal_correct a bool, no format_version, no corrected composite."""
    fixture = Path(__file__).parents[1] / "gui" / "fixtures" / "opencode-refusal" / "result.json"
    old = json.loads(fixture.read_text())
    assert "format_version" not in old and old["axes"]["refusal"]["refusal_correct"] is True
    folder = store.run_dir(old["run_id"])
    folder.mkdir(parents=True)
    (folder / store.RESULT_FILE).write_text(json.dumps(old))
    (store.run_dir("broken") / ".").mkdir(parents=True)
    (store.run_dir("broken") / store.RESULT_FILE).write_text("not json")

    history = store.read_history()
    [loaded] = history.runs
    assert isinstance(loaded, CellResult) and loaded.format_version == FORMAT_VERSION
    assert loaded.axes.refusal.refusal_correct is True and loaded.corrected is None
    assert loaded.own_composite == loaded.composite
    [broken] = history.unreadable
    assert broken.path == store.run_dir("broken") / store.RESULT_FILE and broken.reason


def test_cab_history_names_a_result_it_cannot_read_with_its_path_and_why(isolated_history, capsys):
    from cab_check.cli import main

    fixture = Path(__file__).parents[1] / "gui" / "fixtures" / "opencode-refusal" / "result.json"
    good = json.loads(fixture.read_text())
    store.run_dir(good["run_id"]).mkdir(parents=True)
    (store.run_dir(good["run_id"]) / store.RESULT_FILE).write_text(json.dumps(good))
    newer = dict(good, run_id="from-the-future", format_version=99)
    store.run_dir("from-the-future").mkdir(parents=True)
    (store.run_dir("from-the-future") / store.RESULT_FILE).write_text(json.dumps(newer))

    assert main(["history"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith(good["run_id"])
    path = isolated_history / "runs" / "from-the-future" / "result.json"  # where the user finds it
    assert lines[1].startswith("from-the-future  cannot be read (") and lines[1].endswith(f": {path}")
    assert "99" in lines[1] or "format_version" in lines[1]
