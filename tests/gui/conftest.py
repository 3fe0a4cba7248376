"""GUI tests run offscreen with pytest-qt; stored runs come from real cells recorded by cab-check."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def stored_run(isolated_history):
    """Puts a recorded run (aider-rust-pass, opencode-refusal) into this test's history; returns its CellResult."""
    from cab_check import store
    from cab_check.models import CellResult

    def put(name: str):
        source = FIXTURES / name
        result = CellResult.model_validate_json((source / store.RESULT_FILE).read_text(encoding="utf-8"))
        folder = store.run_dir(result.run_id)
        shutil.copytree(source, folder)
        result = result.model_copy(update={"recording": str(folder / store.RECORDING_FILE)})
        store.save_result(result)
        return result

    return put
