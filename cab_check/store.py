"""Run history under the platformdirs data dir: one folder per run with result.json and the recording."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from cab_check.errors import ResultNotSaved
from cab_check.models import CellResult

RESULT_FILE = "result.json"
RECORDING_FILE = "recording.cast"
STAGING_PREFIX = ".saving-"  # never listed: a run's folder appears whole, under its own name, or not at all


def data_dir() -> Path:
    """CAB_CHECK_HOME overrides the platform's data dir (tests, portable installs)."""
    override = os.environ.get("CAB_CHECK_HOME")
    return Path(override) if override else Path(platformdirs.user_data_dir("cab-check", appauthor=False))


def run_dir(run_id: str) -> Path:
    return data_dir() / "runs" / run_id


def write_atomic(path: Path, text: str) -> None:
    """Writes text so that readers see the old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def saving(run_id: str) -> Iterator[Path]:
    """Writes a run's files all or none: they go into a staging folder that becomes the run's folder only once
    everything is written, so a full disk, a write error or a killed process never leaves half a run."""
    final = run_dir(run_id)
    staging = final.with_name(f"{STAGING_PREFIX}{os.getpid()}-{run_id}")
    try:
        staging.mkdir(parents=True, exist_ok=True)
        yield staging
        os.replace(staging, final)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ResultNotSaved(
            f"Could not save the run to {final} ({exc.strerror or exc}): free some space, or point CAB_CHECK_HOME "
            "at another disk, and run it again."
        ) from None


def check_writable() -> None:
    """ResultNotSaved now, before a run spends minutes, when the history folder cannot take its result."""
    runs = data_dir() / "runs"
    existing = next(folder for folder in (runs, *runs.parents) if folder.exists())  # creates nothing
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise ResultNotSaved(
            f"The history folder {runs} cannot be written ({exc.strerror or exc}): make it writable, or point "
            "CAB_CHECK_HOME at a folder you may write, and run it again."
        ) from None


def sweep_unfinished() -> int:
    """Removes staging folders of saves that a killed process never finished (another live process's are left
    alone: it may be saving right now); returns how many."""
    removed = 0
    for staging in (data_dir() / "runs").glob(f"{STAGING_PREFIX}*"):
        pid = staging.name.removeprefix(STAGING_PREFIX).split("-", 1)[0]
        if not pid_alive(pid):
            shutil.rmtree(staging, ignore_errors=True)
            removed += 1
    return removed


def pid_alive(pid: str | int | None) -> bool:
    """Whether a process of this machine with that pid exists (a malformed pid counts as alive: not ours to judge)."""
    try:
        os.kill(int(pid or ""), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def save_result(result: CellResult, folder: Path | None = None) -> Path:
    """Writes result.json into `folder` (a `saving()` folder), else straight into the run's folder."""
    path = (folder or run_dir(result.run_id)) / RESULT_FILE
    write_atomic(path, result.model_dump_json(indent=2) + "\n")
    return path


def load_result(run_id: str) -> CellResult:
    """A stored run; FileNotFoundError when there is none, ValueError when it cannot be read."""
    return CellResult.load((run_dir(run_id) / RESULT_FILE).read_bytes())


@dataclass(frozen=True)
class UnreadableRun:
    """A stored run that could not be read, and why: listed so the user sees it, never hidden or deleted."""

    path: Path
    reason: str


@dataclass(frozen=True)
class History:
    runs: list[CellResult]  # oldest first
    unreadable: list[UnreadableRun]


def read_history() -> History:
    """Every stored run, with the ones that cannot be read named apart (a newer format, a damaged file)."""
    runs, unreadable = [], []
    for path in sorted((data_dir() / "runs").glob(f"*/{RESULT_FILE}")):
        try:
            runs.append(CellResult.load(path.read_bytes()))
        except (OSError, ValueError) as exc:
            unreadable.append(UnreadableRun(path, _why(exc)))
    return History(sorted(runs, key=lambda r: r.started_at), unreadable)


def list_runs() -> list[CellResult]:
    """The stored runs that can be read, oldest first."""
    return read_history().runs


def _why(exc: Exception) -> str:
    """One line on why a stored run cannot be read."""
    errors = getattr(exc, "errors", None)
    if callable(errors):  # pydantic's: name the first field that does not fit
        first = errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the file"
        return f"{where}: {first['msg']}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
