"""The window: Configure → Run → Result, with History (and Compare) beside them; Run and Cancel always in reach."""

from __future__ import annotations

from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cab_check import __version__, catalog, store
from cab_check.errors import CabError
from cab_check.gui.app_settings import GuiSettings, load_settings, save_settings
from cab_check.gui.compare_view import CompareView
from cab_check.gui.config_form import ConfigForm
from cab_check.gui.history_view import HistoryView
from cab_check.gui.palettes import apply_theme
from cab_check.gui.provisional import ProvisionalMark
from cab_check.gui.result_view import ResultView
from cab_check.gui.run_view import RunView
from cab_check.gui.run_worker import RunWorker
from cab_check.models import CellResult
from cab_check.report import PROVISIONAL_TEXT
from cab_check.report.axes import composites

THEMES = (("System", None), ("Light", False), ("Dark", True))


class MainWindow(QMainWindow):
    def __init__(self, settings: GuiSettings | None = None) -> None:
        super().__init__()
        self.setWindowTitle(f"cab-check — {PROVISIONAL_TEXT.lower()}")
        self.worker: RunWorker | None = None
        self._close_when_stopped = False
        self._settings = settings or load_settings()

        self.form = ConfigForm()
        self.form.apply_settings(self._settings)
        self.run_view = RunView()
        self.result_view = ResultView()
        self.history = HistoryView()
        self.compare_view: CompareView | None = None
        self.history.open_requested.connect(self.open_run)
        self.history.compare_requested.connect(self.compare_runs)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        for widget, title in (
            (self.form, "&Configure"),
            (self.run_view, "R&un"),
            (self.result_view, "Re&sult"),
            (self.history, "&History"),
        ):
            self.tabs.addTab(widget, title)
        self.tabs.currentChanged.connect(self._tab_changed)

        self.run_button = QPushButton("&Run")
        self.run_button.setDefault(True)
        self.run_button.setShortcut(QKeySequence("Ctrl+Return"))
        self.run_button.setToolTip("Run the cell (Ctrl+Enter)")
        self.run_button.clicked.connect(self.start_run)
        self.cancel_button = QPushButton("Cancel run")
        self.cancel_button.setShortcut(QKeySequence("Ctrl+."))
        self.cancel_button.setToolTip("Stop the agent and remove the run's containers and temp files (Ctrl+.)")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_run)

        bar = QHBoxLayout()
        self.mark = ProvisionalMark()  # hidden on the pages that carry their own, so it never shows twice
        bar.addWidget(self.mark)
        bar.addStretch(1)
        bar.addWidget(self.cancel_button)
        bar.addWidget(self.run_button)
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(bar)
        self.setCentralWidget(central)
        self.status = QLabel("")
        self.statusBar().addWidget(self.status, 1)
        self._menus()
        self.resize(1100, 780)

    # --- running a cell ---------------------------------------------------------------------------------------

    def start_run(self) -> None:
        if self.running:
            return
        try:
            request = self.form.request()
            api_key = self.form.api_key()
            said = self.form.commit_key()
        except CabError as exc:
            self.show_status(str(exc))
            self.tabs.setCurrentWidget(self.form)
            return
        if isinstance(said, str) and said:
            self.show_status(said)
        self._save_settings()
        timeout_s = request.timeout_s or catalog.get_task(request.task).timeout_s
        model = request.model if request.endpoint else "the built-in reference model"
        self.run_view.start(f"{request.tui} × {model} · {request.task}", timeout_s)
        self.worker = RunWorker(request, api_key, self)
        self.worker.engine_event.connect(self.run_view.handle)
        self.worker.succeeded.connect(self._succeeded)
        self.worker.failed.connect(self._failed)
        self.worker.cancelled.connect(self._cancelled)
        self.worker.finished.connect(self._stopped)
        self._set_running(True)
        self.tabs.setCurrentWidget(self.run_view)
        self.show_status("Running…")
        self.worker.start()

    def cancel_run(self) -> None:
        if self.worker is not None and not self.worker.isFinished():
            self.worker.cancel()
            self.cancel_button.setEnabled(False)
            self.show_status("Cancelling — stopping the agent and removing the run's containers…")

    @property
    def result(self) -> CellResult | None:
        """The result on the Result page."""
        return self.result_view.result

    @property
    def running(self) -> bool:
        # Until the worker's finished signal has been handled here, not merely until its thread has ended.
        return self.worker is not None

    def _succeeded(self, result: CellResult) -> None:
        self.result_view.show_result(result)
        self.history.refresh()
        self.tabs.setCurrentWidget(self.result_view)
        verdict = "passed" if result.passed else "did not pass"
        self.show_status(f"{result.tui} on {result.task} {verdict}: {composites(result)} (provisional).")

    def _failed(self, sentence: str, exit_code: int) -> None:
        self.run_view.stop("failed", sentence)
        self.show_status(sentence)

    def _cancelled(self, sentence: str) -> None:
        self.run_view.stop("stopped", sentence)
        self.show_status(sentence)

    def _stopped(self) -> None:
        self._set_running(False)
        self.worker = None
        if self._close_when_stopped:
            self.close()

    def _set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self.form.set_running(running)

    # --- reading results --------------------------------------------------------------------------------------

    def open_run(self, run_id: str) -> None:
        try:
            result = store.load_result(run_id)
        except (OSError, ValueError):
            self.show_status(f"Run {run_id} could not be read; it may have been removed.")
            return
        self.result_view.show_result(result)
        self.tabs.setCurrentWidget(self.result_view)

    def compare_runs(self, first: str, second: str) -> None:
        try:
            a, b = store.load_result(first), store.load_result(second)
        except (OSError, ValueError):
            self.show_status("One of the two runs could not be read; it may have been removed.")
            return
        if self.compare_view is None:
            self.compare_view = CompareView()
            self.tabs.addTab(self.compare_view, "Com&pare")
        self.compare_view.show_pair(a, b)
        self.tabs.setCurrentWidget(self.compare_view)

    def _tab_changed(self, index: int) -> None:
        page = self.tabs.widget(index)
        self.mark.setVisible(page not in (self.result_view, self.compare_view))
        if page is self.history:
            self.history.refresh()  # runs made meanwhile by `cab check` in a terminal show up too

    # --- window ---------------------------------------------------------------------------------------------

    def show_status(self, text: str) -> None:
        self.status.setText(text)

    def confirm_stop(self) -> bool:
        """Asked when the window is closed mid-run; tests replace it."""
        answer = QMessageBox.question(
            self,
            "A run is in progress",
            "Stop the run and remove its containers and temp files, then close?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def stop_and_close(self) -> None:
        """Closes without asking; a run in progress is cancelled and cleaned up first."""
        self._close_when_stopped = True
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.running:
            event.ignore()  # the window closes itself once the engine has cleaned up
            if self._close_when_stopped or self.confirm_stop():
                self._close_when_stopped = True
                self.cancel_run()
            return
        self._save_settings()
        event.accept()

    def _save_settings(self) -> None:
        self._settings = self.form.settings().model_copy(update={"dark": self._settings.dark})
        try:
            save_settings(self._settings)
        except OSError as exc:
            self.show_status(f"Settings were not saved ({exc.strerror or exc}).")

    def _menus(self) -> None:
        view = self.menuBar().addMenu("&View")
        themes = QActionGroup(self)
        for title, dark in THEMES:
            action = QAction(f"{title} theme", self, checkable=True)
            action.setChecked(self._settings.dark is dark)
            action.triggered.connect(lambda _=False, dark=dark: self.set_theme(dark))
            themes.addAction(action)
            view.addAction(action)
        help_menu = self.menuBar().addMenu("&Help")
        about = QAction("&About cab-check", self)
        about.triggered.connect(self._about)
        help_menu.addAction(about)

    def set_theme(self, dark: bool | None) -> None:
        self._settings = self._settings.model_copy(update={"dark": dark})
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, dark)
        self._save_settings()

    def _about(self) -> None:
        QMessageBox.about(
            self,
            "About cab-check",
            f"<p><b>cab-check {__version__}</b></p><p>Runs one CodingAgentBench cell on this machine against your "
            f"model. Scores are <b>{PROVISIONAL_TEXT.lower()}</b>: one local run, not CAB's sweep.</p>"
            "<p>The same engine as <code>cab check</code>; runs from either show up in History.</p>",
        )
