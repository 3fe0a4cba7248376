"""Files in and out of containers as tar streams, the only way a remote engine can take or give them.

What comes back from a container is the agent's work and therefore untrusted: it is read as one forward stream,
every member recorded as what it is (file, symlink, FIFO, device). Nothing is ever followed, opened on this host
or held whole in memory; only small changed text files are kept, for the diff.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import stat
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Literal

OWNER_UID = OWNER_GID = 1000  # the container user (cab_check.sandbox.base.CONTAINER_USER)
SPOOL_IN_MEMORY = 8 * 1024 * 1024  # a tar bigger than this spills from memory to a temp file
BLOCK = 1024 * 1024
MAX_TEXT_BYTES = 1024 * 1024  # a changed file larger than this is listed, not shown in the diff
MAX_KEPT_TEXT_BYTES = 32 * 1024 * 1024  # all kept texts together
# A file larger than this (a 5 GB sparse file, a dumped model) is recorded by size, read past without hashing, and
# left out of the grader's copy: no task's grader needs one, and copying it would cost this host its size in disk.
MAX_FILE_BYTES = 64 * 1024 * 1024
CHECK_EVERY_BYTES = 64 * 1024 * 1024  # how often a long read looks for a cancel
HARNESS_GIT = ".git"  # the baseline repo cab-check made: not the agent's change, so never in a snapshot

Kind = Literal["file", "symlink", "fifo", "chardev", "blockdev"]
_KINDS: dict[bytes, Kind] = {
    tarfile.SYMTYPE: "symlink",
    tarfile.FIFOTYPE: "fifo",
    tarfile.CHRTYPE: "chardev",
    tarfile.BLKTYPE: "blockdev",
}


@dataclass(frozen=True)
class Entry:
    """One path of a tree: what it is, and what identifies its content."""

    kind: Kind
    digest: str  # sha256 of a file's bytes; a symlink's target; "major,minor" of a device; "" for a FIFO
    size: int = 0
    text: str | None = None  # a small UTF-8 file's content, kept where the diff needs it

    def describe(self) -> str:
        return {
            "file": "file",
            "symlink": f"symlink to {self.digest}",
            "fifo": "FIFO (named pipe)",
            "chardev": "character device",
            "blockdev": "block device",
        }[self.kind]


@dataclass
class Tree:
    """Every path below a root (the harness's .git excepted), by workdir-relative posix path."""

    entries: dict[str, Entry] = field(default_factory=dict)
    omitted: dict[str, str] = field(default_factory=dict)  # kept out of the grader's copy: path → why


# --- building archives for a container ------------------------------------------------------------------------


def spool() -> IO[bytes]:
    return tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)


def _owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid, info.gid, info.uname, info.gname = OWNER_UID, OWNER_GID, "", ""
    info.mode &= 0o777  # no setuid, setgid or sticky bits from anywhere
    return info


def add_folder(tar: tarfile.TarFile, folder: Path, at: str) -> None:
    """`folder` and everything below it under `at`, owned by the container user; symlinks stay links."""
    tar.add(folder, arcname=at, recursive=True, filter=_owned)


def add_dir(tar: tarfile.TarFile, at: str) -> None:
    info = tarfile.TarInfo(at)
    info.type, info.mode = tarfile.DIRTYPE, 0o755
    tar.addfile(_owned(info))


def add_text(tar: tarfile.TarFile, at: str, text: str) -> None:
    data = text.encode("utf-8")
    info = tarfile.TarInfo(at)
    info.size, info.mode = len(data), 0o644
    tar.addfile(_owned(info), io.BytesIO(data))


def build(fill: Callable[[tarfile.TarFile], None]) -> IO[bytes]:
    """A tar made by `fill`, rewound and ready to read."""
    out = spool()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        fill(tar)
    out.seek(0)
    return out


def chunks_of(file: IO[bytes]) -> Iterator[bytes]:
    """A file's bytes from its start, block by block."""
    file.seek(0)
    while block := file.read(BLOCK):
        yield block


# --- reading what a container gives back ------------------------------------------------------------------------


class ChunkReader(io.RawIOBase):
    """A forward-only file over an iterator of byte chunks (an engine's archive stream)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def display_path(name: str) -> str:
    """A member name as text that is safe to store and show: bytes that are not UTF-8 appear as \\xNN."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _relative(name: str, root: str) -> str | None:
    """The member's path below `root` ("work"), or None for the root itself or anything outside it."""
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".", "/")]
    if not parts or parts[0] != root or ".." in parts:
        return None
    return "/".join(parts[1:]) or None


