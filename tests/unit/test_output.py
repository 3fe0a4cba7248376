"""However much a container prints, what cab-check holds of it stays bounded, and says what it cut."""

from __future__ import annotations

from cab_check.sandbox.output import BoundedText, OutputRecorder


def test_the_start_and_the_end_are_kept_and_the_middle_is_counted():
    text = BoundedText(head=10, tail=20)
    printed = "".join(f"{i:05d}\n" for i in range(10_000))  # 60,000 characters in 10,000 writes
    for line in printed.splitlines(keepends=True):
        text.add(line)
    kept = text.text()
    assert kept.startswith(printed[:10]) and kept.endswith(printed[-20:])
    assert f"[cab-check: {len(printed) - 30:,} characters of output cut here]" in kept
    assert len(kept) < 100


def test_a_short_output_is_kept_whole():
    text = BoundedText(head=10, tail=20)
    text.add("hello ")
    text.add("world\n")
    assert text.text() == "hello world\n" and text.dropped == 0


def test_the_recording_and_the_live_view_stop_at_the_limit_and_say_so_once():
    shown = []
    recorder = OutputRecorder(on_output=shown.append, recorded_limit=1000)
    for _ in range(500):
        recorder.add("x" * 100)  # 50,000 characters
    recorder.add("error: disk full\n", stderr=True)
    recorded = "".join(text for _, text in recorder.events)
    assert "".join(shown) == recorded
    assert recorded.count("x") == 1000 and recorded.count("the rest is not shown or recorded") == 1
    assert recorder.cut == 50_000 - 1000 + len("error: disk full\n")
    assert recorder.stderr.text() == "error: disk full\n"  # each stream keeps its own ends
