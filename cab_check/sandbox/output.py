"""What a container prints, held within fixed bounds whatever it prints: an agent may print a gigabyte.

Kept: the first and the last part of each stream (parsers read a CLI's own summary from either end; CAB's tails
come from the end), and a recording of the interleaved output up to a limit, after which one line says how much
was cut. The live view gets the same recorded part and the same line."""

from __future__ import annotations

import time
from collections.abc import Callable

HEAD_CHARS = 2 * 1024 * 1024
TAIL_CHARS = 6 * 1024 * 1024
RECORDED_CHARS = 16 * 1024 * 1024


class BoundedText:
    """The start and the end of a stream of text, and how much fell between them."""

    def __init__(self, head: int = HEAD_CHARS, tail: int = TAIL_CHARS) -> None:
        self._head_limit, self._tail_limit = head, tail
        self._head: list[str] = []
        self._head_size = 0
        self._tail: list[str] = []
        self._tail_size = 0
        self.dropped = 0

    def add(self, text: str) -> None:
        if self._head_size < self._head_limit:
            taken = text[: self._head_limit - self._head_size]
            self._head.append(taken)
            self._head_size += len(taken)
            text = text[len(taken) :]
        if not text:
            return
        self._tail.append(text)
        self._tail_size += len(text)
        while self._tail_size - len(self._tail[0]) >= self._tail_limit:  # whole pieces the tail no longer needs
            self._tail_size -= len(self._tail[0])
            self.dropped += len(self._tail.pop(0))

    def text(self) -> str:
        tail = "".join(self._tail)
        if self._tail_size > self._tail_limit:
            cut = self._tail_size - self._tail_limit
            self.dropped, tail = self.dropped + cut, tail[cut:]
            self._tail, self._tail_size = [tail], len(tail)
        middle = f"\n[cab-check: {self.dropped:,} characters of output cut here]\n" if self.dropped else ""
        return "".join(self._head) + middle + tail


class OutputRecorder:
    """One container's stdout and stderr, bounded, with a timed recording of both as they interleaved."""

    def __init__(self, on_output: Callable[[str], None] | None = None, recorded_limit: int = RECORDED_CHARS) -> None:
        self.stdout, self.stderr = BoundedText(), BoundedText()
        self.events: list[tuple[float, str]] = []
        self._on_output = on_output
        self._limit = recorded_limit
        self._recorded = 0
        self.cut = 0  # characters neither recorded nor shown live
        self._started = time.monotonic()

    def add(self, text: str, stderr: bool = False) -> None:
        (self.stderr if stderr else self.stdout).add(text)
        if self._recorded >= self._limit:
            self.cut += len(text)
            return
        shown = text[: self._limit - self._recorded]
        self._recorded += len(shown)
        self.cut += len(text) - len(shown)
        self._emit(shown)
        if self._recorded >= self._limit:
            self._emit(
                f"\r\n[cab-check: the output passed {self._limit // (1024 * 1024)} MiB; the rest is not shown "
                "or recorded]\r\n"
            )

    def _emit(self, text: str) -> None:
        self.events.append((time.monotonic() - self._started, text))
        if self._on_output is not None:
            self._on_output(text)