class _Tee(io.RawIOBase):
    """Reads a member's bytes, hashing them (unless too large to be worth it) and keeping them while they are few
    enough to be a shown text; looks for a cancel every CHECK_EVERY_BYTES."""

    def __init__(self, source: IO[bytes], keep: bool, hashed: bool, checkpoint: Callable[[], None]) -> None:
        self.source, self.keep, self.hashed, self.checkpoint = source, keep, hashed, checkpoint
        self.digest = hashlib.sha256()
        self.kept = bytearray()
        self._since_check = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        data = self.source.read(len(buffer))
        if self.hashed:
            self.digest.update(data)
        if self.keep:
            self.kept += data
        self._since_check += len(data)
        if self._since_check >= CHECK_EVERY_BYTES:
            self._since_check = 0
            self.checkpoint()
        buffer[: len(data)] = data
        return len(data)

    def drain(self) -> None:
        while self.read(BLOCK):
            pass


def read_tree(
    chunks: Iterable[bytes],
    *,
    root: str = "work",
    baseline: Tree | None = None,
    copy_to: IO[bytes] | None = None,
    checkpoint: Callable[[], None] = lambda: None,
) -> Tree:
    """Records every member below `root` of a tar stream; with `copy_to`, also writes a clean copy of the tree
    there (owned by the container user, special files left out) for a grader to get.

    Texts are kept only for files that differ from `baseline` (all small files when there is none)."""
    tree = Tree()
    kept_bytes = 0
    seen: dict[str, Entry] = {}  # by member name, for hard links
    with contextlib.ExitStack() as files:
        tar = files.enter_context(tarfile.open(fileobj=io.BufferedReader(ChunkReader(chunks), BLOCK), mode="r|"))
        copy = (
            files.enter_context(tarfile.open(fileobj=copy_to, mode="w|", format=tarfile.PAX_FORMAT))
            if copy_to is not None
            else None
        )
        for member in tar:
            checkpoint()
            relative = _relative(member.name, root)
            key = display_path(relative) if relative else None
            recorded = key is not None and key.split("/", 1)[0] != HARNESS_GIT
            if member.isreg():
                large = member.size > MAX_FILE_BYTES
                keep = (
                    recorded
                    and not large
                    and member.size <= MAX_TEXT_BYTES
                    and kept_bytes + member.size <= MAX_KEPT_TEXT_BYTES
                )
                tee = _Tee(tar.extractfile(member), keep, not large, checkpoint)  # type: ignore[arg-type]
                if copy is not None and not large:
                    copy.addfile(_owned(member), io.BufferedReader(tee, BLOCK))
                elif large and key is not None:
                    tree.omitted[key] = f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB"
                tee.drain()
                entry = Entry("file", f"size:{member.size}" if large else tee.digest.hexdigest(), member.size)
                before = baseline.entries.get(key or "") if baseline is not None else None
                if keep and (before is None or (before.kind, before.digest) != ("file", entry.digest)):
                    entry = Entry("file", entry.digest, entry.size, _decode(bytes(tee.kept)))
                    kept_bytes += member.size
                seen[member.name] = entry
            elif member.islnk():  # a hard link: the same content as a member met earlier
                entry = seen.get(member.linkname, Entry("file", "", 0))
                if copy is not None:
                    copy.addfile(_owned(member))
            elif member.isdir():
                if copy is not None:
                    copy.addfile(_owned(member))
                continue
            elif member.issym():
                entry = Entry("symlink", member.linkname)
                if copy is not None:
                    copy.addfile(_owned(member))
            else:
                kind = _KINDS.get(member.type)
                if kind is None:
                    continue  # a tar extension header tarfile did not fold in: nothing on disk
                entry = Entry(kind, f"{member.devmajor},{member.devminor}" if member.isdev() else "")
                if key is not None:
                    tree.omitted[key] = entry.describe()
            if recorded and key is not None:
                tree.entries[key] = entry
    if copy_to is not None:
        copy_to.seek(0)  # the copy was finished when its tar file closed
    return tree


def _decode(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def extract_files(
    chunks: Iterable[bytes], root: str, dest: Path, *, max_file_bytes: int, max_total_bytes: int
) -> list[str]:
    """Writes the regular files below `root` of a tar stream into `dest` (links, devices, FIFOs and anything
    that would land outside `dest` are skipped; so are files past the size limits). Returns what it skipped."""
    skipped = []
    total = 0
    with tarfile.open(fileobj=io.BufferedReader(ChunkReader(chunks), BLOCK), mode="r|") as tar:
        for member in tar:
            relative = _relative(member.name, root)
            if relative is None or member.isdir():
                continue
            if not member.isreg() or member.size > max_file_bytes or total + member.size > max_total_bytes:
                skipped.append(display_path(relative))
                continue
            target = dest / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None
            # O_EXCL|O_NOFOLLOW: never write through something that is already there.
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, stat.S_IRUSR | stat.S_IWUSR)
            with os.fdopen(fd, "wb") as out:
                while block := source.read(BLOCK):
                    out.write(block)
            total += member.size
    return skipped
