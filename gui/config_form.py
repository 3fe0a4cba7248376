"""The Configure page: which model answers (the built-in reference model or the user's endpoint), which TUI runs
which task, and "Check connection", which proves — with real requests — which TUIs that model can serve.

Everything slow (the OS keyring, the endpoint's model list, the connection check) runs off the UI thread through
cab_check.gui.background; the form only ever shows one sentence per problem, never a dialog. What is known about
the user's endpoint, its key and its models is decided in endpoint_state (no Qt there): the form reports what
happened, starts the lookups it asks for, and shows what it says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from itertools import pairwise
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QCompleter,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSpinBox,
    QStyle,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cab_check import catalog, doctor, handshake, keys
from cab_check.errors import BadInput, CabError
from cab_check.gui.app_settings import GuiSettings
from cab_check.gui.background import APP_WORDS, Task, error_sentence, run_in_background
from cab_check.gui.endpoint_state import KEY_LOADED as KEY_LOADED  # re-exported: tests read the sentences here
from cab_check.gui.endpoint_state import KEY_SAVED as KEY_SAVED
from cab_check.gui.endpoint_state import NO_KEYRING as NO_KEYRING
from cab_check.gui.endpoint_state import NO_MODELS as NO_MODELS
from cab_check.gui.endpoint_state import EndpointState, KeyLookup, ModelListing, Step, typed_key
from cab_check.gui.theme import goodness_color
from cab_check.models import (
    MAX_TIMEOUT_S,
    MIN_TIMEOUT_S,
    CellRequest,
    TaskSpec,
)
from cab_check.sandbox.engine import check_engine

REFERENCE_NOTE = (
    "Applies the task's known fix through the real agent: it shows the harness works, not how a model performs."
)
ENDPOINT_PLACEHOLDER = "http://localhost:8000/v1"
WIRE_NAMES = {
    "chat": "chat completions",
    "responses": "the Responses API, which the proxy turns into chat completions",
    "anthropic": "Anthropic Messages, which the proxy turns into chat completions",
}
IMAGE_NOTE = "(with an image you provide)"  # the CLI says "--image"; the form has an Image field
PROMPT_LINES = 2
PROMPT_LINE_CHARS = 200


# --- checking the connection (no widgets: these run on a pool thread) -------------------------------------------


@dataclass(frozen=True)
class ConnectionReport:
    """What "Check connection" found: one finding per capability, one verdict per shipped TUI."""

    subject: str  # what was checked, for the summary line
    findings: list[doctor.Finding]
    grid: list[doctor.Compatibility]

    @property
    def summary(self) -> str:
        ok = sum(c.ok for c in self.grid)
        if ok == len(self.grid):
            return f"All {ok} TUIs can use {self.subject}."
        return f"{ok} of {len(self.grid)} TUIs can use {self.subject}."


def check_endpoint(endpoint: str, api_key: str | None, model: str) -> ConnectionReport:
    """The user's endpoint: the handshake once per capability (`cab doctor --endpoint`), then each TUI's verdict."""
    findings, grid = doctor.endpoint_grid(endpoint, api_key, model)
    findings = [doctor.Finding(f.area.removeprefix("endpoint "), f.status, f.detail, f.fix) for f in findings]
    grid = [c.worded(APP_WORDS) for c in grid]
    return ConnectionReport(f"'{model}' at {endpoint}", findings, grid)


def check_reference_model(task: TaskSpec) -> ConnectionReport:
    """The reference model for `task`, served on loopback as a run serves it, probed for each capability."""
    findings, grid = doctor.reference_grid(task)
    grid = [c.worded(APP_WORDS) for c in grid]
    return ConnectionReport(f"the reference model on {task.slug} (checked on loopback)", findings, grid)


def _saved_key(endpoint: str) -> str | None:
    """The endpoint's key from the OS keyring; KeyringUnavailable when there is no keyring to ask."""
    keys.usable_keyring()
    return keys.load_key(endpoint)


# --- the form ----------------------------------------------------------------------------------------------------


