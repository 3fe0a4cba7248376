"""The Configure form driven as a person would: pick the model source, type an endpoint, pick a TUI and a task,
check the connection. Every endpoint is a loopback server the test starts itself; the keyring is in memory."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import keyring
import pytest
from fake_openai import Behaviour, FakeOpenAI
from keyring.backends import fail
from keyring.errors import KeyringLocked
from memory_keyring import MemoryKeyring
from PySide6.QtCore import QObject, QPoint, Qt
from PySide6.QtWidgets import QFileDialog, QLabel, QLineEdit, QWidget

from cab_check import catalog, handshake, keys
from cab_check.errors import BadInput, HandshakeFailed, HandshakeRejected, Remedy
from cab_check.gui.app_settings import GuiSettings, load_settings, save_settings, settings_path
from cab_check.gui.background import APP_WORDS, error_sentence, run_in_background, wait_for_background
from cab_check.gui.config_form import KEY_LOADED, NO_KEYRING, NO_MODELS, ConfigForm
from cab_check.models import CellRequest

KEY = "sk-gui-canary-3f9a1c"
MODELS = ["qwen2.5-coder-7b", "llama-3.1-8b", "mistral-small"]
CHECK_MS = 60_000


# --- a loopback OpenAI-compatible server -------------------------------------------------------------------------


@contextmanager
def serving(*, served: list[str], key: str | None = None, tools: bool = True) -> Iterator[str]:
    """tests/fake_openai.py's server on loopback, listing `served`; yields its base URL, ending in /v1. With
    `tools=False` it refuses any request that offers tools, as a vLLM started without --enable-auto-tool-choice does.
    With `key`, anything else gets a 401."""
    behaviour = Behaviour(served=tuple(served), key=key, tools="call" if tools else "400")
    with FakeOpenAI(behaviour).serving() as base:
        yield base


@pytest.fixture
def endpoint() -> Iterator[str]:
    with serving(served=MODELS) as base:
        yield base


@pytest.fixture(autouse=True)
def in_memory_keyring(memory_keyring):
    """No test reads or writes the real OS keyring."""
    yield memory_keyring
    wait_for_background()  # nothing still asks a server or the keyring once the test has ended


@pytest.fixture
def form(qtbot) -> ConfigForm:
    form = ConfigForm()
    qtbot.addWidget(form)
    form.resize(900, 1000)
    form.show()
    return form


# --- how a person fills it in ------------------------------------------------------------------------------------


def pick(combo, data: str) -> None:
    index = combo.findData(data)
    assert index >= 0, f"{data} is not offered"
    combo.setCurrentIndex(index)


def type_into(qtbot, edit: QLineEdit, text: str) -> None:
    """Types the text and presses Enter, which ends the editing as leaving the field does."""
    edit.clear()
    qtbot.keyClicks(edit, text)
    qtbot.keyClick(edit, Qt.Key.Key_Return)


def click_radio(qtbot, radio) -> None:
    """Clicks on the radio's own circle (the widget stretches across the box, its middle is empty)."""
    qtbot.mouseClick(radio, Qt.MouseButton.LeftButton, pos=QPoint(radio.height() // 2, radio.height() // 2))


def use_endpoint(qtbot, form: ConfigForm, url: str, model: str = "") -> None:
    click_radio(qtbot, form.endpoint_radio)
    assert form.endpoint_radio.isChecked()
    type_into(qtbot, form.endpoint_edit, url)
    if model:
        form.model_combo.setEditText(model)


def wait_for_models(qtbot, form: ConfigForm) -> None:
    qtbot.waitUntil(lambda: "from the endpoint" in form.status_label.text() or NO_MODELS in form.status_label.text())


def table_rows(form: ConfigForm) -> dict[str, tuple[str, str]]:
    return {tui: (works, detail) for tui, works, detail in form.row_texts()}


# --- the request -------------------------------------------------------------------------------------------------


def test_the_reference_model_comes_first_and_its_endpoint_fields_wait(form):
    assert form.reference_radio.isChecked()
    assert "shows the harness works, not how a model performs" in form.reference_note.text()
    assert not form.endpoint_edit.isEnabled() and not form.key_edit.isEnabled()
    request = form.request()
    assert request == CellRequest(tui="aider", task="polyglot/rust-error-handling")
    assert form.api_key() is None


def test_an_endpoint_cell_reads_back_as_a_request(qtbot, form, endpoint):
    use_endpoint(qtbot, form, endpoint + "/", model="qwen2.5-coder-7b")
    assert form.endpoint_edit.isEnabled() and form.model_combo.isEnabled()
    pick(form.tui_combo, "opencode")
    pick(form.task_combo, "polyglot/go-http-handler-fix")
    form.timeout_spin.setValue(900)

    assert form.request() == CellRequest(
        tui="opencode", task="polyglot/go-http-handler-fix", endpoint=endpoint, model="qwen2.5-coder-7b", timeout_s=900
    )
    form.timeout_spin.setValue(form.timeout_spin.minimum())
    assert form.timeout_spin.text() == "Task default (600 s)"
    assert form.request().timeout_s is None


def test_the_engine_field_names_the_engine_a_run_uses(form):
    assert form.request().engine is None  # empty: the one the docker command would use
    form.engine_edit.setText("  unix:///run/podman/podman.sock ")
    assert form.request().engine == "unix:///run/podman/podman.sock"
    form.engine_edit.setText("desktop-linux")
    assert form.request().engine == "desktop-linux"
    form.engine_edit.setText("foo://x")
    with pytest.raises(BadInput, match=r"^Engine: 'foo://x' is not a container engine address"):
        form.request()


@pytest.mark.parametrize(
    ("url", "model", "field"),
    [
        ("", "m", "Endpoint URL"),
        ("localhost:8000/v1", "m", "Endpoint URL"),
        ("ftp://127.0.0.1/v1", "m", "Endpoint URL"),
        ("http://127.0.0.1:9/v1", "", "Model"),
    ],
    ids=["no-url", "no-scheme", "not-http", "no-model"],
)
def test_a_bad_field_is_named_in_one_sentence(form, url, model, field):
    form.endpoint_radio.setChecked(True)
    form.endpoint_edit.setText(url)  # typed but not left: nothing is asked of any server
    form.model_combo.setEditText(model)
    with pytest.raises(BadInput) as raised:
        form.request()
    sentence = str(raised.value)
    assert sentence.startswith(f"{field}:") and sentence.endswith(".") and "\n" not in sentence


def test_a_tui_without_a_buildable_image_requires_one(form):
    pick(form.tui_combo, "crush")
    assert "Needs an image you provide" in form.tui_info.text()
    assert "required" in form.image_edit.placeholderText()
    with pytest.raises(BadInput, match=r"^Image: crush"):
        form.request()
    form.image_edit.setText("my-crush:1")
    assert form.request().image == "my-crush:1"

    pick(form.tui_combo, "aider")
    form.image_edit.clear()
    assert form.request().image is None, "a buildable TUI needs none"


def test_the_pickers_describe_what_was_picked(form):
    pick(form.tui_combo, "codex")
    codex = catalog.get_tui("codex")
    info = form.tui_info.text()
    assert codex.description in info and codex.version in info
    assert "needs chat, tool calls, streaming" in info and "Responses API" in info

    pick(form.task_combo, "polyglot/python-reverse-string")
    task = catalog.get_task("polyglot/python-reverse-string")
    info = form.task_info.text()
    assert "python · toolchain python · timeout 600 s · 3 constraints" in info
    assert task.prompt.splitlines()[0].strip() in info


# --- the key and the keyring -------------------------------------------------------------------------------------


def test_a_saved_key_fills_the_key_field_masked(qtbot, form, endpoint):
    keys.save_key(endpoint, KEY)
    use_endpoint(qtbot, form, endpoint, model="mistral-small")
    qtbot.waitUntil(lambda: form.key_edit.text() == KEY)
    assert form.key_edit.echoMode() == QLineEdit.EchoMode.Password
    assert KEY_LOADED in form.status_label.text()
    assert form.api_key() == KEY

    qtbot.mouseClick(form.show_key_button, Qt.MouseButton.LeftButton)
    assert form.key_edit.echoMode() == QLineEdit.EchoMode.Normal
    qtbot.mouseClick(form.show_key_button, Qt.MouseButton.LeftButton)
    assert form.key_edit.echoMode() == QLineEdit.EchoMode.Password


def test_one_endpoints_saved_key_is_never_offered_to_another(qtbot, form, endpoint):
    keys.save_key(endpoint, KEY)
    use_endpoint(qtbot, form, endpoint)
    qtbot.waitUntil(lambda: form.key_edit.text() == KEY)
    with serving(served=MODELS) as other:
        type_into(qtbot, form.endpoint_edit, other)
        assert form.key_edit.text() == ""
        assert form.api_key() is None
        wait_for_models(qtbot, form)
    assert KEY_LOADED not in form.status_label.text()


def test_an_endpoint_edited_but_not_left_does_not_get_the_last_ones_key(qtbot, form, endpoint):
    keys.save_key(endpoint, KEY)
    use_endpoint(qtbot, form, endpoint, model="m")
    qtbot.waitUntil(lambda: form.key_edit.text() == KEY)
    with serving(served=MODELS) as other:
        form.endpoint_edit.setText(other)  # then Run, straight from the field
        assert form.api_key() is None
        assert form.key_edit.text() == ""
        wait_for_models(qtbot, form)


def test_commit_key_saves_a_typed_key_and_settings_never_hold_it(qtbot, form, endpoint, memory_keyring):
    use_endpoint(qtbot, form, endpoint, model="llama-3.1-8b")
    type_into(qtbot, form.key_edit, KEY)
    assert form.save_key_check.isChecked(), "saving is the default"
    assert form.commit_key() is None
    assert keys.load_key(endpoint) == KEY
    assert keys.saved_endpoints() == [endpoint]

    save_settings(form.settings())
    assert KEY not in settings_path().read_text(encoding="utf-8")
    assert [name for name in GuiSettings.model_fields if "key" in name] == ["save_key"]
    assert load_settings().endpoint == endpoint


def test_an_unticked_box_keeps_the_key_out_of_the_keyring(qtbot, form, endpoint, memory_keyring):
    use_endpoint(qtbot, form, endpoint, model="llama-3.1-8b")
    type_into(qtbot, form.key_edit, KEY)
    form.save_key_check.setChecked(False)
    assert form.commit_key() is None
    assert KEY not in memory_keyring.entries.values()
    assert form.api_key() == KEY, "the key is still used for the run"


def test_an_unusable_keyring_is_one_sentence_not_a_crash(qtbot, form, endpoint):
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        use_endpoint(qtbot, form, endpoint, model="llama-3.1-8b")
        qtbot.waitUntil(lambda: NO_KEYRING in form.status_label.text())
        type_into(qtbot, form.key_edit, KEY)
        said = form.commit_key()
        assert said == NO_KEYRING
        assert form.api_key() == KEY
    finally:
        keyring.set_keyring(previous)


class LockedKeyring(MemoryKeyring):
    """A keyring that is there but locked, as the Secret Service is before the desktop's login unlocks it (a
    MemoryKeyring, so that keyring never picks it on its own)."""

    def get_password(self, service, username):
        raise KeyringLocked("locked")

    def set_password(self, service, username, password):
        raise KeyringLocked("locked")

    def delete_password(self, service, username):
        raise KeyringLocked("locked")


def test_a_locked_keyring_is_worded_in_the_forms_terms(qtbot, form, endpoint):
    previous = keyring.get_keyring()
    keyring.set_keyring(LockedKeyring())
    try:
        use_endpoint(qtbot, form, endpoint, model="llama-3.1-8b")
        qtbot.waitUntil(lambda: "The OS keyring is locked" in form.status_label.text())
        said = form.status_label.text()
        assert "give the key in the API key field instead. The key typed here is used for this run only." in said
        assert "--" not in said
    finally:
        keyring.set_keyring(previous)


def test_engine_errors_are_worded_with_the_forms_fields_not_the_clis_flags():
    target = handshake.Target("http://127.0.0.1:8000/v1", "qwen", has_key=False)
    no_key = handshake.chat_error(target, httpx_answer(401), lambda: None)
    assert error_sentence(no_key).endswith("none was given; give it in the API key field.")
    wrong_key = handshake.chat_error(handshake.Target(target.base, "qwen"), httpx_answer(401), lambda: None)
    assert error_sentence(wrong_key).endswith(
        'check the key (or save the right one in the API key field, with "Save key to the OS keyring" ticked).'
    )
    unknown = handshake.unknown_model_error(handshake.Target(target.base, "qwen", listed=("qwen2",)), "it said 404")
    assert error_sentence(unknown).endswith("give the exact id in the Model field.")
    slow = HandshakeFailed(f"too slow: try again, or {Remedy.SKIP_HANDSHAKE.slot}.", "timeout", Remedy.SKIP_HANDSHAKE)
    assert error_sentence(slow) == "too slow: try again, or check the endpoint, then run again."
    for error in (no_key, wrong_key, unknown, slow, HandshakeRejected(f"x {Remedy.ENGINE.slot}.", "", Remedy.ENGINE)):
        assert "--" not in error_sentence(error) and "cab " not in error_sentence(error)
    assert set(APP_WORDS) == set(Remedy)


def httpx_answer(status: int):
    import httpx

    return httpx.Response(status, json={"error": {"message": "no"}}, request=httpx.Request("POST", "http://x/"))


def test_a_key_no_http_header_can_carry_is_refused_by_name(qtbot, form, endpoint):
    use_endpoint(qtbot, form, endpoint, model="m")
    form.key_edit.setText("sk-ключ")
    with pytest.raises(BadInput, match=r"^API key:"):
        form.api_key()


# --- the model list ------------------------------------------------------------------------------------------------


def test_the_model_combo_fills_from_the_endpoint_and_keeps_the_typed_id(qtbot, form, endpoint):
    form.endpoint_radio.setChecked(True)
    form.model_combo.setEditText("my-own-id")
    type_into(qtbot, form.endpoint_edit, endpoint)
    qtbot.waitUntil(lambda: "3 models from the endpoint" in form.status_label.text())
    offered = [form.model_combo.itemText(i) for i in range(form.model_combo.count())]
    assert offered == sorted(MODELS)
    assert form.model_combo.currentText() == "my-own-id", "free text is always allowed"


def test_the_model_list_is_asked_again_with_the_key(qtbot, form):
    with serving(served=MODELS, key=KEY) as guarded:
        use_endpoint(qtbot, form, guarded)
        qtbot.waitUntil(lambda: NO_MODELS in form.status_label.text())
        assert form.model_combo.count() == 0
        type_into(qtbot, form.key_edit, KEY)
        qtbot.waitUntil(lambda: "3 models from the endpoint" in form.status_label.text())
        assert form.model_combo.count() == 3


def test_a_lone_model_is_picked_for_an_empty_field(qtbot, form):
    with serving(served=["only-one"]) as base:
        use_endpoint(qtbot, form, base)
        qtbot.waitUntil(lambda: "1 model from the endpoint" in form.status_label.text())
    assert form.model_combo.currentText() == "only-one"


# --- check connection ----------------------------------------------------------------------------------------------


def test_check_connection_proves_the_reference_model_serves_every_tui(qtbot, form):
    qtbot.mouseClick(form.check_button, Qt.MouseButton.LeftButton)
    assert not form.check_button.isEnabled(), "one check at a time"
    qtbot.waitUntil(lambda: not form.checking, timeout=CHECK_MS)

    assert form.check_button.isEnabled()
    rows = table_rows(form)
    assert set(rows) == set(catalog.shipped_tuis())
    assert all(works == "ok" for works, _ in rows.values()), rows
    assert rows["crush"][1] == "compatible (with an image you provide)"
    findings = form.check_findings.text()
    assert "chat: ok" in findings and "streaming: ok" in findings and "tool calls: ok" in findings
    assert form.check_summary.text().startswith(f"All {len(rows)} TUIs can use the reference model")


def test_check_connection_marks_tool_call_tuis_against_a_server_without_tools(qtbot, form):
    with serving(served=MODELS, tools=False) as base:
        use_endpoint(qtbot, form, base, model="qwen2.5-coder-7b")
        qtbot.mouseClick(form.check_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not form.checking, timeout=CHECK_MS)

    rows = table_rows(form)
    for name, tui in catalog.shipped_tuis().items():
        works, detail = rows[name]
        if tui.needs.tool_calls:
            assert (works, detail) == ("not ok", "needs tool calls"), name
        else:
            assert works == "ok", name
            assert detail == ("compatible" if tui.buildable else "compatible (with an image you provide)")
    findings = form.check_findings.text()
    assert "tool calls: fails" in findings and "enable-auto-tool-choice" in findings
    assert "streaming: ok" in findings


def test_check_connection_errors_are_one_sentence(qtbot, form):
    form.endpoint_radio.setChecked(True)
    form.endpoint_edit.setText("not a url")
    qtbot.mouseClick(form.check_button, Qt.MouseButton.LeftButton)
    assert form.check_summary.text().startswith("Endpoint URL:")
    assert form.check_table.rowCount() == 0 and form.check_button.isEnabled()


def test_an_unreachable_endpoint_fails_every_tui_with_the_cause(qtbot, form):
    with serving(served=MODELS) as gone:
        pass  # the server is stopped: its port refuses connections
    form.endpoint_radio.setChecked(True)
    form.endpoint_edit.setText(gone)
    form.model_combo.setEditText("m")
    qtbot.mouseClick(form.check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not form.checking, timeout=CHECK_MS)
    assert all(works == "not ok" for works, _ in table_rows(form).values())
    assert "connection refused" in form.check_findings.text()


# --- settings ------------------------------------------------------------------------------------------------------


def test_settings_round_trip_exactly(qtbot, form, endpoint, tmp_path):
    folder = tmp_path / "my-task"
    shutil.copytree(catalog.get_task("polyglot/rust-lifetime-fix").root, folder)
    saved = GuiSettings(
        use_reference_model=False,
        endpoint=endpoint,
        model="mistral-small",
        tui="crush",
        task=str(folder.resolve()),
        timeout_s=1200,
        engine="ssh://me@big-box",
        save_key=False,
        dark=True,
    )
    form.apply_settings(saved)
    assert form.settings() == saved
    assert form.task_combo.currentData() == str(folder.resolve())
    wait_for_models(qtbot, form)
    assert form.settings() == saved, "the model list arriving changes nothing"

    again = ConfigForm()
    qtbot.addWidget(again)
    again.apply_settings(GuiSettings())
    assert again.settings() == GuiSettings()


def test_a_task_folder_is_added_or_its_problem_shown(form, tmp_path, monkeypatch):
    folder = tmp_path / "mine"
    shutil.copytree(catalog.get_task("polyglot/python-reverse-string").root, folder)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *args, **kwargs: str(folder)))
    form.task_folder_button.click()
    assert form.task_combo.currentData() == str(folder.resolve())
    assert form.request().task == str(folder.resolve())
    assert "python · toolchain python" in form.task_info.text()

    empty = tmp_path / "empty"
    empty.mkdir()
    count = form.task_combo.count()
    assert not form.add_task_folder(str(empty))
    assert form.task_combo.count() == count
    assert "That folder was not added" in form.task_info.text() and "task.toml" in form.task_info.text()


