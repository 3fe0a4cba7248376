"""`cab gui` / `cab-check-gui`: the desktop app's entry point.

With the environment variable CAB_CHECK_GUI_SMOKE set (to anything non-empty), the app shows its main window, prints
`cab-check-gui: main window shown (<window title>)` to stdout and exits 0: a check that a build, such as the
PyInstaller bundle, starts. An environment variable rather than a flag, so Qt's own argv handling is left alone.
"""

from __future__ import annotations

import os
import signal
import sys
from importlib import resources

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from cab_check import __version__
from cab_check.gui.app_settings import load_settings
from cab_check.gui.main_window import MainWindow
from cab_check.gui.palettes import apply_theme


def make_app(argv: list[str] | None = None) -> QApplication:
    running = QApplication.instance()
    app = running if isinstance(running, QApplication) else QApplication(argv if argv is not None else sys.argv)
    app.setApplicationName("cab-check")
    app.setApplicationDisplayName("cab-check")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("cab-check")  # ties the window to packaging's cab-check.desktop
    # A PNG, not the SVG: Qt draws it without the QtSvg plugin, which the bundle leaves out.
    app.setWindowIcon(QIcon(str(resources.files("cab_check.resources") / "desktop" / "cab-check-256.png")))
    return app


def report_shown_and_quit(app: QApplication, window: MainWindow) -> None:
    if sys.stdout is not None:  # None in windowed (no console) builds on Windows
        print(f"cab-check-gui: main window shown ({window.windowTitle()})", flush=True)
    app.quit()


def main(argv: list[str] | None = None) -> int:
    app = make_app(argv)
    settings = load_settings()
    apply_theme(app, settings.dark)
    window = MainWindow(settings)
    window.show()
    # Ctrl-C in the terminal that started the app, or a SIGTERM, stops a run (cleaning up) and closes, unasked.
    signal.signal(signal.SIGINT, lambda *_: window.stop_and_close())
    signal.signal(signal.SIGTERM, lambda *_: window.stop_and_close())
    wake = QTimer()  # Python only runs signal handlers between bytecodes: let it in now and then
    wake.timeout.connect(lambda: None)
    wake.start(250)
    if os.environ.get("CAB_CHECK_GUI_SMOKE"):
        QTimer.singleShot(0, lambda: report_shown_and_quit(app, window))  # runs once the loop has shown the window
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
