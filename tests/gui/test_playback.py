"""A run's recording plays back in the app: step, play to the end, seek, speed, keys, and a clear word when missing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from cab_check.gui.playback import IDLE_TIP, MAX_IDLE_SECONDS, PlaybackView, playback_times
from cab_check.gui.terminal_view import PALETTE
from cab_check.keys import Redactor
from cab_check.recording import read_asciicast, write_asciicast


@pytest.fixture
def view(qtbot) -> PlaybackView:
    widget = PlaybackView()
    qtbot.addWidget(widget)
    widget.resize(widget.sizeHint())
    widget.show()
    qtbot.waitExposed(widget)
    return widget


@pytest.fixture
def recording(stored_run) -> Path:
    return Path(stored_run("aider-rust-pass").recording)


def shown(view: PlaybackView) -> str:
    return "\n".join(view.terminal.display_lines())


def on_screen(view: PlaybackView) -> str:
    return "\n".join(view.terminal.screen_lines())


def test_a_loaded_recording_waits_at_its_start(view, recording):
    assert view.load(recording)
    cast = read_asciicast(recording)
    assert not view.message.isVisible()
    assert (view.terminal.columns, view.terminal.rows) == (cast.width, cast.height)
    assert (view.position, view.event_index, view.is_playing) == (0.0, 0, False)
    assert view.time_label.text() == f"t = 0.0 s / {view.duration:.1f} s"
    assert view.play_button.isEnabled() and view.step_button.isEnabled() and view.slider.isEnabled()
    assert view.speed_choice.currentText() == "1×" and view.speed == 1.0
    assert on_screen(view).strip() == ""


def test_step_shows_one_output_event_at_a_time(view, recording, qtbot):
    view.load(recording)
    events = read_asciicast(recording).events
    view.step()
    assert view.event_index == 1
    with qtbot.waitSignal(view.position_changed) as moved:
        view.step()
    assert view.event_index == 2 and moved.args == [view.position] and view.position > 0
    assert "Max retries exceeded" in on_screen(view)
    assert "Aider v0.86.2" not in on_screen(view)
    view.step()
    assert events[2][1].strip() == "Aider v0.86.2" and "Aider v0.86.2" in shown(view)
    assert view.time_label.text() == f"t = {view.position:.1f} s / {view.duration:.1f} s"


def test_play_runs_to_the_end_and_says_so(view, recording, qtbot):
    view.load(recording)
    events = read_asciicast(recording).events
    view.set_speed(40)
    with qtbot.waitSignal(view.finished, timeout=5000):
        view.play()
        assert view.is_playing and view.play_button.text() == "&Pause"
    assert not view.is_playing and view.play_button.text() == "&Play"
    assert view.event_index == len(events) and view.position == view.duration
    assert "Tokens:" in shown(view)
    assert view.time_label.text() == f"t = {view.duration:.1f} s / {view.duration:.1f} s"

    with qtbot.waitSignal(view.finished, timeout=5000):
        view.play()  # from the end, Play starts over
        assert view.event_index < len(events)


def test_seeking_back_shows_the_screen_as_it_was_then(view, recording, qtbot):
    view.load(recording)
    view.set_speed(40)
    with qtbot.waitSignal(view.finished, timeout=5000):
        view.play()
    assert "Tokens:" in on_screen(view)

    early = playback_times(read_asciicast(recording).events)[2]
    view.seek(early)
    assert view.event_index == 3 and view.position == early
    assert "Aider v0.86.2" in on_screen(view) and "Tokens:" not in on_screen(view)

    view.slider.setValue(view.slider.maximum())  # dragging the slider to the end seeks there
    qtbot.waitUntil(lambda: view.position == view.duration)
    assert "Tokens:" in on_screen(view)


def test_restart_goes_back_to_an_empty_screen(view, recording):
    view.load(recording)
    for _ in range(3):
        view.step()
    view.restart()
    assert (view.event_index, view.position) == (0, 0.0) and on_screen(view).strip() == ""


def test_long_idle_gaps_are_shortened_and_the_tooltip_says_so(view, recording):
    assert playback_times([(0.5, "a"), (12.5, "b"), (13.0, "c")]) == [
        0.5,
        0.5 + MAX_IDLE_SECONDS,
        1.0 + MAX_IDLE_SECONDS,
    ]
    view.load(recording)
    assert view.duration < read_asciicast(recording).duration  # the aider run waits 12 s before its first line
    assert "shortened" in IDLE_TIP
    assert IDLE_TIP in view.time_label.toolTip() and IDLE_TIP in view.slider.toolTip()


def test_the_speed_choice_offers_half_to_four_times(view, recording):
    view.load(recording)
    assert [view.speed_choice.itemText(i) for i in range(view.speed_choice.count())] == ["0.5×", "1×", "2×", "4×"]
    view.speed_choice.setCurrentIndex(3)
    assert view.speed == 4.0
    view.set_speed(0.5)
    assert view.speed_choice.currentText() == "0.5×"


def test_keys_play_step_and_restart(view, recording, qtbot):
    view.load(recording)
    view.terminal.setFocus()
    qtbot.keyClick(view.terminal, Qt.Key.Key_Right)
    qtbot.keyClick(view.terminal, Qt.Key.Key_Right)
    assert view.event_index == 2
    qtbot.keyClick(view.terminal, Qt.Key.Key_Space)
    assert view.is_playing
    qtbot.keyClick(view.terminal, Qt.Key.Key_Space)
    assert not view.is_playing
    qtbot.keyClick(view.terminal, Qt.Key.Key_Home)
    assert view.event_index == 0

    view.step_button.setFocus()  # Space on a focused button presses that button
    qtbot.keyClick(view.step_button, Qt.Key.Key_Space)
    assert view.event_index == 1 and not view.is_playing


def test_every_control_is_labelled_and_reached_by_tab_in_order(view, recording, qtbot):
    view.load(recording)
    controls = [view.play_button, view.step_button, view.restart_button, view.speed_choice, view.slider, view.terminal]
    assert all(control.accessibleName() for control in controls)
    view.activateWindow()
    qtbot.waitActive(view)
    view.play_button.setFocus()
    reached = [QApplication.focusWidget()]
    for _ in controls[1:]:
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        reached.append(QApplication.focusWidget())
    assert reached == controls


def test_a_missing_recording_shows_a_message_not_an_error(view, tmp_path):
    assert not view.load(tmp_path / "gone.cast")
    assert view.message.isVisible() and "There is no recording at" in view.message.text()
    assert "\n" not in view.message.text()
    assert not view.play_button.isEnabled() and not view.step_button.isEnabled()
    view.play()
    view.step()
    assert (view.is_playing, view.event_index) == (False, 0)


def test_a_file_that_is_not_a_recording_shows_a_message(view, tmp_path):
    broken = tmp_path / "recording.cast"
    broken.write_text("this is not a recording\n", encoding="utf-8")
    assert not view.load(broken)
    assert "is not an asciicast v2 recording" in view.message.text()


def test_colours_and_cursor_moves_in_a_recording_play_back(view, tmp_path, qtbot):
    events = [
        (0.1, "\x1b[32mcompiling\x1b[0m\n"),
        (0.2, "tests 10%\rtests 60%\rtests 100%\n"),
        (0.3, "status: running\n\x1b[1A\x1b[2K\r\x1b[1;31mstatus: failed\x1b[0m\n"),
    ]
    path = tmp_path / "synthetic.cast"
    write_asciicast(path, events, datetime(2026, 11, 22, tzinfo=UTC), "synthetic", Redactor())
    view.load(path)

    view.step()
    assert view.terminal.cell_style(0, 0).foreground == PALETTE[2]
    view.step()
    assert view.terminal.screen_lines()[1] == "tests 100%"
    view.set_speed(4)
    with qtbot.waitSignal(view.finished, timeout=3000):
        view.play()
    assert view.terminal.screen_lines()[:4] == ["compiling", "tests 100%", "status: failed", ""]
    failed = view.terminal.cell_style(2, 0)
    assert failed.foreground == PALETTE[1] and failed.bold
