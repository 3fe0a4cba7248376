"""Takes the README's screenshots of the desktop app: the empty form, a run in progress, a result, and playback.

The run is real (the built-in reference model, in Docker), into a throwaway history, so the pictures show what a
user sees. Run it under a virtual X server so the real platform plugin draws the window:

    xvfb-run -a -s "-screen 0 1280x900x24" python scripts/screenshots.py [--out docs/screenshots] [--dark]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--dark", action="store_true", help="use the dark palette")
    args = parser.parse_args()
    os.environ["CAB_CHECK_HOME"] = tempfile.mkdtemp(prefix="cab-check-screenshots-")  # never the user's history

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from cab_check.gui.app import make_app
    from cab_check.gui.app_settings import GuiSettings
    from cab_check.gui.main_window import MainWindow
    from cab_check.gui.palettes import apply_theme
    from cab_check.models import ModelCallRecorded

    app = make_app(sys.argv[:1])
    apply_theme(app, args.dark)
    args.out.mkdir(parents=True, exist_ok=True)
    window = MainWindow(GuiSettings())
    window.resize(1200, 820)
    window.show()

    def settle(ms: int = 400) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def shoot(name: str) -> None:
        settle()
        path = args.out / f"{name}.png"
        window.grab().save(str(path))
        print(path)

    def wait_for(condition, limit_s: float) -> None:
        waited = 0.0
        while not condition():
            if waited > limit_s:
                raise SystemExit(f"gave up waiting after {limit_s:.0f} s")
            settle(200)
            waited += 0.2

    shoot("1-configure")

    calls: list = []
    window.start_run()
    window.worker.event.connect(lambda e: calls.append(e) if isinstance(e, ModelCallRecorded) else None)
    wait_for(lambda: calls or not window.running, 900)  # the agent is at work: a model call came through
    settle(1500)
    shoot("2-running")

    wait_for(lambda: not window.running, 900)
    if window.result is None:
        raise SystemExit(f"the run did not finish: {window.status.text()}")
    shoot("3-result")

    playback = window.result_view.playback
    window.result_view.tabs.setCurrentWidget(playback)
    settle()
    playback.seek(playback.duration)  # the agent's last screen, as a person would pause on it
    shoot("4-playback")
    QApplication.closeAllWindows()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
