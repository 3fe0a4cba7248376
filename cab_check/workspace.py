"""The agent's working copy: a fresh temp folder with a baseline git commit, and what changed in it since.

The folder is prepared here and goes into the agent's container as a tar stream; what the agent left comes back
the same way (cab_check.archive), so comparing the two is a pure function of two trees."""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cab_check.archive import Entry, Tree
from cab_check.store import pid_alive

GIT_ENV = {
    "GIT_AUTHOR_NAME": "cab-check",
    "GIT_AUTHOR_EMAIL": "baseline@cab-check.local",
    "GIT_COMMITTER_NAME": "cab-check",
    "GIT_COMMITTER_EMAIL": "baseline@cab-check.local",
}
TEMP_PREFIX = "cab-check-"
OWNER_FILE = ".cab-check-pid"
MAX_DIFF_CHARS = 1024 * 1024  # what a person could read; every change is still listed in blast_radius


@dataclass(frozen=True)
class Changes:
    added: list[str]
    removed: list[str]
    modified: list[str]
    added_texts: dict[str, str]
    diff: str

    @property
    def total(self) -> int:
        return len(self.added) + len(self.removed) + len(self.modified)


def make_temp_root(run_id: str) -> Path:
    """A private temp folder for the run, marked with this process's pid so a later sweep knows whose it is."""
    root = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{run_id}-"))
    (root / OWNER_FILE).write_text(str(os.getpid()), encoding="utf-8")
    return root


def sweep_temp_roots() -> int:
    """Removes the temp folders of runs whose process is gone (killed before its cleanup); returns how many."""
    removed = 0
    for root in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*"):
        try:
            owner = (root / OWNER_FILE).read_text(encoding="utf-8").strip()
        except OSError:
            continue  # not one of ours, or not yet marked
        if not pid_alive(owner):
            shutil.rmtree(root, ignore_errors=True)
            removed += 1
    return removed


def prepare_workdir(source: Path, dest: Path) -> None:
    """Copies the task's workdir and commits it as the baseline the agent's changes are measured against."""
    shutil.copytree(source, dest, symlinks=False)
    _git(dest, "init", "-q", "-b", "main")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "--no-gpg-sign", "-m", "cab-check baseline")


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    done = subprocess.run(
        ["git", "-c", "safe.directory=*", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def compare(before: Tree, after: Tree) -> Changes:
    """Added/removed/modified paths, every one counted as CAB counts it (ignore rules hide none), and their diff."""
    old, new = before.entries, after.entries
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    modified = sorted(p for p in set(old) & set(new) if (old[p].kind, old[p].digest) != (new[p].kind, new[p].digest))
    diff = _bounded_diff(_file_diff(p, old.get(p), new.get(p)) for p in sorted(added + removed + modified))
    texts = {p: text for p in added if (text := new[p].text) is not None}
    return Changes(added, removed, modified, texts, diff)


def _bounded_diff(parts: Iterable[str]) -> str:
    """The diffs of every changed file, up to MAX_DIFF_CHARS; then one line saying how many more files changed."""
    kept: list[str] = []
    size = 0
    rest = 0
    for part in parts:
        if size + len(part) > MAX_DIFF_CHARS:
            rest += 1
            continue
        kept.append(part)
        size += len(part)
    if rest:
        kept.append(f"[cab-check: the diff is cut here; {rest} more changed file(s) are listed in blast_radius]\n")
    return "".join(kept)


def _file_diff(rel: str, old: Entry | None, new: Entry | None) -> str:
    special = next((e for e in (new, old) if e is not None and e.kind != "file"), None)
    if special is not None:  # links and special files are named, never followed or opened
        what = "added" if old is None else "removed" if new is None else "changed"
        return f"{rel}: {special.describe()} ({what})\n"
    old_text = "" if old is None else old.text
    new_text = "" if new is None else new.text
    if old_text is None or new_text is None:
        size = max(e.size for e in (old, new) if e is not None)
        return f"Binary file {rel} changed ({size:,} bytes, not shown)\n"
    lines = difflib.unified_diff(
        old_text.splitlines(keepends=True), new_text.splitlines(keepends=True), f"a/{rel}", f"b/{rel}"
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)
