"""The OS keyring for real: Debian's gnome-keyring serving the Secret Service on a private D-Bus session bus.

Every command runs as a user runs it (`python -m cab_check …` in a subprocess, whose keyring library picks its
backend by itself), and what it stored is read back from the Secret Service through secretstorage, not through
cab-check. A locked keyring, a password prompt nobody answers, a Secret Service that never answers and no keyring
at all each end in one sentence with the way out (--key-env VAR or --key-stdin), promptly.

These need dbus-daemon and gnome-keyring-daemon, not Docker (except the one that runs a whole cell): without them
they skip, and with CI=true they fail, saying why.
"""

from __future__ import annotations

import json
import secrets as tokens
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import keyring
import pytest
import secret_service
from fake_openai import Behaviour, FakeOpenAI
from required import unavailable
from secret_service import NotStarted, Session

SERVICE = "cab-check"  # the keyring service name cab-check's entries carry, as a user of secret-tool would look
INDEX = "(endpoints with a saved key)"
MODEL = "keyring-test-model"
SECRET_SERVICE_BACKEND = "keyring.backends.SecretService.Keyring"
WAY_OUT = "--key-env VAR or --key-stdin"
CLI_TIMEOUT_S = 60  # far above what any of these commands takes; a hang fails the test instead of stalling it
PROMPTLY_S = 20.0  # a refused keyring answers well within this, CLI start included (a hang would be forever)


@pytest.fixture
def _needs_docker():
    """Overrides tests/integration/conftest.py's: these need D-Bus and gnome-keyring, not Docker (the one test that
    runs a whole cell asks for docker_client itself)."""


def canary() -> str:
    return "sk-keyring-canary-" + tokens.token_hex(10)


# --- sessions: a real Secret Service, a locked one, a silent one, none ---------------------------------------------


def started(tmp_path_factory, name: str, build: Callable[[Session], None]) -> Session:
    session = secret_service.new_session(tmp_path_factory.mktemp(name))
    try:
        build(session)
    except (NotStarted, OSError) as exc:
        session.stop()
        unavailable(f"a real Secret Service could not be started: {exc}")
    except Exception as exc:  # noqa: BLE001 - D-Bus errors while setting it up: still "could not be started", with the reason
        session.stop()
        unavailable(f"a real Secret Service could not be started: {type(exc).__name__}: {exc}")
    return session


def backend_a_user_gets(session: Session) -> str:
    """The backend the keyring library picks by itself in a fresh process with the session's environment."""
    probe = (
        "import keyring; backend = keyring.get_keyring(); "
        "print(type(backend).__module__ + '.' + type(backend).__name__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], env=session.process_env(), capture_output=True, text=True, timeout=CLI_TIMEOUT_S
    )
    return result.stdout.strip() or result.stderr.strip()[-300:]


@pytest.fixture(scope="module")
def unlocked_service(tmp_path_factory) -> Iterator[Session]:
    """gnome-keyring-daemon's Secret Service, its login keyring created and unlocked with a test password."""

    def build(session: Session) -> None:
        secret_service.start_bus(session)
        secret_service.start_keyring(session, unlock=True)

    session = started(tmp_path_factory, "keyring-unlocked", build)
    picked = backend_a_user_gets(session)
    if picked != SECRET_SERVICE_BACKEND:
        session.stop()
        unavailable(f"the keyring library picks {picked!r} with gnome-keyring on the bus, not {SECRET_SERVICE_BACKEND}")
    yield session
    session.stop()


LOCKED_KINDS = {
    # The login keyring locked after use, as a screen lock or "Lock" in Passwords and Keys does.
    "locked-over-dbus": "The OS keyring is locked",
    # A login keyring nobody unlocked in this session (ssh into a machine, no desktop login).
    "not-unlocked-at-login": "The OS keyring is locked",
    # gnome-keyring running with no login keyring yet: creating one would prompt for a password.
    "no-login-keyring": "The OS keyring has no default keyring yet",
}


@dataclass
class Locked:
    kind: str
    session: Session
    saved_for: str  # an endpoint whose key sits in the locked keyring ("" when there is no keyring to hold one)

    @property
    def sentence_start(self) -> str:
        return LOCKED_KINDS[self.kind]


SAVED_ENDPOINT = "https://api.example.test/v1"