def _wrapping_label(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextFormat(Qt.TextFormat.PlainText)  # task prompts and server errors are never read as markup
    return label


def _first_lines(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()][:PROMPT_LINES]
    return "\n".join(line if len(line) <= PROMPT_LINE_CHARS else line[: PROMPT_LINE_CHARS - 1] + "…" for line in lines)


class ConfigForm(QWidget):
    """The cell to run and the model that answers. The main window reads `request()`, `api_key()` and
    `commit_key()` when Run is pressed, and keeps `settings()` between sessions."""

    changed = Signal()  # any field was edited

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._tuis = catalog.shipped_tuis()
        self._tasks: dict[str, TaskSpec] = dict(catalog.shipped_tasks())  # by the task combo's item data
        self._dark: bool | None = None  # the theme is the window's; kept so settings() round-trips
        self._state = EndpointState(APP_WORDS)  # the endpoint, its key and its models; the form only shows them
        self._running = False
        self._check_task: Task | None = None
        self._build()
        self._wire()
        self._show_tui()
        self._show_task()
        self.apply_settings(GuiSettings())  # the defaults live in one place

    # --- layout ---------------------------------------------------------------------------------------------

    def _build(self) -> None:
        content = QWidget()
        column = QVBoxLayout(content)
        column.addWidget(self._build_source())
        column.addWidget(self._build_cell())
        column.addWidget(self._build_check())
        column.addStretch(1)
        scroll = QScrollArea()  # at 200 % scaling the form outgrows the window
        scroll.setWidget(content)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        chain = [
            self.reference_radio,
            self.endpoint_radio,
            self.endpoint_edit,
            self.model_combo,
            self.key_edit,
            self.show_key_button,
            self.save_key_check,
            self.tui_combo,
            self.image_edit,
            self.task_combo,
            self.task_folder_button,
            self.timeout_spin,
            self.engine_edit,
            self.check_button,
            self.check_table,
        ]
        for first, second in pairwise(chain):
            QWidget.setTabOrder(first, second)

    def _build_source(self) -> QGroupBox:
        self.source_box = QGroupBox("Model")
        self.reference_radio = QRadioButton("&Built-in reference model")
        self.reference_radio.setAccessibleDescription(REFERENCE_NOTE)
        self.reference_radio.setChecked(True)
        self.reference_note = _wrapping_label(REFERENCE_NOTE)
        self.endpoint_radio = QRadioButton("My &endpoint")
        self.endpoint_radio.setAccessibleDescription("An OpenAI-compatible chat-completions server of yours.")
        self.source_group = QButtonGroup(self)
        self.source_group.addButton(self.reference_radio)
        self.source_group.addButton(self.endpoint_radio)

        self.endpoint_edit = QLineEdit()
        self.endpoint_edit.setPlaceholderText(ENDPOINT_PLACEHOLDER)
        self.endpoint_edit.setAccessibleName("Endpoint URL")
        self.endpoint_edit.setToolTip("The base URL that /chat/completions hangs off, usually ending in /v1.")
        self.model_combo = QComboBox()
        self.model_combo.setEditable(True)
        self.model_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        model_line = self.model_combo.lineEdit()
        assert model_line is not None  # setEditable(True) just made it; the stubs allow a combo without one
        model_line.setPlaceholderText("the model id the server serves")
        self.model_combo.setAccessibleName("Model")
        completer = QCompleter(self.model_combo.model(), self.model_combo)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)  # "coder" finds "Qwen/Qwen2.5-Coder-7B-Instruct"
        self.model_combo.setCompleter(completer)
        self.key_edit = QLineEdit()
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setPlaceholderText("empty when the server needs none")
        self.key_edit.setAccessibleName("API key")
        self.show_key_button = QPushButton("Sho&w")
        self.show_key_button.setCheckable(True)
        self.show_key_button.setAccessibleName("Show the API key")
        self.show_key_button.setToolTip("Show or hide the key")
        self.save_key_check = QCheckBox("Save key to the OS ke&yring")
        self.save_key_check.setChecked(True)
        self.save_key_check.setAccessibleName("Save key to the OS keyring")
        self.status_label = _wrapping_label()
        self.status_label.setAccessibleName("Endpoint status")

        key_row = QHBoxLayout()
        key_row.setContentsMargins(0, 0, 0, 0)
        key_row.addWidget(self.key_edit, 1)
        key_row.addWidget(self.show_key_button)
        self.endpoint_fields = QWidget()
        self._endpoint_form = fields = QFormLayout(self.endpoint_fields)
        fields.setContentsMargins(0, 0, 0, 0)
        fields.addRow(self._buddy("Endpoint UR&L:", self.endpoint_edit), self.endpoint_edit)
        fields.addRow(self._buddy("&Model:", self.model_combo), self.model_combo)
        fields.addRow(self._buddy("API &key:", self.key_edit), key_row)
        fields.addRow("", self.save_key_check)
        fields.addRow("", self.status_label)
        fields.setRowVisible(self.status_label, False)

        box = QVBoxLayout(self.source_box)
        box.addWidget(self.reference_radio)
        note_row = QHBoxLayout()
        style = self.style()
        note_row.addSpacing(
            style.pixelMetric(QStyle.PixelMetric.PM_ExclusiveIndicatorWidth)
            + style.pixelMetric(QStyle.PixelMetric.PM_RadioButtonLabelSpacing)
        )  # under its text
        note_row.addWidget(self.reference_note, 1)
        box.addLayout(note_row)
        box.addWidget(self.endpoint_radio)
        box.addWidget(self.endpoint_fields)
        return self.source_box

    def _build_cell(self) -> QGroupBox:
        self.cell_box = QGroupBox("Agent and task")
        self.tui_combo = QComboBox()
        self.tui_combo.setAccessibleName("TUI")
        for name, tui in self._tuis.items():
            self.tui_combo.addItem(name if tui.buildable else f"{name} (image you provide)", name)
        self.tui_info = _wrapping_label()
        self.tui_info.setAccessibleName("About the TUI")
        self.image_edit = QLineEdit()
        self.image_edit.setAccessibleName("Image")
        self.task_combo = QComboBox()
        self.task_combo.setAccessibleName("Task")
        for slug in self._tasks:
            self.task_combo.addItem(slug, slug)
        self.task_folder_button = QPushButton("Task &folder…")
        self.task_folder_button.setAccessibleName("Add a task folder")
        self.task_folder_button.setToolTip("Add a task folder of your own (one with task.toml and workdir/)")
        self.task_info = _wrapping_label()
        self.task_info.setAccessibleName("About the task")
        self.timeout_spin = QSpinBox()
        # One below the least timeout stands for "the task's own", shown as the special text.
        self.timeout_spin.setRange(MIN_TIMEOUT_S - 1, MAX_TIMEOUT_S)
        self.timeout_spin.setSuffix(" s")
        self.timeout_spin.setAccelerated(True)
        self.timeout_spin.setAccessibleName("Timeout")
        self.timeout_spin.setToolTip("How long the agent may run; the lowest value means the task's own timeout")
        self.engine_edit = QLineEdit()
        self.engine_edit.setAccessibleName("Engine")
        self.engine_edit.setPlaceholderText("DOCKER_HOST, else the current docker context")
        self.engine_edit.setToolTip(
            "The container engine cells run on: unix://…, tcp://…, ssh://… or a docker "
            "context name; empty uses the one the docker command would"
        )

        task_row = QHBoxLayout()
        task_row.setContentsMargins(0, 0, 0, 0)
        task_row.addWidget(self.task_combo, 1)
        task_row.addWidget(self.task_folder_button)
        form = QFormLayout(self.cell_box)
        form.addRow(self._buddy("&TUI:", self.tui_combo), self.tui_combo)
        form.addRow("", self.tui_info)
        form.addRow(self._buddy("&Image:", self.image_edit), self.image_edit)
        form.addRow(self._buddy("T&ask:", self.task_combo), task_row)
        form.addRow("", self.task_info)
        form.addRow(self._buddy("Time&out:", self.timeout_spin), self.timeout_spin)
        form.addRow(self._buddy("En&gine:", self.engine_edit), self.engine_edit)
        return self.cell_box

    def _build_check(self) -> QGroupBox:
        box = QGroupBox("Connection")
        self.check_button = QPushButton("Check co&nnection")
        self.check_button.setAccessibleName("Check connection")
        self.check_button.setToolTip("Ask the model a few small questions, as each TUI would, before any run")
        self.check_summary = _wrapping_label("Checks which TUIs the chosen model can serve, in a few seconds.")
        self.check_summary.setAccessibleName("Connection check result")
        self.check_table = QTableWidget(0, 3)
        self.check_table.setHorizontalHeaderLabels(["TUI", "Works", "Detail"])
        self.check_table.setAccessibleName("Connection check: one row per TUI")
        self.check_table.verticalHeader().setVisible(False)
        self.check_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.check_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.check_table.setWordWrap(True)
        self.check_table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # sized to its rows
        header = self.check_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.sectionResized.connect(self._fit_table)  # wrapped details take more or fewer lines
        self.check_table.setVisible(False)
        self.check_findings = _wrapping_label()
        self.check_findings.setAccessibleName("What the model can do")
        self.check_findings.setVisible(False)

        row = QHBoxLayout()
        row.addWidget(self.check_button)
        row.addStretch(1)
        layout = QVBoxLayout(box)
        layout.addLayout(row)
        layout.addWidget(self.check_summary)
        layout.addWidget(self.check_findings)
        layout.addWidget(self.check_table)
        return box

    @staticmethod
    def _buddy(text: str, field: QWidget) -> QLabel:
        label = QLabel(text)
        label.setBuddy(field)
        return label

    def _wire(self) -> None:
        self.reference_radio.toggled.connect(self._source_changed)
        self.endpoint_edit.editingFinished.connect(self._endpoint_settled)
        self.key_edit.textEdited.connect(self._key_typed)
        self.key_edit.editingFinished.connect(lambda: self._follow(self._state.key_left(self.key_edit.text())))
        self.show_key_button.toggled.connect(self._show_key)
        self.tui_combo.currentIndexChanged.connect(self._show_tui)
        self.task_combo.currentIndexChanged.connect(self._show_task)
        self.task_folder_button.clicked.connect(self._choose_task_folder)
        self.check_button.clicked.connect(self.check_connection)
        for signal in (
            self.reference_radio.toggled,
            self.endpoint_edit.textChanged,
            self.model_combo.editTextChanged,
            self.key_edit.textChanged,
            self.save_key_check.toggled,
            self.tui_combo.currentIndexChanged,
            self.image_edit.textChanged,
            self.task_combo.currentIndexChanged,
            self.timeout_spin.valueChanged,
            self.engine_edit.textChanged,
        ):
            signal.connect(self.changed)

    # --- what the main window asks ----------------------------------------------------------------------------

    def request(self) -> CellRequest:
        """The cell as configured; BadInput with one sentence naming the field when something is missing."""
        endpoint, model = (None, None) if self.reference_radio.isChecked() else self._endpoint_and_model()
        tui = self._tuis[self.tui_combo.currentData()]
        image = self.image_edit.text().strip() or None
        if not tui.buildable and not image:
            raise BadInput(
                f"Image: {tui.name} has no image cab-check can build; give the image you built ({tui.user_image})."
            )
        try:
            engine = check_engine(self.engine_edit.text())
        except BadInput as exc:
            raise BadInput(f"Engine: {exc}") from None
        return CellRequest(
            tui=tui.name,
            task=self.task_combo.currentData(),
            endpoint=endpoint,
            model=model,
            timeout_s=self._timeout(),
            image=image,
            engine=engine,
        )

    def api_key(self) -> str | None:
        """The key to send: None for the reference model or an empty field. BadInput when it cannot be sent."""
        if self.reference_radio.isChecked():
            return None
        self._endpoint_settled()  # an endpoint edited but not yet left must not get the keyring's key of the last
        return typed_key(self.key_edit.text())

    def commit_key(self) -> str | None:
        """Saves the typed key to the OS keyring when asked to (a user endpoint, a key, the box ticked).

        Returns a sentence when it could not be saved (the key still works for this run), else None."""
        key = self.api_key()
        if not key or not self.save_key_check.isChecked():
            return None
        endpoint = self._endpoint_url()
        if self._state.in_keyring(endpoint, key):
            return None  # already there
        sentence: str | None = None
        try:
            keys.save_key(endpoint, key)
        except Exception as exc:  # noqa: BLE001 - any backend failure (KeyringUnavailable too); the key still works
            sentence = self._state.key_not_saved(exc)
        else:
            self._state.key_saved(endpoint, key)
        self._show_status()
        return sentence

    def settings(self) -> GuiSettings:
        """Every field but the key, as apply_settings() takes them back."""
        return GuiSettings(
            use_reference_model=self.reference_radio.isChecked(),
            endpoint=self.endpoint_edit.text(),
            model=self.model_combo.currentText(),
            tui=self.tui_combo.currentData(),
            task=self.task_combo.currentData(),
            timeout_s=self._timeout(),
            engine=self.engine_edit.text().strip(),
            save_key=self.save_key_check.isChecked(),
            dark=self._dark,
        )

    def apply_settings(self, settings: GuiSettings) -> None:
        """Fills the form; a TUI or task that no longer exists leaves the current choice. For a user endpoint the
        saved key and the model list are looked up in the background."""
        self._dark = settings.dark
        self.endpoint_edit.setText(settings.endpoint)
        self.model_combo.setEditText(settings.model)
        self.save_key_check.setChecked(settings.save_key)
        index = self.tui_combo.findData(settings.tui)
        if index >= 0:
            self.tui_combo.setCurrentIndex(index)
        if self.task_combo.findData(settings.task) < 0 and Path(settings.task).expanduser().is_dir():
            self.add_task_folder(settings.task)
        index = self.task_combo.findData(settings.task)
        if index >= 0:
            self.task_combo.setCurrentIndex(index)
        self.timeout_spin.setValue(settings.timeout_s or self.timeout_spin.minimum())
        self.engine_edit.setText(settings.engine)
        if self.reference_radio.isChecked() == settings.use_reference_model:
            self._source_changed()  # no toggle will call it
        (self.reference_radio if settings.use_reference_model else self.endpoint_radio).setChecked(True)

    def set_running(self, running: bool) -> None:
        """While a run goes, nothing that would change it can be edited (the check results stay readable)."""
        self._running = running
        self.source_box.setEnabled(not running)
        self.cell_box.setEnabled(not running)
        self._sync_check_button()

    def add_task_folder(self, path: str) -> bool:
        """Offers the user's task folder in the task picker and selects it; False (and the reason shown under the
        picker) when it is not a valid task."""
        try:
            task = catalog.get_task(path)
        except CabError as exc:
            self.task_info.setText(f"That folder was not added: {exc}")
            return False
        shipped = self._tasks.get(task.slug)
        key = task.slug if shipped is not None and shipped.root == task.root else str(task.root)
        if self.task_combo.findData(key) < 0:
            self._tasks[key] = task
            self.task_combo.addItem(f"{task.slug} — {task.root}", key)
        index = self.task_combo.findData(key)
        if index == self.task_combo.currentIndex():
            self._show_task()
        self.task_combo.setCurrentIndex(index)
        return True

    # --- the model source -------------------------------------------------------------------------------------

    def _source_changed(self) -> None:
        own = self.endpoint_radio.isChecked()
        self._state.source_changed(own)
        self.endpoint_fields.setEnabled(own)
        if own and self.endpoint_edit.text().strip():
            self._endpoint_settled()

    def _endpoint_url(self) -> str:
        """The endpoint field as a normalised base URL; BadInput naming the field when it is not one."""
        from cab_check import run  # docker and uvicorn load with it: not on the path to a first window

        text = self.endpoint_edit.text().strip()
        if not text:
            raise BadInput(
                f"Endpoint URL: give your server's base URL, e.g. {ENDPOINT_PLACEHOLDER}, or choose the "
                "built-in reference model."
            )
        try:
            return run.validate_endpoint(text)
        except BadInput as exc:
            raise BadInput(f"Endpoint URL: {exc}") from None

    def _endpoint_and_model(self) -> tuple[str, str]:
        from cab_check import run

        endpoint = self._endpoint_url()
        model = self.model_combo.currentText().strip()
        if not model:
            raise BadInput("Model: type the id your server serves, or pick one it lists.")
        return run.validate_model_endpoint(endpoint, model), model

    def _endpoint_settled(self) -> None:
        """The endpoint field was left (or set, or is about to be used): the state decides what to look up."""
        endpoint: str | None = None
        problem = ""
        try:
            endpoint = self._endpoint_url()
        except BadInput as exc:
            problem = str(exc) if self.endpoint_edit.text().strip() else ""  # an empty field is no problem yet
        self._follow(self._state.endpoint_settled(endpoint, self.key_edit.text(), problem))

    def _key_typed(self) -> None:
        self._state.key_typed()
        self._show_status()

    def _show_key(self, shown: bool) -> None:
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password)
        self.show_key_button.setText("Hi&de" if shown else "Sho&w")

    # --- what the endpoint state asks for -------------------------------------------------------------------

    def _follow(self, step: Step) -> None:
        """Does what the state asked after an event: the key field, the model picker, the status line, then the
        lookups, whose answers go back to the state with the lookup they answer (so it can tell a stale one)."""
        if step.clear_key:
            self.key_edit.clear()
        if step.fill_key is not None:
            self.key_edit.setText(step.fill_key)
        if step.models is not None:
            self._fill_models(list(step.models))
        self._show_status()
        if step.key_lookup is not None:
            self._look_up_key(step.key_lookup)
        if step.model_listing is not None:
            self._list_models(step.model_listing)

    def _look_up_key(self, lookup: KeyLookup) -> None:
        run_in_background(
            _saved_key,
            lookup.endpoint,
            on_done=lambda key: self._follow(self._state.key_found(lookup, key, self.key_edit.text())),
            on_error=lambda exc: self._follow(self._state.key_unavailable(lookup, exc, self.key_edit.text())),
            parent=self,
        )

    def _list_models(self, listing: ModelListing) -> None:
        run_in_background(
            handshake.list_models,
            listing.endpoint,
            listing.key,
            on_done=lambda ids: self._follow(self._state.models_listed(listing, ids)),
            parent=self,
        )

    def _fill_models(self, ids: list[str]) -> None:
        before = typed = self.model_combo.currentText()
        self.model_combo.blockSignals(True)  # refilling the list is not an edit: the typed id stays
        self.model_combo.clear()
        self.model_combo.addItems(ids)
        if not typed and len(ids) == 1:
            typed = ids[0]  # the one model there is
        self.model_combo.setCurrentIndex(
            self.model_combo.findText(typed, Qt.MatchFlag.MatchFixedString | Qt.MatchFlag.MatchCaseSensitive)
        )
        self.model_combo.setEditText(typed)
        self.model_combo.blockSignals(False)
        if self.model_combo.currentText() != before:
            self.changed.emit()

    def _show_status(self) -> None:
        text = self._state.status
        self.status_label.setText(text)
        self._endpoint_form.setRowVisible(self.status_label, bool(text))

    # --- TUI and task ---------------------------------------------------------------------------------------

    def _show_tui(self) -> None:
        tui = self._tuis[self.tui_combo.currentData()]
        needs = ", ".join(["chat", *tui.needs.features])
        wire = WIRE_NAMES[tui.needs.wire]
        lines = [tui.description, f"{tui.package} {tui.version} · needs {needs} · speaks {wire}"]
        if not tui.buildable:
            lines.append(f"Needs an image you provide: {tui.user_image}.")
            self.image_edit.setPlaceholderText("required: the name of the image you built")
        else:
            self.image_edit.setPlaceholderText("optional: run from this image instead of building cab-check's")
        self.tui_info.setText("\n".join(lines))

    def _current_task(self) -> TaskSpec:
        return self._tasks[self.task_combo.currentData()]

    def _show_task(self) -> None:
        task = self._current_task()
        count = len(task.constraints)
        facts = (
            f"{task.language} · toolchain {task.toolchain} · timeout {task.timeout_s} s · {count} "
            f"constraint{'s' if count != 1 else ''}"
        )
        self.task_info.setText(f"{facts}\n{_first_lines(task.prompt)}")
        self.timeout_spin.setSpecialValueText(f"Task default ({task.timeout_s} s)")

    def _choose_task_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a task folder", str(Path.home()))
        if folder:
            self.add_task_folder(folder)

    def _timeout(self) -> int | None:
        value = self.timeout_spin.value()
        return None if value == self.timeout_spin.minimum() else value

    # --- check connection -----------------------------------------------------------------------------------

    def check_connection(self) -> None:
        """Starts the check in the background; the table fills when it is done."""
        if self._check_task is not None:
            return
        key: str | None = None
        work: Callable[[], ConnectionReport]  # the whole call, bound here: it runs on a pool thread
        try:
            if self.reference_radio.isChecked():
                work = partial(check_reference_model, self._current_task())
            else:
                endpoint, model = self._endpoint_and_model()
                key = self.api_key()
                work = partial(check_endpoint, endpoint, key, model)
        except CabError as exc:
            self._show_check([], [], str(exc))
            return
        self._show_check([], [], f"Checking… (a few small requests, each at most {handshake.REQUEST_TIMEOUT_S:g} s)")
        self._check_task = run_in_background(
            work, on_done=self._checked, on_error=lambda exc: self._check_failed(exc, key), parent=self
        )
        self._sync_check_button()

    @property
    def checking(self) -> bool:
        return self._check_task is not None

    def _checked(self, report: ConnectionReport) -> None:
        self._check_task = None
        self._sync_check_button()
        self._show_check(report.findings, report.grid, report.summary)

    def _check_failed(self, exc: Exception, key: str | None) -> None:
        self._check_task = None
        self._sync_check_button()
        self._show_check([], [], error_sentence(exc, key))

    def _sync_check_button(self) -> None:
        self.check_button.setEnabled(not self._running and self._check_task is None)

    def _show_check(self, findings: list[doctor.Finding], grid: list[doctor.Compatibility], summary: str) -> None:
        self.check_summary.setText(summary)
        self.check_findings.setText(
            "\n".join(f"{f.area}: {'ok' if f.status == 'ok' else 'fails'} — {f.detail}" for f in findings)
        )
        self.check_findings.setVisible(bool(findings))
        table = self.check_table
        table.setRowCount(len(grid))
        for row, verdict in enumerate(grid):
            works = QTableWidgetItem("ok" if verdict.ok else "not ok")
            works.setForeground(goodness_color(1.0 if verdict.ok else 0.0, self.palette()))
            detail = QTableWidgetItem(verdict.detail)
            detail.setToolTip(verdict.detail)
            for column, item in enumerate((QTableWidgetItem(verdict.tui), works, detail)):
                table.setItem(row, column, item)
        table.setVisible(bool(grid))
        self._fit_table()

    def _fit_table(self) -> None:
        """The table shows every row: it sits in the page's scroll area, and a scroll inside a scroll is a trap."""
        table = self.check_table
        table.resizeRowsToContents()
        rows = sum(table.rowHeight(r) for r in range(table.rowCount()))
        table.setFixedHeight(rows + table.horizontalHeader().sizeHint().height() + 2 * table.frameWidth())

    def row_texts(self) -> list[tuple[str, str, str]]:
        """The check table as text, row by row: (TUI, ok / not ok, detail)."""
        rows = []
        for row in range(self.check_table.rowCount()):
            tui, works, detail = (self._cell_text(row, column) for column in range(3))
            rows.append((tui, works, detail))
        return rows

    def _cell_text(self, row: int, column: int) -> str:
        item = self.check_table.item(row, column)  # None for a cell never set: _show_check sets every one
        return "" if item is None else item.text()
