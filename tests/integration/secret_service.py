"""A real Secret Service for tests: a private D-Bus session bus and Debian's gnome-keyring-daemon on it.

The bus is started from a configuration of our own with no service directories, so nothing is ever started on
demand: a bus without gnome-keyring on it really has no Secret Service (a stock session bus would activate
gnome-keyring-daemon, which is installed), and no password prompter (gcr-prompter) can be started either. The
daemon keeps its keyrings under a temporary HOME, never the user's.

What the tests read back goes through secretstorage on a connection of its own, not through cab-check's code.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SECRET_SERVICE = "org.freedesktop.secrets"
PASSWORD = "cab-check-test-keyring-password"
START_TIMEOUT_S = 15.0

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={run}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class NotStarted(RuntimeError):
    """The bus or the daemon could not be started; the message says why."""


@dataclass
class Session:
    """One private session: its folders, its bus (if any) and its gnome-keyring-daemon (if any)."""

    root: Path
    address: str | None = None
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def runtime_dir(self) -> Path:
        return self.root / "run"

    def env(self) -> dict[str, str | None]:
        """What a process must see to use this session, and nothing of the user's: None means unset.

        HOME and the XDG folders point inside the session too, so a keyringrc.cfg of the user's cannot pick
        another backend and the daemon's keyring files land here."""
        return {
            "DBUS_SESSION_BUS_ADDRESS": self.address,
            "HOME": str(self.home),
            "XDG_RUNTIME_DIR": str(self.runtime_dir),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_DATA_HOME": str(self.home / ".local" / "share"),
            "PYTHON_KEYRING_BACKEND": None,  # let keyring choose, as it does for a user
            "DISPLAY": None,  # no prompt window can open anywhere
            "WAYLAND_DISPLAY": None,
            "GNOME_KEYRING_CONTROL": None,
        }

    def process_env(self) -> dict[str, str]:
        env = dict(os.environ)
        for name, value in self.env().items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env

    # --- reading the Secret Service directly -----------------------------------------------------------------

    @contextlib.contextmanager
    def connection(self) -> Iterator[object]:
        from jeepney.io.blocking import open_dbus_connection

        assert self.address, "this session has no bus"
        connection = open_dbus_connection(bus=self.address)
        try:
            yield connection
        finally:
            connection.close()

    def has_secret_service(self) -> bool:
        import secretstorage

        with self.connection() as connection:
            return secretstorage.check_service_availability(connection)

    def default_collection_locked(self) -> bool:
        import secretstorage

        with self.connection() as connection:
            return secretstorage.Collection(connection).is_locked()

    def secrets(self, service: str) -> dict[str, str]:
        """Every secret stored under `service` in the default collection, by username (it must be unlocked)."""
        import secretstorage

        with self.connection() as connection:
            collection = secretstorage.Collection(connection)
            assert not collection.is_locked(), "the default collection is locked: its secrets cannot be read"
            return {
                item.get_attributes().get("username", ""): item.get_secret().decode()
                for item in collection.search_items({"service": service})
            }

    def item_count(self, service: str) -> int:
        """How many items carry `service`, locked or not (searching needs no unlock)."""
        import secretstorage

        with self.connection() as connection:
            return len(list(secretstorage.Collection(connection).search_items({"service": service})))

    def lock(self) -> None:
        """Locks the default collection over D-Bus, as a screen lock or `Lock` in Passwords and Keys does."""
        import secretstorage

        with self.connection() as connection:
            collection = secretstorage.Collection(connection)
            collection.lock()
            if not collection.is_locked():
                raise NotStarted("the default collection did not lock")

    def store(self, service: str, username: str, secret: str) -> None:
        """Stores a secret the way the keyring library does (attributes service and username)."""
        import secretstorage

        with self.connection() as connection:
            secretstorage.Collection(connection).create_item(
                f"Password for '{username}' on '{service}'",
                {"service": service, "username": username},
                secret,
                replace=True,
            )

    def clear(self, service: str) -> None:
        import secretstorage

        with self.connection() as connection:
            for item in secretstorage.Collection(connection).search_items({"service": service}):
                item.delete()

    # --- lifecycle -------------------------------------------------------------------------------------------

    def stop_keyring(self) -> None:
        """Stops gnome-keyring-daemon (the bus stays): its keyrings stay on disk, locked for the next start."""
        for process in [p for p in self.processes if p.args[0].endswith("gnome-keyring-daemon")]:
            _end(process)
            self.processes.remove(process)

    def stop(self) -> None:
        for process in reversed(self.processes):
            _end(process)
        self.processes.clear()
        self.address = None


