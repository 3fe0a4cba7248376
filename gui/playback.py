"""Plays a run's recording (asciicast v2) back in a terminal: play/pause, step, restart, speed, and seek.

Playback follows the recording's own timing, except that long idle gaps (the agent waiting on the model) are
shortened to `MAX_IDLE_SECONDS`, as asciinema's idle-time limit does, so a demo does not stall. Every time shown
— the label, the slider, `position` — is on that shortened timeline.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

from PySide6.QtCore import QElapsedTimer, QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSlider,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from cab_check.errors import BadInput
from cab_check.gui.terminal_view import TerminalView
from cab_check.recording import Cast, read_asciicast

MAX_IDLE_SECONDS = 2.0
SPEEDS = (0.5, 1.0, 2.0, 4.0)
TICK_MS = 30  # how often the screen catches up with the playback clock while playing
NO_RECORDING = "This run has no recording to play back."
IDLE_TIP = (
    f"Pauses longer than {MAX_IDLE_SECONDS:g} s in the recording are shortened to {MAX_IDLE_SECONDS:g} s, "
    "so playback does not stall; the times shown are playback times."
)


def playback_times(events: list[tuple[float, str]], max_idle: float = MAX_IDLE_SECONDS) -> list[float]:
    """Each event's time on the playback timeline: the recording's, with every gap longer than `max_idle` cut to it."""
    times: list[float] = []
    clock = previous = 0.0
    for time, _ in events:
        clock += min(max(0.0, time - previous), max_idle)
        previous = max(previous, time)
        times.append(clock)
    return times


def _speed_label(speed: float) -> str:
    return f"{speed:g}×"


class PlaybackView(QWidget):
    """A recording in a `TerminalView`, with controls; Space plays/pauses, Right steps, Home restarts.

    `position` is in seconds on the playback timeline; `event_index` counts the output events shown so far.
    """

    position_changed = Signal(float)
    finished = Signal()  # the last output event has been shown, by playing or stepping

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.position = 0.0
        self.is_playing = False
        self.event_index = 0
        self._cast: Cast | None = None
        self._times: list[float] = []
        self._speed = 1.0
        self._clock = QElapsedTimer()
        self._clock_start_position = 0.0
        self._timer = QTimer(self, interval=TICK_MS)
        self._timer.timeout.connect(self._tick)
        self._pending_seek: float | None = None
        self._resume_after_drag = False
        self._build()
        self.clear(NO_RECORDING)

    # --- what callers use -----------------------------------------------------------------------------------

    @property
    def cast(self) -> Cast | None:
        return self._cast

    @property
    def duration(self) -> float:
        """Length of the playback timeline in seconds (idle gaps shortened)."""
        return self._times[-1] if self._times else 0.0

    @property
    def speed(self) -> float:
        return self._speed

    def load(self, path: Path) -> bool:
        """Loads a recording, ready to play from its start; a missing or unreadable file shows a message instead."""
        self.pause()
        try:
            cast = read_asciicast(path)
        except BadInput as problem:
            self.clear(str(problem))
            return False
        self._cast = cast
        self._times = playback_times(cast.events)
        self.terminal.resize_screen(cast.width, cast.height)
        self.message.hide()
        self._set_controls_enabled(True)
        self._moving_slider(lambda: self.slider.setRange(0, round(self.duration * 1000)))
        self.slider.setPageStep(max(100, round(self.duration * 100)))  # a tenth of the recording
        self._rewind()
        return True

    def clear(self, message: str = NO_RECORDING) -> None:
        """Empties the view and shows `message` (one line) in place of a recording."""
        self.pause()
        self._cast, self._times = None, []
        self.message.setText(message)
        self.message.show()
        self._set_controls_enabled(False)
        self._moving_slider(lambda: self.slider.setRange(0, 0))
        self._rewind()
        self.terminal.feed("\x1b[?25l")  # an empty terminal shows no cursor; `load` resets it

    def play(self) -> None:
        """Plays from the current position (from the start when at the end)."""
        if self._cast is None or self.is_playing:
            return
        if self._at_end():
            self._rewind()
        self.is_playing = True
        self._restart_clock()
        self._timer.start()
        self._show_play_state()

    def pause(self) -> None:
        if not self.is_playing:
            return
        self.is_playing = False
        self._timer.stop()
        self._show_play_state()

    def toggle_play(self) -> None:
        if self.is_playing:
            self.pause()
        else:
            self.play()

    def step(self) -> None:
        """Pauses and shows the next output event."""
        if self._cast is None:
            return
        self.pause()
        if self.event_index >= len(self._cast.events):
            return
        self.terminal.feed(self._cast.events[self.event_index][1])
        self.event_index += 1
        self._set_position(max(self.position, self._times[self.event_index - 1]))
        if self.event_index == len(self._cast.events):
            self.finished.emit()

    def restart(self) -> None:
        """Back to the start; playing goes on playing."""
        if self._cast is None:
            return
        self._rewind()
        if self.is_playing:
            self._restart_clock()

    def seek(self, seconds: float) -> None:
        """Shows the screen as it was `seconds` into playback; going back replays the output from the start."""
        if self._cast is None:
            return
        target = min(max(0.0, seconds), self.duration)
        if bisect_right(self._times, target) < self.event_index:
            self.terminal.reset()
            self.event_index = 0
        self._advance_to(target)
        if self.is_playing:
            self._restart_clock()

    def set_speed(self, speed: float) -> None:
        """Plays `speed` times faster than recorded (any positive factor; the menu offers 0.5× to 4×)."""
        if speed <= 0:
            raise ValueError(f"speed must be positive, not {speed}")
        if self.is_playing:
            self._advance_to(self._clock_position())
            self._restart_clock()
        self._speed = speed
        index = self.speed_choice.findData(speed)
        if index >= 0 and index != self.speed_choice.currentIndex():
            self.speed_choice.setCurrentIndex(index)

    # --- building ----------------------------------------------------------------------------------------------

    def _build(self) -> None:
        self.message = QLabel()  # its text is what a screen reader reads, so it has no separate accessible name
        self.terminal = TerminalView(parent=self)
        self.terminal.setAccessibleName("Recorded agent output")

        self.play_button = QPushButton("&Play")
        self.play_button.setToolTip(f"Play or pause (Space). {IDLE_TIP}")
        self.play_button.clicked.connect(self.toggle_play)
        self.step_button = QPushButton("&Step")
        self.step_button.setToolTip("Show the next piece of output (Right arrow).")
        self.step_button.setAccessibleName("Step")
        self.step_button.clicked.connect(self.step)
        self.restart_button = QPushButton("&Restart")
        self.restart_button.setToolTip("Back to the start (Home).")
        self.restart_button.setAccessibleName("Restart")
        self.restart_button.clicked.connect(self.restart)

        self.speed_choice = QComboBox()
        for speed in SPEEDS:
            self.speed_choice.addItem(_speed_label(speed), speed)
        self.speed_choice.setCurrentIndex(SPEEDS.index(1.0))
        self.speed_choice.setAccessibleName("Playback speed")
        self.speed_choice.currentIndexChanged.connect(lambda _: self.set_speed(self.speed_choice.currentData()))
        speed_label = QLabel("Spee&d:")
        speed_label.setBuddy(self.speed_choice)

        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setAccessibleName("Playback position")
        self.slider.setToolTip(IDLE_TIP)
        self.slider.setSingleStep(100)
        self.slider.valueChanged.connect(self._slider_changed)
        self.slider.sliderPressed.connect(self._drag_started)
        self.slider.sliderReleased.connect(self._drag_ended)
        position_label = QLabel("P&osition:")
        position_label.setBuddy(self.slider)
        self.time_label = QLabel()
        self.time_label.setToolTip(IDLE_TIP)

        controls = QHBoxLayout()
        for widget in (
            self.play_button,
            self.step_button,
            self.restart_button,
            speed_label,
            self.speed_choice,
            position_label,
        ):
            controls.addWidget(widget)
        controls.addWidget(self.slider, stretch=1)
        controls.addWidget(self.time_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.message)
        layout.addWidget(self.terminal, stretch=1)
        layout.addLayout(controls)

        order = (self.play_button, self.step_button, self.restart_button, self.speed_choice, self.slider, self.terminal)
        for before, after in pairwise(order):
            QWidget.setTabOrder(before, after)

        for key, action in (
            (Qt.Key.Key_Space, self.toggle_play),
            (Qt.Key.Key_Right, self.step),
            (Qt.Key.Key_Home, self.restart),
        ):
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(action)
        self._keep_own_keys = _KeepOwnKeys(self)
        for control in (self.play_button, self.step_button, self.restart_button, self.speed_choice, self.slider):
            control.installEventFilter(self._keep_own_keys)
        self._show_play_state()

    def _set_controls_enabled(self, enabled: bool) -> None:
        for control in (self.play_button, self.step_button, self.restart_button, self.speed_choice, self.slider):
            control.setEnabled(enabled)

    # --- playing -----------------------------------------------------------------------------------------------

    def _rewind(self) -> None:
        self.terminal.reset()
        self.event_index = 0
        self._set_position(0.0)

    def _at_end(self) -> bool:
        return self._cast is not None and self.event_index >= len(self._cast.events) and self.position >= self.duration

    def _restart_clock(self) -> None:
        self._clock_start_position = self.position
        self._clock.start()

    def _clock_position(self) -> float:
        return min(self.duration, self._clock_start_position + self._clock.elapsed() / 1000 * self._speed)

    def _tick(self) -> None:
        self._advance_to(self._clock_position())
        if self._at_end():
            self.pause()
            self.finished.emit()

    def _advance_to(self, target: float) -> None:
        """Feeds every event up to `target` (at once: one feed, one repaint) and moves there."""
        assert self._cast is not None
        end = bisect_right(self._times, target)
        if end > self.event_index:
            self.terminal.feed("".join(text for _, text in self._cast.events[self.event_index : end]))
            self.event_index = end
        self._set_position(target)

    def _set_position(self, seconds: float) -> None:
        self.position = seconds
        self._moving_slider(lambda: self.slider.setValue(round(seconds * 1000)))
        self.time_label.setText(f"t = {seconds:.1f} s / {self.duration:.1f} s")
        self.position_changed.emit(seconds)

    def _show_play_state(self) -> None:
        self.play_button.setText("&Pause" if self.is_playing else "&Play")
        self.play_button.setAccessibleName("Pause" if self.is_playing else "Play")

    # --- the position slider -------------------------------------------------------------------------------------

    def _moving_slider(self, change: Callable[[], object]) -> None:
        """Moves the slider for playback's own reasons, without that counting as the user seeking."""
        self.slider.blockSignals(True)
        try:
            change()
        finally:
            self.slider.blockSignals(False)

    def _slider_changed(self, value: int) -> None:
        # A drag sends many values; seeking to the latest once per event-loop pass keeps long recordings smooth.
        if self._pending_seek is None:
            QTimer.singleShot(0, self._seek_to_slider)
        self._pending_seek = value / 1000

    def _seek_to_slider(self) -> None:
        target, self._pending_seek = self._pending_seek, None
        if target is not None:
            self.seek(target)

    def _drag_started(self) -> None:
        self._resume_after_drag = self.is_playing
        self.pause()

    def _drag_ended(self) -> None:
        if self._resume_after_drag:
            self._seek_to_slider()
            self.play()
        self._resume_after_drag = False


class _KeepOwnKeys(QObject):
    """Lets a focused control keep the keys it acts on itself (Space presses a button, arrows move the slider)
    rather than have the view's shortcuts take them."""

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent):
            key = event.key()
            if (isinstance(watched, (QAbstractButton, QComboBox)) and key == Qt.Key.Key_Space) or (
                isinstance(watched, QAbstractSlider) and key in (Qt.Key.Key_Right, Qt.Key.Key_Home)
            ):
                event.accept()
        return False
