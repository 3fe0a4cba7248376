"""The agent's working copy: a fresh temp folder with a baseline git commit, and what changed in it since.

The folder is prepared here and goes into the agent's container as a tar stream; what the agent left comes back
the same way (cab_check.archive), so comparing the two is a pure function of two trees."""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cab_check.archive import Entry, Tree

GIT_ENV = {
    "GIT_AUTHOR_NAME": "cab-check",
    "GIT_AUTHOR_EMAIL": "baseline@cab-check.local",
    "GIT_COMMITTER_NAME": "cab-check",
    "GIT_COMMITTER_EMAIL": "baseline@cab-check.local",
}
TEMP_PREFIX = "cab-check-"


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
    return Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{run_id}-"))


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
    diff = "".join(_file_diff(p, old.get(p), new.get(p)) for p in sorted(added + removed + modified))
    texts = {p: text for p in added if (text := new[p].text) is not None}
    return Changes(added, removed, modified, texts, diff)


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
