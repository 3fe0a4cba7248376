"""The agent's terminal output as an asciicast v2 file, so it can be played back with its real timing."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from cab_check.secrets import Redactor
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
