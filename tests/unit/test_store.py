"""A run's files are saved whole or not at all."""

from __future__ import annotations

import errno

import pytest

from cab_check import store
from cab_check.errors import EXIT_ENVIRONMENT, ResultNotSaved


def test_a_full_disk_leaves_no_half_written_run(isolated_history, monkeypatch):
    def disk_full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(ResultNotSaved) as info:
        with store.saving("20261122-000000-abcdef") as folder:
            store.write_atomic(folder / "recording.cast", "{}\n")  # this one lands
            monkeypatch.setattr(store.os, "replace", disk_full)
            store.write_atomic(folder / store.RESULT_FILE, "{}\n")  # this one cannot
    assert info.value.exit_code == EXIT_ENVIRONMENT
    assert "No space left on device" in str(info.value) and "CAB_CHECK_HOME" in str(info.value)
    assert not folder.exists()  # neither file, nor a temp file, is left behind
    assert store.list_runs() == []


def test_a_run_saved_whole_is_listed(isolated_history):
    with store.saving("r1") as folder:
        store.write_atomic(folder / "recording.cast", "{}\n")
    assert (folder / "recording.cast").read_text() == "{}\n"
