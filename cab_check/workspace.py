"""The agent's working copy: a fresh temp folder with a baseline git commit, and what changed in it since."""

from __future__ import annotations

import difflib
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

# Containers run as this uid when cab-check itself runs as root, so the agent is never root in /work.
CONTAINER_UID = 1000
GIT_ENV = {
    "GIT_AUTHOR_NAME": "cab-check",
    "GIT_AUTHOR_EMAIL": "baseline@cab-check.local",
    "GIT_COMMITTER_NAME": "cab-check",
    "GIT_COMMITTER_EMAIL": "baseline@cab-check.local",
}


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


def container_user() -> str:
    """The uid:gid containers run as: the caller's own, or CONTAINER_UID when the caller is root."""
    uid = os.getuid()
    if uid == 0:
        return f"{CONTAINER_UID}:{CONTAINER_UID}"
    return f"{uid}:{os.getgid()}"


def make_temp_root(run_id: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"cab-check-{run_id}-"))


def prepare_workdir(source: Path, dest: Path) -> None:
    """Copies the task's workdir and commits it as the baseline the agent's changes are measured against."""
    shutil.copytree(source, dest, symlinks=False)
    _git(dest, "init", "-q", "-b", "main")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "--no-gpg-sign", "-m", "cab-check baseline")
    hand_to_container_user(dest)


def hand_to_container_user(path: Path) -> None:
    if os.getuid() == 0:
        for root, dirs, files in os.walk(path):
            for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.lchown(name, CONTAINER_UID, CONTAINER_UID)


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    done = subprocess.run(
        ["git", "-c", "safe.directory=*", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def snapshot(root: Path) -> dict[str, str]:
    """Content hash of every file below root, .git excluded (the harness's own baseline repo)."""
    files = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if dirpath == str(root) and ".git" in dirnames:
            dirnames.remove(".git")
        # os.walk lists a symlink to a folder among dirnames and does not follow it; record it as a link.
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = Path(dirpath, name)
            rel = path.relative_to(root).as_posix()
            files[rel] = "link:" + os.readlink(path) if path.is_symlink() else _sha(path)
    return files


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def compare(baseline_dir: Path, before: dict[str, str], workdir: Path) -> Changes:
    """Added/removed/modified files, every file counted as CAB counts it (ignore rules do not hide any)."""
    after = snapshot(workdir)
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    modified = sorted(p for p in set(before) & set(after) if before[p] != after[p])
    texts = {p: _text(workdir / p) for p in added}
    diff = "".join(
        _file_diff(p, _text(baseline_dir / p) if p not in added else "", _text(workdir / p) if p not in removed else "")
        for p in sorted(added + removed + modified)
    )
    return Changes(added, removed, modified, {p: t for p, t in texts.items() if t is not None}, diff)


def _text(path: Path) -> str | None:
    if path.is_symlink():
        return None  # never follow a link the agent made: it could point anywhere on the host
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def _file_diff(rel: str, old: str | None, new: str | None) -> str:
    if old is None or new is None:
        return f"Binary file {rel} changed\n"
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{rel}", f"b/{rel}"
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def copy_for_grading(workdir: Path, dest: Path) -> None:
    """The grader works on a copy, so its build output can never count as the agent's change."""
    shutil.copytree(workdir, dest, symlinks=True)
    hand_to_container_user(dest)
