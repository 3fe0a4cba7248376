"""The window without a run: its pages, keys, opening and comparing stored runs, theme and remembered settings.

Runs in Docker (start, watch, cancel, close mid-run) are in tests/integration/test_gui_app.py.
"""

from __future__ import annotations

import pytest
from PySide6.QtGui import QKeySequence, QPalette
from PySide6.QtWidgets import QApplication

from cab_check.gui.app_settings import GuiSettings, load_settings
from cab_check.gui.main_window import MainWindow


@pytest.fixture
def window(qtbot):
    window = MainWindow(GuiSettings())
    qtbot.addWidget(window)
    window.show()
    yield window
    QApplication.instance().setPalette(QApplication.style().standardPalette())


def test_the_pages_and_run_keys_are_in_reach(window):
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == ["&Configure", "R&un", "Re&sult", "&History"]
    assert window.run_button.shortcut() == QKeySequence("Ctrl+Return")
    assert window.cancel_button.shortcut() == QKeySequence("Ctrl+.")
    assert window.run_button.isEnabled() and not window.cancel_button.isEnabled()
    assert "not for citation" in window.windowTitle()


def test_a_stored_run_opens_under_one_provisional_mark(window, stored_run):
    result = stored_run("aider-rust-pass")
    window.open_run(result.run_id)
    assert window.tabs.currentWidget() is window.result_view
    assert window.result_view.mark.isVisible() and not window.mark.isVisible(), "the mark shows once, not twice"
    window.tabs.setCurrentWidget(window.form)
    assert window.mark.isVisible()


def test_two_stored_runs_open_side_by_side(window, stored_run):
    a, b = stored_run("aider-rust-pass"), stored_run("opencode-refusal")
    window.compare_runs(a.run_id, b.run_id)
    assert window.tabs.currentWidget() is window.compare_view
    assert window.compare_view.table.rowCount() > 0


def test_a_run_that_went_missing_is_one_sentence(window):
    window.open_run("20990101-000000-gone00")
    assert "could not be read" in window.status.text()
    assert window.tabs.currentWidget() is window.form


def test_the_dark_theme_applies_and_is_remembered(window):
    window.set_theme(True)
    assert QApplication.palette().color(QPalette.ColorRole.Window).lightness() < 80
    assert load_settings().dark is True
    window.set_theme(False)
    assert QApplication.palette().color(QPalette.ColorRole.Window).lightness() > 200
    assert load_settings().dark is False


def test_closing_remembers_the_form_but_never_a_key(window, memory_keyring):
    window.form.endpoint_radio.setChecked(True)
    window.form.endpoint_edit.setText("http://127.0.0.1:9/v1")
    window.form.key_edit.setText("sk-never-in-settings")
    window.close()
    saved = load_settings()
    assert saved.endpoint == "http://127.0.0.1:9/v1"
    assert "sk-never-in-settings" not in saved.model_dump_json()