@pytest.fixture(scope="module", params=sorted(LOCKED_KINDS))
def locked_service(request, tmp_path_factory) -> Iterator[Locked]:
    kind = request.param
    saved = "" if kind == "no-login-keyring" else SAVED_ENDPOINT

    def build(session: Session) -> None:
        secret_service.start_bus(session)
        if kind == "no-login-keyring":
            secret_service.start_keyring(session, unlock=False)
            return
        secret_service.start_keyring(session, unlock=True)
        session.store(SERVICE, saved, canary())
        session.store(SERVICE, INDEX, json.dumps([saved]))
        if kind == "locked-over-dbus":
            session.lock()
        else:
            session.stop_keyring()
            secret_service.start_keyring(session, unlock=False)
            if not session.default_collection_locked():
                raise NotStarted("the login keyring came up unlocked without a password")

    session = started(tmp_path_factory, f"keyring-{kind}", build)
    yield Locked(kind, session, saved)
    session.stop()


@pytest.fixture(scope="module")
def unanswered_prompt(tmp_path_factory) -> Iterator[Session]:
    """A locked login keyring, and a password prompter that takes gnome-keyring's request and never answers — a
    prompt window on a desktop nobody is watching. The keyring library on its own waits on it forever."""

    def build(session: Session) -> None:
        secret_service.start_bus(session)
        secret_service.start_keyring(session, unlock=True)
        session.store(SERVICE, SAVED_ENDPOINT, canary())
        secret_service.start_idle_service(session, "org.gnome.keyring.SystemPrompter", answer=True)
        session.lock()

    session = started(tmp_path_factory, "keyring-unanswered-prompt", build)
    yield session
    session.stop()


@pytest.fixture(scope="module")
def silent_service(tmp_path_factory) -> Iterator[Session]:
    """Something owns org.freedesktop.secrets on the bus and never answers a call."""

    def build(session: Session) -> None:
        secret_service.start_bus(session)
        secret_service.start_idle_service(session, secret_service.SECRET_SERVICE, answer=False)

    session = started(tmp_path_factory, "keyring-silent", build)
    yield session
    session.stop()


@pytest.fixture(scope="module", params=["no-session-bus", "bus-without-secret-service"])
def absent_service(request, tmp_path_factory) -> Iterator[Session]:
    """No Secret Service at all: no session bus, or a bus on which nothing offers (or can start) one."""

    def build(session: Session) -> None:
        if request.param == "bus-without-secret-service":
            secret_service.start_bus(session)

    session = started(tmp_path_factory, f"keyring-{request.param}", build)
    picked = backend_a_user_gets(session)
    if picked != "keyring.backends.fail.Keyring":
        session.stop()
        unavailable(f"with {request.param} the keyring library still picks {picked!r}")
    yield session
    session.stop()


@pytest.fixture
def use_session(monkeypatch) -> Callable[[Session], None]:
    """Points this test process at a session, for tests that drive cab-check in-process (the app): its environment,
    and the Secret Service backend — the one a fresh process picks there (the fixtures check that), set outright
    because keyring detects its backends once per process, and this one began without the session. Everything is
    put back afterwards."""
    from keyring.backends import SecretService

    previous = keyring.get_keyring()

    def use(session: Session) -> None:
        for name, value in session.env().items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        assert SecretService.Keyring.priority > 0  # raises when no Secret Service answers on this bus
        keyring.set_keyring(SecretService.Keyring())

    yield use
    keyring.set_keyring(previous)


@pytest.fixture
def real_keyring(unlocked_service) -> Iterator[Session]:
    """The unlocked Secret Service, with no cab-check entries in it before or after the test."""
    unlocked_service.clear(SERVICE)
    yield unlocked_service
    unlocked_service.clear(SERVICE)


# --- an OpenAI-compatible endpoint on loopback that remembers the Authorization headers it got --------------------


@pytest.fixture(scope="module")
def witness_server() -> Iterator[tuple[FakeOpenAI, str]]:
    """tests/fake_openai.py's server, serving MODEL; its `authorizations` are the headers it got."""
    witness = FakeOpenAI(Behaviour(served=(MODEL,)))
    with witness.serving() as url:
        yield witness, url


@pytest.fixture
def endpoint(witness_server) -> tuple[FakeOpenAI, str]:
    witness, url = witness_server
    witness.requests.clear()
    return witness, url


