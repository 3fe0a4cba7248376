"""The agent's terminal output as an asciicast v2 file, so it can be played back with its real timing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeGuard

from cab_check.errors import BadInput
from cab_check.keys import Redactor
from cab_check.store import write_atomic

WIDTH, HEIGHT = 120, 40


def write_asciicast(
    path: Path, events: list[tuple[float, str]], started: datetime, title: str, redactor: Redactor
) -> None:
    header = {
        "version": 2,
        "width": WIDTH,
        "height": HEIGHT,
        "timestamp": int(started.timestamp()),
        "title": redactor.text(title),
        "env": {"TERM": "xterm-256color", "SHELL": "/bin/sh"},
    }
    lines = [json.dumps(header)]
    for offset, text in events:
        # The container had no TTY, so bare newlines would not return the cursor on playback.
        terminal_text = text.replace("\r\n", "\n").replace("\n", "\r\n")
        lines.append(json.dumps([round(offset, 6), "o", redactor.text(terminal_text)]))
    write_atomic(path, "\n".join(lines) + "\n")


@dataclass(frozen=True)
class Cast:
    """A recording as read back: the terminal size it was made at and its output events, in time order.

    `events` holds only output ("o") events as (seconds since the start, text written to the terminal).
    """

    width: int
    height: int
    title: str
    events: list[tuple[float, str]]

    @property
    def duration(self) -> float:
        """Seconds from the start to the last output event; 0 for a recording without output."""
        return self.events[-1][0] if self.events else 0.0


def read_asciicast(path: Path) -> Cast:
    """Reads an asciicast v2 file; raises BadInput with one sentence when it is missing or not such a file.

    Input ("i"), marker and other event types are skipped: playback only needs what the terminal showed.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"There is no recording at {path}.") from None
    except UnicodeDecodeError:
        raise BadInput(f"{path} is not an asciicast v2 recording: it is not UTF-8 text.") from None
    except OSError as error:
        raise BadInput(f"Could not read the recording {path}: {error.strerror or error}.") from None

    lines = text.splitlines()
    header = _json_or_none(lines[0]) if lines else None
    if not isinstance(header, dict):
        raise BadInput(f"{path} is not an asciicast v2 recording: its first line is not a JSON header.")
    if header.get("version") != 2:
        raise BadInput(f"{path} is not an asciicast v2 recording: its header says version {header.get('version')!r}.")
    width, height = header.get("width"), header.get("height")
    if not (_is_size(width) and _is_size(height)):
        raise BadInput(f"{path} is not an asciicast v2 recording: its header lacks a valid width and height.")
    title = header.get("title")

    events: list[tuple[float, str]] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        event = _json_or_none(line)
        if not (
            isinstance(event, list)
            and len(event) == 3
            and _is_time(event[0])
            and isinstance(event[1], str)
            and isinstance(event[2], str)
        ):
            raise BadInput(f"{path} is not an asciicast v2 recording: line {number} is not a [time, type, data] event.")
        if event[1] == "o":
            events.append((float(event[0]), event[2]))
    return Cast(width=width, height=height, title=title if isinstance(title, str) else "", events=events)


def _json_or_none(line: str) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        return None


def _is_size(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _is_time(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
