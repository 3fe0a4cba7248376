"""Which run temp folders a process owns: each run marks its folder with its pid (workspace.OWNER_FILE).

Tests count only their own process's folders, so a cell running elsewhere on the machine (another test session,
a user's run) never shows up as a leftover."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from cab_check import workspace


def temp_roots_of(pid: int | None = None) -> set[Path]:
    pid = os.getpid() if pid is None else pid
    roots = Path(tempfile.gettempdir()).glob(f"{workspace.TEMP_PREFIX}*")
    return {r for r in roots if _owner(r) == str(pid)}


def _owner(root: Path) -> str | None:
    try:
        return (root / workspace.OWNER_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None