# --- running cab as a user does -------------------------------------------------------------------------------------


@dataclass
class Ran:
    code: int
    out: str
    err: str
    seconds: float


def cab(
    session: Session, *args: str, stdin: str = "", env: dict[str, str] | None = None, timeout: float = CLI_TIMEOUT_S
) -> Ran:
    return cab_together(session, {"": Command(args, stdin, env)}, timeout=timeout)[""]


@dataclass
class Command:
    args: tuple[str, ...]
    stdin: str = ""
    env: dict[str, str] | None = None


def cab_together(session: Session, commands: dict[str, Command], timeout: float = CLI_TIMEOUT_S) -> dict[str, Ran]:
    """Runs `python -m cab_check ARGS` once per command, all at the same time (each is mostly Python starting up);
    each one's `seconds` is how long it took at most (from the common start to its end)."""
    started_at = time.monotonic()
    running = {}
    for name, command in commands.items():
        with tempfile.TemporaryFile("w+") as stdin:  # a file, not a pipe: no terminal, and nothing to feed later
            stdin.write(command.stdin)
            stdin.seek(0)
            running[name] = subprocess.Popen(
                [sys.executable, "-m", "cab_check", *command.args],
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**session.process_env(), **(command.env or {})},
            )
    ran = {}
    try:
        for name, process in running.items():
            left = max(0.1, started_at + timeout - time.monotonic())
            out, err = process.communicate(timeout=left)
            ran[name] = Ran(process.returncode, out, err, time.monotonic() - started_at)
    finally:
        for process in running.values():
            if process.poll() is None:
                process.kill()
                process.communicate()
    return ran


def one_sentence(text: str) -> str:
    """The one line a failure prints (no traceback, nothing else), with whitespace as a reader sees it."""
    assert "Traceback" not in text, text
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got:\n{text}"
    return " ".join(lines[0].split())


def no_engine(tmp_path) -> list[str]:
    """`cab doctor` options that keep it off any container engine: the endpoint and the key are what is tested."""
    return ["--engine", f"unix://{tmp_path}/no-engine.sock"]


# --- a working keyring -------------------------------------------------------------------------------------------


def test_key_set_list_delete_against_the_real_secret_service(real_keyring):
    first, second = "http://127.0.0.1:8000/v1", "https://api.example.test/v1"
    key, other = canary(), canary()

    saved = cab(real_keyring, "key", "set", first + "/", "--key-stdin", stdin=key + "\n")
    assert (saved.code, saved.err) == (0, "")
    assert saved.out.strip() == f"Saved the key for {first} to the OS keyring."
    stored = real_keyring.secrets(SERVICE)
    assert stored[first] == key, "the key is in the Secret Service under the normalised endpoint"
    assert json.loads(stored[INDEX]) == [first]

    again = cab(real_keyring, "key", "set", second, "--key-env", "CAB_TEST_KEY", env={"CAB_TEST_KEY": other})
    assert again.code == 0
    replaced = cab(real_keyring, "key", "set", first, "--key-stdin", stdin=other + "\n")
    assert replaced.code == 0
    stored = real_keyring.secrets(SERVICE)
    assert stored == {first: other, second: other, INDEX: json.dumps(sorted([first, second]))}
    assert real_keyring.item_count(SERVICE) == 3, "a second `key set` replaces the entry, it never adds one"

    listed = cab(real_keyring, "key", "list")
    assert (listed.code, listed.err) == (0, "")
    assert listed.out.splitlines() == sorted([first, second])
    assert key not in listed.out and other not in listed.out

    removed = cab(real_keyring, "key", "delete", first)
    assert (removed.code, removed.out.strip()) == (0, f"Removed the key for {first}.")
    stored = real_keyring.secrets(SERVICE)
    assert first not in stored and stored[second] == other
    assert json.loads(stored[INDEX]) == [second]

    twice = cab(real_keyring, "key", "delete", first)
    assert (twice.code, twice.out.strip()) == (0, f"There was no saved key for {first}.")
    assert cab(real_keyring, "key", "delete", second).code == 0
    assert cab(real_keyring, "key", "list").out.strip() == "No saved keys."
    assert real_keyring.secrets(SERVICE) == {INDEX: "[]"}