def _end(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def _need(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        package = {"dbus-daemon": "dbus-daemon", "gnome-keyring-daemon": "gnome-keyring"}[program]
        raise NotStarted(f"{program} is not installed (Debian package {package})")
    return path


def new_session(root: Path) -> Session:
    """Folders only: no bus, so nothing answers on D-Bus at all."""
    session = Session(root)
    for folder in (session.home / ".config", session.home / ".local" / "share", session.runtime_dir):
        folder.mkdir(parents=True, exist_ok=True)
    session.runtime_dir.chmod(0o700)
    return session


def start_bus(session: Session) -> None:
    """A session bus of our own (dbus-daemon --nofork, so this process owns and reaps it)."""
    config = session.root / "session-bus.conf"
    config.write_text(BUS_CONFIG.format(run=session.runtime_dir))
    bus = subprocess.Popen(
        [_need("dbus-daemon"), f"--config-file={config}", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=session.process_env(),
    )
    session.processes.append(bus)
    address = bus.stdout.readline().strip()  # the daemon prints it once it listens
    if not address:
        bus.wait(5)
        raise NotStarted(f"dbus-daemon printed no address (exit {bus.returncode}): {bus.stderr.read().strip()}")
    session.address = address


def start_keyring(session: Session, *, unlock: bool = True) -> None:
    """gnome-keyring-daemon with only its Secret Service, on the session's bus. With `unlock`, the login keyring
    is created (on first start) or unlocked with PASSWORD, as PAM does at login; without, it stays locked."""
    argv = [
        _need("gnome-keyring-daemon"),
        "--foreground",
        "--components=secrets",
        f"--control-directory={session.runtime_dir / 'keyring'}",
    ]
    if unlock:
        argv.append("--unlock")
    log = (session.root / "gnome-keyring.log").open("w")
    daemon = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, text=True, env=session.process_env()
    )
    session.processes.append(daemon)
    if unlock:
        daemon.stdin.write(PASSWORD)
    daemon.stdin.close()
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            raise NotStarted(
                f"gnome-keyring-daemon exited with {daemon.returncode}: "
                f"{(session.root / 'gnome-keyring.log').read_text().strip()[-500:]}"
            )
        if _owned(session) and (not unlock or _default_collection_ready(session)):
            return
        time.sleep(0.05)
    raise NotStarted(
        f"gnome-keyring-daemon did not offer {SECRET_SERVICE} (with an unlocked default collection) "
        f"within {START_TIMEOUT_S:g} s: {(session.root / 'gnome-keyring.log').read_text().strip()[-500:]}"
    )


def _owned(session: Session) -> bool:
    from jeepney import DBusAddress, new_method_call

    bus = DBusAddress("/org/freedesktop/DBus", bus_name="org.freedesktop.DBus", interface="org.freedesktop.DBus")
    with session.connection() as connection:
        reply = connection.send_and_get_reply(new_method_call(bus, "NameHasOwner", "s", (SECRET_SERVICE,)), timeout=5)
    return bool(reply.body[0])


def _default_collection_ready(session: Session) -> bool:
    from secretstorage.exceptions import ItemNotFoundException

    try:
        return not session.default_collection_locked()
    except ItemNotFoundException:  # the login keyring is still being created
        return False


# A D-Bus service that takes a name and then either never answers (answer=False) or answers every call with an
# empty reply and never does anything more (answer=True). Owning org.gnome.keyring.SystemPrompter with
# answer=True, it is a password prompt nobody answers: gnome-keyring's BeginPrompting succeeds, and the prompt's
# result never comes, just as with a prompt window on a desktop nobody is watching.
IDLE_SERVICE = """
import sys
from jeepney import MessageType, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection

connection = open_dbus_connection(bus=sys.argv[1])
connection.send_and_get_reply(message_bus.RequestName(sys.argv[2]), timeout=5)
print("ready", flush=True)
while True:
    message = connection.receive()
    if sys.argv[3] == "answer" and message.header.message_type == MessageType.method_call:
        connection.send(new_method_return(message))
"""


def start_idle_service(session: Session, name: str, *, answer: bool) -> None:
    service = subprocess.Popen(
        [sys.executable, "-c", IDLE_SERVICE, session.address, name, "answer" if answer else "silent"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=session.process_env(),
    )
    session.processes.append(service)
    if service.stdout.readline().strip() != "ready":
        service.wait(5)
        raise NotStarted(f"the stand-in for {name} did not start: {service.stderr.read().strip()[-500:]}")
