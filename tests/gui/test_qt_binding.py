"""The installed Qt binding must not leak references to None: PySide6 6.12.0 on Python < 3.12 does, on every void
call, and the app aborts with "deallocating None" a few thousand calls into a run (pyproject excludes it)."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QScrollBar


def test_void_qt_calls_keep_none_alive(qtbot):
    bar = QScrollBar()
    qtbot.addWidget(bar)
    before = sys.getrefcount(None)
    for _ in range(1000):
        bar.setValue(1)
    assert sys.getrefcount(None) >= before - 10