def test_doctor_sends_the_key_saved_in_the_keyring(real_keyring, endpoint, tmp_path):
    """`cab doctor --endpoint` resolves the key as `cab check` does (_resolve_key): from the keyring here."""
    witness, url = endpoint
    key = canary()
    assert cab(real_keyring, "key", "set", url, "--key-stdin", stdin=key + "\n").code == 0

    doctor = cab(real_keyring, "doctor", "--endpoint", url, "--model", MODEL, *no_engine(tmp_path))
    assert witness.authorizations, f"the endpoint was never asked:\n{doctor.out}\n{doctor.err}"
    assert set(witness.authorizations) == {f"Bearer {key}"}
    assert "endpoint chat works" in doctor.out and "endpoint tool calls works" in doctor.out
    assert f"keyring {SECRET_SERVICE_BACKEND}" in doctor.out
    assert "No key for" not in doctor.err
    assert key not in doctor.out + doctor.err


@pytest.mark.docker
def test_check_runs_a_cell_with_the_key_from_the_keyring(real_keyring, docker_client, isolated_history):
    """A whole cell (aider on the default task, in Docker) against a loopback endpoint that knows the fix: the key
    the endpoint gets, from the handshake to the agent's calls through the proxy, is the one in the keyring."""
    from cab_check.catalog import get_task
    from cab_check.reference_model import ReferenceModel

    task = get_task("polyglot/rust-error-handling")
    fixer = FakeOpenAI(backend=ReferenceModel.from_task(task).app)  # the reference model, its requests recorded

    key = canary()
    with fixer.serving() as url:
        assert cab(real_keyring, "key", "set", url, "--key-stdin", stdin=key + "\n").code == 0
        ran = cab(
            real_keyring,
            "check",
            "--endpoint",
            url,
            "--model",
            "keyring-fixer",
            "--task",
            task.slug,
            "--json",
            timeout=1500,
        )
    # 0 when it passes, as it does on a quiet machine; 1 when the grader had a bad day (a grader container killed
    # on a machine short of memory): either way the cell ran to its end and was scored, which is what is tested.
    assert ran.code in (0, 1), ran.err[-3000:]
    result = json.loads(ran.out)
    assert result["endpoint"] == url and result["model"] == "keyring-fixer"
    assert any(span["kind"] == "container" for span in result["spans"]), "the agent ran"
    assert len(result["model_calls"]) >= 1
    calls = fixer.authorizations
    assert calls and set(calls) == {f"Bearer {key}"}, "every request upstream carried the keyring's key"
    assert key not in ran.out + ran.err
    for path in isolated_history.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), f"the key is in {path}"


def test_the_app_saves_a_typed_key_to_the_real_keyring_and_fills_it_back(qtbot, real_keyring, use_session, endpoint):
    from cab_check.gui.background import wait_for_background
    from cab_check.gui.config_form import KEY_LOADED, KEY_SAVED

    use_session(real_keyring)
    _, url = endpoint
    key = canary()
    form = config_form(qtbot)
    type_endpoint(qtbot, form, url)
    qtbot.keyClicks(form.key_edit, key)
    assert form.save_key_check.isChecked()
    assert form.commit_key() is None
    assert KEY_SAVED in form.status_label.text()
    assert real_keyring.secrets(SERVICE)[url] == key

    again = config_form(qtbot)  # the app opened again, for the same endpoint
    type_endpoint(qtbot, again, url)
    qtbot.waitUntil(lambda: again.key_edit.text() == key, timeout=10_000)
    qtbot.waitUntil(lambda: KEY_LOADED in again.status_label.text(), timeout=10_000)
    assert again.api_key() == key
    assert again.commit_key() is None, "a key loaded from the keyring is not saved again"
    assert wait_for_background()


def config_form(qtbot):
    from cab_check.gui.config_form import ConfigForm

    form = ConfigForm()
    qtbot.addWidget(form)
    form.show()
    return form