def test_broken_or_missing_settings_give_the_defaults():
    assert load_settings() == GuiSettings()
    settings_path().parent.mkdir(parents=True, exist_ok=True)
    for data in (b"{not json", b'{"timeout_s": -5}', b'{"tui": 7}', b"\xff\xfe\x00garbage", b""):
        settings_path().write_bytes(data)
        assert load_settings() == GuiSettings()
    settings_path().write_text(json.dumps({"tui": "codex", "api_key": KEY}), encoding="utf-8")
    loaded = load_settings()
    assert loaded.tui == "codex" and KEY not in loaded.model_dump_json()


# --- while a run goes, and the keyboard --------------------------------------------------------------------------


def test_nothing_can_be_edited_while_a_run_goes(form):
    form.set_running(True)
    for widget in (
        form.reference_radio,
        form.endpoint_radio,
        form.tui_combo,
        form.task_combo,
        form.timeout_spin,
        form.image_edit,
        form.check_button,
    ):
        assert not widget.isEnabled(), widget.accessibleName()
    form.set_running(False)
    assert form.tui_combo.isEnabled() and form.check_button.isEnabled()
    assert not form.endpoint_edit.isEnabled(), "still the reference model's"


def test_every_control_is_named_reachable_and_in_visual_order(form):
    form.endpoint_radio.setChecked(True)
    controls = [
        form.reference_radio,
        form.endpoint_radio,
        form.endpoint_edit,
        form.model_combo,
        form.key_edit,
        form.show_key_button,
        form.save_key_check,
        form.tui_combo,
        form.image_edit,
        form.task_combo,
        form.task_folder_button,
        form.timeout_spin,
        form.check_button,
    ]
    for control in controls:
        assert control.accessibleName() or control.text(), control
        assert control.focusPolicy() & Qt.FocusPolicy.TabFocus, control.accessibleName()

    chain: list[QWidget] = []
    widget = form.reference_radio
    while len(chain) < 200:
        if widget in controls and widget not in chain:
            chain.append(widget)
        widget = widget.nextInFocusChain()
        if widget is form.reference_radio:
            break
    assert chain == controls

    buddies = {label.buddy() for label in form.findChildren(QLabel) if label.buddy() is not None}
    assert {
        form.endpoint_edit,
        form.model_combo,
        form.key_edit,
        form.tui_combo,
        form.image_edit,
        form.task_combo,
        form.timeout_spin,
    } <= buddies
    mnemonics = [label.text() for label in form.findChildren(QLabel) if label.buddy() is not None]
    assert all("&" in text for text in mnemonics), mnemonics


