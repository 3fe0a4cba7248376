"""A recording reads back as it was written, and anything that is not an asciicast v2 file is refused in a sentence."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cab_check.errors import BadInput
from cab_check.keys import Redactor
from cab_check.recording import HEIGHT, WIDTH, Cast, read_asciicast, write_asciicast

FIXTURE = Path(__file__).parents[1] / "gui" / "fixtures" / "aider-rust-pass" / "recording.cast"


def write_lines(path: Path, *lines: object) -> Path:
    path.write_text(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines), encoding="utf-8"
    )
    return path


def test_what_write_asciicast_writes_reads_back(tmp_path):
    events = [(0.5, "building\n"), (1.25, "\x1b[31mfailed\x1b[0m\r\n"), (3.0, "done")]
    path = tmp_path / "recording.cast"
    write_asciicast(path, events, datetime(2026, 11, 22, tzinfo=UTC), "aider × rust", Redactor())

    cast = read_asciicast(path)
    assert (cast.width, cast.height, cast.title) == (WIDTH, HEIGHT, "aider × rust")
    # The writer turns bare newlines into CR LF (the container had no TTY); the text is otherwise unchanged.
    assert cast.events == [(0.5, "building\r\n"), (1.25, "\x1b[31mfailed\x1b[0m\r\n"), (3.0, "done")]
    assert cast.duration == 3.0


def test_a_recorded_run_reads_with_all_its_output():
    cast = read_asciicast(FIXTURE)
    assert (cast.width, cast.height) == (120, 40)
    assert cast.title == "aider × polyglot/rust-error-handling"
    assert len(cast.events) == 16
    assert [t for t, _ in cast.events] == sorted(t for t, _ in cast.events)
    assert "Aider v0.86.2\r\n" in [text for _, text in cast.events]
    assert cast.duration == cast.events[-1][0]


def test_only_output_events_are_kept(tmp_path):
    path = write_lines(
        tmp_path / "mixed.cast",
        {"version": 2, "width": 80, "height": 24},
        [0.1, "o", "hello"],
        [0.2, "i", "typed"],
        [0.3, "m", "marker"],
        "",
        [0.4, "o", " world"],
    )
    cast = read_asciicast(path)
    assert cast == Cast(width=80, height=24, title="", events=[(0.1, "hello"), (0.4, " world")])


def test_a_recording_without_output_lasts_no_time(tmp_path):
    cast = read_asciicast(write_lines(tmp_path / "empty.cast", {"version": 2, "width": 80, "height": 24}))
    assert cast.events == [] and cast.duration == 0


@pytest.mark.parametrize(
    ("lines", "says"),
    [
        ((), "first line is not a JSON header"),
        (("not json at all",), "first line is not a JSON header"),
        (({"version": 1, "width": 80, "height": 24, "stdout": []},), "version 1"),
        (({"version": 2, "width": 0, "height": 24},), "valid width and height"),
        (({"version": 2, "height": 24},), "valid width and height"),
        (({"version": 2, "width": 80, "height": 24}, [0.1, "o", "ok"], [0.2, "o"]), "line 3 is not"),
        (({"version": 2, "width": 80, "height": 24}, "{broken"), "line 2 is not"),
        (({"version": 2, "width": 80, "height": 24}, ["soon", "o", "x"]), "line 2 is not"),
    ],
)
def test_a_file_that_is_not_asciicast_v2_is_refused_in_one_sentence(tmp_path, lines, says):
    path = write_lines(tmp_path / "bad.cast", *lines)
    with pytest.raises(BadInput) as info:
        read_asciicast(path)
    message = str(info.value)
    assert says in message and str(path) in message
    assert message.endswith(".") and "\n" not in message


def test_a_missing_or_unreadable_file_is_refused_in_one_sentence(tmp_path):
    with pytest.raises(BadInput, match=r"There is no recording at .*nothing-here\.cast"):
        read_asciicast(tmp_path / "nothing-here.cast")
    with pytest.raises(BadInput, match="Could not read the recording"):
        read_asciicast(tmp_path)  # a folder
    binary = tmp_path / "binary.cast"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(BadInput, match="not UTF-8"):
        read_asciicast(binary)