def type_endpoint(qtbot, form, url: str) -> None:
    from PySide6.QtCore import QPoint, Qt

    radio = form.endpoint_radio
    qtbot.mouseClick(radio, Qt.MouseButton.LeftButton, pos=QPoint(radio.height() // 2, radio.height() // 2))
    assert radio.isChecked()
    form.endpoint_edit.clear()
    qtbot.keyClicks(form.endpoint_edit, url)
    qtbot.keyClick(form.endpoint_edit, Qt.Key.Key_Return)
    form.model_combo.setEditText(MODEL)


# --- a locked keyring ----------------------------------------------------------------------------------------------


def test_a_locked_keyring_is_one_sentence_and_exit_3(locked_service, endpoint, tmp_path):
    session = locked_service.session
    witness, url = endpoint
    items_before = session.item_count(SERVICE) if locked_service.saved_for else 0

    commands = cab_together(
        session,
        {
            "key set": Command(("key", "set", url, "--key-stdin"), canary() + "\n"),
            "key list": Command(("key", "list")),
            "key delete": Command(("key", "delete", locked_service.saved_for or url)),
            "check": Command(("check", "--endpoint", url, "--model", MODEL)),
            "doctor": Command(("doctor", "--endpoint", url, "--model", MODEL, *no_engine(tmp_path))),
        },
    )
    for name, ran in commands.items():
        assert ran.code == 3, f"cab {name}: exit {ran.code}\n{ran.out}\n{ran.err}"
        said = one_sentence(ran.err)
        assert said.startswith(f"error: {locked_service.sentence_start}"), f"cab {name}: {said}"
        assert WAY_OUT in said and "prompt" in said, f"cab {name}: {said}"
        assert ran.out == "", f"cab {name} printed {ran.out!r}"
        assert ran.seconds < PROMPTLY_S, f"cab {name} took {ran.seconds:.1f} s"
    assert witness.requests == [], "no request went out without the key that sits in the locked keyring"
    if locked_service.saved_for:
        assert session.default_collection_locked(), "and it was not unlocked behind the user's back"
        assert session.item_count(SERVICE) == items_before, "nothing was written to or removed from it"


def test_key_env_and_key_stdin_get_around_a_locked_keyring(locked_service, endpoint, tmp_path):
    witness, url = endpoint
    key = canary()
    doctor = cab(
        locked_service.session,
        "doctor",
        "--endpoint",
        url,
        "--model",
        MODEL,
        "--key-env",
        "CAB_TEST_KEY",
        *no_engine(tmp_path),
        env={"CAB_TEST_KEY": key},
    )
    assert "endpoint chat works" in doctor.out, doctor.out + doctor.err
    # doctor names the keyring's state among its findings, with the way out
    keyring_line = " ".join(next(line for line in doctor.out.splitlines() if " keyring " in line).split())
    assert keyring_line.startswith(f"! keyring {locked_service.sentence_start}"), keyring_line
    assert set(witness.authorizations) == {f"Bearer {key}"}

    witness.requests.clear()
    piped = cab(
        locked_service.session,
        "doctor",
        "--endpoint",
        url,
        "--model",
        MODEL,
        "--key-stdin",
        *no_engine(tmp_path),
        stdin=key + "\n",
    )
    assert "endpoint chat works" in piped.out
    assert set(witness.authorizations) == {f"Bearer {key}"}
    assert key not in doctor.out + doctor.err + piped.out + piped.err


def test_a_prompt_nobody_answers_cannot_hang_the_cli(unanswered_prompt, endpoint):
    # The trap is real: the keyring library alone waits on the prompt (here cut off after 5 s).
    probe = "import keyring; keyring.get_password('cab-check', 'https://api.example.test/v1')"
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run(
            [sys.executable, "-c", probe], env=unanswered_prompt.process_env(), capture_output=True, timeout=5
        )

    witness, url = endpoint
    commands = cab_together(
        unanswered_prompt,
        {
            "key set": Command(("key", "set", url, "--key-stdin"), canary() + "\n"),
            "check": Command(("check", "--endpoint", url, "--model", MODEL)),
        },
    )
    for name, ran in commands.items():
        assert ran.code == 3, ran.err
        assert one_sentence(ran.err).startswith("error: The OS keyring is locked")
        assert ran.seconds < PROMPTLY_S, f"cab {name} took {ran.seconds:.1f} s"
    assert witness.requests == []


def test_the_app_says_one_sentence_for_a_locked_keyring_and_never_waits(
    qtbot, unanswered_prompt, use_session, endpoint
):
    from cab_check.gui.background import wait_for_background

    use_session(unanswered_prompt)
    _, url = endpoint
    form = config_form(qtbot)
    type_endpoint(qtbot, form, url)
    locked = "The OS keyring is locked"  # not "no keyring": there is one, and the key is likely in it
    qtbot.waitUntil(lambda: locked in form.status_label.text(), timeout=int(PROMPTLY_S * 1000))
    key = canary()
    qtbot.keyClicks(form.key_edit, key)
    started_at = time.monotonic()
    said = form.commit_key()  # on the UI thread, as Run calls it
    assert time.monotonic() - started_at < PROMPTLY_S / 2
    assert said.startswith(locked) and said.endswith("The key typed here is used for this run only.")
    assert locked in form.status_label.text()
    assert form.api_key() == key, "the typed key still works for this run"
    assert unanswered_prompt.default_collection_locked()
    assert unanswered_prompt.item_count(SERVICE) == 1, "only the key that was there before"
    assert wait_for_background()


# --- a Secret Service that never answers ---------------------------------------------------------------------------


def test_a_secret_service_that_never_answers_is_bounded(silent_service, endpoint):
    from cab_check.keys import KEYRING_TIMEOUT_S

    witness, url = endpoint
    commands = cab_together(
        silent_service,
        {
            "key set": Command(("key", "set", url, "--key-stdin"), canary() + "\n"),
            "check": Command(("check", "--endpoint", url, "--model", MODEL)),
        },
    )
    for ran in commands.values():
        assert ran.code == 3, ran.err
        said = one_sentence(ran.err)
        assert said.startswith(f"error: The OS keyring did not answer within {KEYRING_TIMEOUT_S:g} s"), said
        assert WAY_OUT in said
        assert KEYRING_TIMEOUT_S <= ran.seconds < KEYRING_TIMEOUT_S + PROMPTLY_S, f"took {ran.seconds:.1f} s"
    assert witness.requests == []


# --- no keyring at all ---------------------------------------------------------------------------------------------


def test_without_a_keyring_the_key_commands_are_one_sentence_and_exit_3(absent_service):
    commands = cab_together(
        absent_service,
        {
            "key set": Command(("key", "set", "http://127.0.0.1:8000/v1", "--key-stdin"), canary() + "\n"),
            "key list": Command(("key", "list")),
            "key delete": Command(("key", "delete", "http://127.0.0.1:8000/v1")),
        },
    )
    for name, ran in commands.items():
        assert ran.code == 3, f"cab {name}: {ran.err}"
        said = one_sentence(ran.err)
        assert said.startswith("error: This machine has no usable OS keyring"), said
        assert WAY_OUT in said
        assert ran.out == ""


def test_without_a_keyring_check_and_doctor_say_so_and_take_a_given_key(absent_service, endpoint, tmp_path):
    """No keyring cannot hold a key, so a keyless endpoint (a local vLLM) still works: one sentence says no key is
    sent and how to give one; --key-env and --key-stdin give one."""
    witness, url = endpoint
    doctor = cab(absent_service, "doctor", "--endpoint", url, "--model", MODEL, *no_engine(tmp_path))
    said = one_sentence(doctor.err)
    assert said == (
        f"No key for {url} in the keyring and no terminal to ask: sending no key (use {WAY_OUT} to give one)."
    )
    assert "endpoint chat works" in doctor.out
    keyring_line = " ".join(next(line for line in doctor.out.splitlines() if " keyring " in line).split())
    assert keyring_line.startswith("! keyring This machine has no usable OS keyring"), keyring_line
    assert witness.authorizations and set(witness.authorizations) == {""}

    witness.requests.clear()
    key = canary()
    given = cab(
        absent_service,
        "doctor",
        "--endpoint",
        url,
        "--model",
        MODEL,
        "--key-env",
        "CAB_TEST_KEY",
        *no_engine(tmp_path),
        env={"CAB_TEST_KEY": key},
    )
    assert "endpoint chat works" in given.out and given.err == ""
    assert set(witness.authorizations) == {f"Bearer {key}"}

    check = cab(absent_service, "check", "--endpoint", url, "--model", MODEL, *no_engine(tmp_path))
    lines = [line for line in check.err.splitlines() if line.strip()]
    assert lines[0] == said, "cab check says the same, before it goes on"
    assert "Traceback" not in check.err
