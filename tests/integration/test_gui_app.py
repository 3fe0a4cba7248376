"""The desktop app driven like a person would: fill the form, run a real cell in Docker, watch, read, cancel, close."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from temp_roots import temp_roots_of

from cab_check import store
from cab_check.gui.app_settings import GuiSettings
from cab_check.gui.main_window import MainWindow
from cab_check.models import AgentOutput, PhaseFinished, PhaseStarted

pytestmark = pytest.mark.docker
RUN_LIMIT_MS = 900_000  # first runs build the aider and rust images


@pytest.fixture
def window(qtbot):
    window = MainWindow(GuiSettings())
    qtbot.addWidget(window)
    window.show()
    return window


def ours(docker_client) -> list[str]:
    """Containers and networks this test process made (labelled with its pid)."""
    label = {"label": f"cab-check.pid={os.getpid()}"}
    return [c.attrs["Names"][0] for c in docker_client.containers.list(all=True, filters=label, sparse=True)] + [
        n.name for n in docker_client.networks.list(filters=label)
    ]


def pick(combo, data: str) -> None:
    index = combo.findData(data)
    assert index >= 0, f"{data} is not offered"
    combo.setCurrentIndex(index)


def fill_reference_cell(window: MainWindow) -> None:
    form = window.form
    form.reference_radio.setChecked(True)
    pick(form.tui_combo, "aider")
    pick(form.task_combo, "polyglot/rust-error-handling")


def test_a_reference_cell_runs_from_the_form_and_its_result_is_shown(window, qtbot):
    fill_reference_cell(window)
    seen: list = []
    shown = window.run_view.handle
    window.run_view.handle = lambda event: (seen.append(event), shown(event))  # what the Run page was given
    qtbot.mouseClick(window.run_button, Qt.MouseButton.LeftButton)
    assert window.running and not window.run_button.isEnabled() and window.cancel_button.isEnabled()
    assert window.tabs.currentWidget() is window.run_view

    with qtbot.waitSignal(window.worker.succeeded, timeout=RUN_LIMIT_MS) as finished:
        pass
    result = finished.args[0]
    qtbot.waitUntil(lambda: not window.running)

    assert [e.phase for e in seen if isinstance(e, PhaseStarted)] == ["images", "preflight", "setup", "agent", "grade"]
    assert all(e.ok for e in seen if isinstance(e, PhaseFinished))
    assert any(isinstance(e, AgentOutput) for e in seen)
    assert window.run_view.rows["grade"].state == "done"
    assert window.run_view.terminal.display_lines(), "the live terminal showed the agent's output"

    # The result view is what a person reads next.
    assert window.tabs.currentWidget() is window.result_view
    tiles = {t.tile.label: t.tile.value for t in window.result_view.tiles}
    assert tiles["Pass"] == "1.000"
    assert tiles["Composite"] == f"{result.composite:.3f}"
    assert window.result_view.calls_table.rowCount() == len(result.model_calls) >= 1
    assert "src/lib.rs" in window.result_view.diff_view.toPlainText()
    assert Path(result.recording).is_file()

    # The CLI's history and the app's are one store.
    assert store.load_result(result.run_id).run_id == result.run_id
    window.tabs.setCurrentWidget(window.history)
    assert result.run_id in [r.run_id for r in store.list_runs()]
    assert window.history.model.rowCount() >= 1


def test_cancel_mid_run_stops_the_agent_and_leaves_nothing(window, qtbot, docker_client):
    fill_reference_cell(window)
    before = temp_roots_of()
    window.start_run()
    worker = window.worker

    def cancel_when_agent_starts(event):
        if isinstance(event, PhaseStarted) and event.phase == "agent":
            window.cancel_button.click()

    worker.engine_event.connect(cancel_when_agent_starts)
    with qtbot.waitSignal(worker.cancelled, timeout=RUN_LIMIT_MS):
        pass
    qtbot.waitUntil(lambda: not window.running, timeout=30_000)

    assert ours(docker_client) == []
    assert temp_roots_of() <= before, "the run's temp folder was removed"
    assert store.list_runs() == [], "a cancelled run is not stored as a result"
    assert window.run_view.rows["agent"].state == "stopped"
    assert "Cancelled" in window.run_view.message.text()
    assert window.run_button.isEnabled()


def test_closing_the_window_mid_run_asks_then_cleans_up(window, qtbot, docker_client):
    fill_reference_cell(window)
    asked: list[bool] = []

    def confirm() -> bool:
        asked.append(True)
        return True

    window.confirm_stop = confirm
    window.start_run()
    worker = window.worker
    with qtbot.waitSignal(
        worker.engine_event,
        timeout=RUN_LIMIT_MS,
        check_params_cb=lambda e: isinstance(e, PhaseStarted) and e.phase == "agent",
    ):
        pass
    window.close()
    assert asked == [True]
    assert window.isVisible(), "the window waits for the cleanup before it goes"
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=30_000)
    assert ours(docker_client) == []
