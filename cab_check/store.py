"""Run history under the platformdirs data dir: one folder per run with result.json and the recording."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import platformdirs

from cab_check.errors import ResultNotSaved
from cab_check.models import CellResult

RESULT_FILE = "result.json"
RECORDING_FILE = "recording.cast"


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
    """Writes a run's files all or none: on a full disk (or any write error) the run's folder goes away whole."""
    folder = run_dir(run_id)
    try:
        yield folder
    except OSError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise ResultNotSaved(
            f"Could not save the run to {folder} ({exc.strerror or exc}): free some space, or point CAB_CHECK_HOME "
            "at another disk, and run it again."
        ) from None


def save_result(result: CellResult) -> Path:
    path = run_dir(result.run_id) / RESULT_FILE
    write_atomic(path, result.model_dump_json(indent=2) + "\n")
    return path


def load_result(run_id: str) -> CellResult:
    return CellResult.model_validate_json((run_dir(run_id) / RESULT_FILE).read_text(encoding="utf-8"))


def list_runs() -> list[CellResult]:
    results = []
    for path in sorted((data_dir() / "runs").glob(f"*/{RESULT_FILE}")):
        try:
            results.append(CellResult.model_validate_json(path.read_text(encoding="utf-8")))
        except ValueError:
            continue  # a result from a newer or broken version is skipped, never deleted
    return sorted(results, key=lambda r: r.started_at)
