"""What a container hands back is untrusted: every member is recorded as what it is, nothing is followed or opened
on this host, nothing escapes the folder it is extracted into, and memory stays bounded however big a file is."""

from __future__ import annotations

import io
import tarfile

import pytest

from cab_check import archive


def member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", **fields) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.mode = kind, len(data) if kind == tarfile.REGTYPE else 0, 0o644
    for key, value in fields.items():
        setattr(info, key, value)
    return info, data


def tar_stream(*members: tuple[tarfile.TarInfo, bytes], chunk: int = 7) -> list[bytes]:
    """A tar as an engine streams it: in small, unaligned chunks."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    raw = buffer.getvalue()
    return [raw[i : i + chunk] for i in range(0, len(raw), chunk)]


def test_every_kind_of_member_is_recorded_as_what_it_is():
    tree = archive.read_tree(
        tar_stream(
            member("work", tarfile.DIRTYPE),
            member("work/a.txt", data=b"hello\n"),
            member("work/same.txt", tarfile.LNKTYPE, linkname="work/a.txt"),
            member("work/peek", tarfile.SYMTYPE, linkname="/etc/shadow"),
            member("work/pipe", tarfile.FIFOTYPE),
            member("work/tty", tarfile.CHRTYPE, devmajor=5, devminor=0),
            member("work/disk", tarfile.BLKTYPE, devmajor=8, devminor=0),
            member("work/.git/HEAD", data=b"ref: refs/heads/main\n"),
        )
    )
    entries = tree.entries
    assert set(entries) == {"a.txt", "same.txt", "peek", "pipe", "tty", "disk"}  # the harness's .git is not a change
    assert entries["a.txt"].kind == "file" and entries["a.txt"].text == "hello\n"
    assert entries["same.txt"].digest == entries["a.txt"].digest
    assert (entries["peek"].kind, entries["peek"].digest) == ("symlink", "/etc/shadow")
    assert [entries[n].kind for n in ("pipe", "tty", "disk")] == ["fifo", "chardev", "blockdev"]
    assert entries["tty"].digest == "5,0"
    assert sorted(tree.omitted) == ["disk", "pipe", "tty"]


def test_the_graders_copy_keeps_files_and_links_but_no_special_file_and_no_foreign_owner():
    copy = archive.spool()
    archive.read_tree(
        tar_stream(
            member("work", tarfile.DIRTYPE),
            member("work/a.txt", data=b"x" * 100_000, uid=0, mode=0o4755),
            member("work/peek", tarfile.SYMTYPE, linkname="a.txt"),
            member("work/pipe", tarfile.FIFOTYPE),
            member("work/tty", tarfile.CHRTYPE, devmajor=5, devminor=0),
        ),
        copy_to=copy,
    )
    with tarfile.open(fileobj=copy) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert set(members) == {"work", "work/a.txt", "work/peek"}
        assert tar.extractfile("work/a.txt").read() == b"x" * 100_000
    assert {(m.uid, m.gid) for m in members.values()} == {(1000, 1000)}
    assert members["work/a.txt"].mode == 0o755  # no setuid bit survives


def test_a_name_that_is_not_utf8_is_recorded_readably():
    raw = tarfile.TarInfo("x")
    raw.name = "work/caf\udce9.txt"  # the byte 0xE9 alone, as tarfile reads a Latin-1 name
    tree = archive.read_tree(tar_stream((raw, b"")))
    assert list(tree.entries) == ["caf\\xe9.txt"]


def test_texts_are_kept_only_for_small_changed_files():
    before = archive.read_tree(tar_stream(member("work/same.txt", data=b"same\n"), member("work/big", data=b"")))
    big = b"y" * (archive.MAX_TEXT_BYTES + 1)
    after = archive.read_tree(
        tar_stream(member("work/same.txt", data=b"same\n"), member("work/big", data=big), chunk=65536), baseline=before
    )
    assert after.entries["same.txt"].text is None  # unchanged: its text is not needed
    assert after.entries["big"].text is None and after.entries["big"].size == len(big)


def test_paths_outside_the_root_are_not_part_of_the_tree():
    tree = archive.read_tree(
        tar_stream(
            member("work/../etc/passwd", data=b"root\n"),
            member("/work/abs", data=b"a"),
            member("other/x", data=b"x"),
            member("work/ok", data=b"ok"),
        )
    )
    assert set(tree.entries) == {"abs", "ok"}  # "/work/abs" is work/abs: the leading slash is not a way out


def test_extract_writes_only_small_regular_files_inside_the_folder(tmp_path):
    dest = tmp_path / "out"
    skipped = archive.extract_files(
        tar_stream(
            member("out/session.jsonl", data=b'{"usage": 1}\n'),
            member("out/sub/more.json", data=b"{}"),
            member("out/../escape", data=b"no"),
            member("out/link", tarfile.SYMTYPE, linkname="/etc/passwd"),
            member("out/pipe", tarfile.FIFOTYPE),
            member("out/huge", data=b"z" * 2000),
        ),
        "out",
        dest,
        max_file_bytes=1000,
        max_total_bytes=10_000,
    )
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()) == [
        "session.jsonl",
        "sub/more.json",
    ]
    assert sorted(skipped) == ["huge", "link", "pipe"]
    assert not (tmp_path / "escape").exists()


def test_extract_never_writes_through_a_link_it_did_not_make(tmp_path):
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "a").symlink_to(tmp_path / "victim")
    with pytest.raises(OSError):
        archive.extract_files(
            tar_stream(member("out/a", data=b"overwrite")), "out", dest, max_file_bytes=100, max_total_bytes=100
        )
    assert not (tmp_path / "victim").exists()


def test_a_file_too_large_to_matter_is_recorded_by_size_read_past_and_kept_from_the_grader(monkeypatch):
    monkeypatch.setattr(archive, "MAX_FILE_BYTES", 1000)
    copy = archive.spool()
    tree = archive.read_tree(
        tar_stream(member("work/big.bin", data=b"\0" * 5000), member("work/ok.txt", data=b"ok"), chunk=512),
        copy_to=copy,
    )
    assert tree.entries["big.bin"] == archive.Entry("file", "size:5000", 5000)
    assert tree.omitted == {"big.bin": "larger than 0 MiB"}
    with tarfile.open(fileobj=copy) as tar:
        assert tar.getnames() == ["work/ok.txt"]


def test_a_long_read_still_answers_a_cancel(monkeypatch):
    monkeypatch.setattr(archive, "CHECK_EVERY_BYTES", archive.BLOCK)
    checks = []
    archive.read_tree(
        tar_stream(member("work/a", data=b"x" * (6 * archive.BLOCK)), chunk=65536), checkpoint=lambda: checks.append(1)
    )
    assert len(checks) >= 6  # once for the member, and once per block read inside it