# --- the background helper the form (and the window) use ----------------------------------------------------------


def test_background_results_and_errors_arrive_on_the_ui_thread(qtbot):
    seen: list[tuple[str, object, bool]] = []

    def note(kind: str):
        return lambda value: seen.append((kind, value, threading.current_thread() is threading.main_thread()))

    def worker_thread_name() -> str:
        return threading.current_thread().name

    ran = run_in_background(worker_thread_name, on_done=note("done"), on_error=note("error"))
    failed = run_in_background(int, "not a number", on_done=note("done"), on_error=note("error"))
    qtbot.waitUntil(lambda: ran.done and failed.done)

    [(_, name, on_ui)] = [s for s in seen if s[0] == "done"]
    assert on_ui and name != threading.main_thread().name, "the function ran elsewhere, the answer came home"
    [(_, error, on_ui)] = [s for s in seen if s[0] == "error"]
    assert on_ui and isinstance(error, ValueError)


def test_nothing_is_delivered_once_the_asker_is_gone(qtbot):
    release = threading.Event()
    seen: list[object] = []
    asker = QObject()
    task = run_in_background(release.wait, 10, on_done=seen.append, on_error=seen.append, parent=asker)
    with qtbot.waitSignal(asker.destroyed):
        asker.deleteLater()
    release.set()
    assert wait_for_background()
    qtbot.waitUntil(lambda: task.done)
    assert seen == []
