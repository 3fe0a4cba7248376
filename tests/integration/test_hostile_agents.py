"""Agents that misbehave on purpose, as a user would meet them by running a stranger's agent: every run ends,
is graded and saved honestly, the host never blocks, follows a link or holds a file whole, and nothing is left.

Each runs the real `cab check` with `--image` (tests/integration/hostile.py) and measures its peak memory."""

from __future__ import annotations

from pathlib import Path

import hostile
import pytest


def test_what_an_agent_leaves_in_the_workdir_is_recorded_as_what_it_is(isolated_history, leftovers):
    ran = hostile.cab_check("--image", hostile.image("workdir"), "--timeout", "600")
    assert ran.exit_code == 1, ran.stderr[-3000:]  # it ran, it did not pass
    result = ran.result
    blast = result["axes"]["blast_radius"]
    added = set(blast["added"])
    for path in (
        "pipe",
        "host-file",
        "host-root",
        "hard-link.rs",
        "caf\\xe9-latin1.txt",
        "sparse-5g.bin",
        "random-50m.bin",
        "many/0",
        "many/99999",
    ):
        assert path in added, path
    assert sum(p.startswith("many/") for p in added) == 100_000
    # A socket cannot travel in a tar stream: no engine copies one out, so it is neither seen nor counted.
    assert "sock" not in added
    assert blast["total_changes"] == len(added) + len(blast["modified"]) + len(blast["removed"])
    diff = result["diff"]
    assert "pipe: FIFO (named pipe) (added)" in diff
    assert "host-file: symlink to /etc/passwd (added)" in diff and "host-root: symlink to / (added)" in diff
    assert "Binary file sparse-5g.bin changed (5,368,709,120 bytes, not shown)" in diff
    assert "root:x:0:0" not in diff  # no link was followed: /etc/passwd's first line is nowhere
    assert result["axes"]["pass_rate"]["exit_code"] == 101  # the grader ran, on the tree the agent left
    assert any("pipe (FIFO (named pipe))" in n and "sparse-5g.bin (larger than 64 MiB)" in n for n in result["notes"])
    assert ran.peak_rss_mb < 1024, f"peak RSS {ran.peak_rss_mb:.0f} MB"
    print(f"\nhostile workdir: {ran.seconds:.0f} s, peak RSS {ran.peak_rss_mb:.0f} MB")
    assert leftovers(result["run_id"]) == []


def test_a_gigabyte_of_output_is_cut_in_the_view_and_the_recording(isolated_history, leftovers):
    ran = hostile.cab_check("--image", hostile.image("gigabyte"), "--timeout", "300")
    result = ran.result
    assert ran.exit_code == 1 and result["exit_code"] == 0
    assert any("more than the 16 MiB that are shown and recorded" in n for n in result["notes"])
    recording = Path(result["recording"])
    assert recording.stat().st_size < 40 * 1024 * 1024
    assert "the rest is not shown or recorded" in recording.read_text()
    assert ran.peak_rss_mb < 1024, f"peak RSS {ran.peak_rss_mb:.0f} MB"
    print(f"\n1 GB of output: {ran.seconds:.0f} s, peak RSS {ran.peak_rss_mb:.0f} MB")
    assert leftovers(result["run_id"]) == []


def test_an_agent_past_its_memory_limit_is_recorded_as_killed_for_memory(isolated_history, leftovers):
    ran = hostile.cab_check("--image", hostile.image("memory-hog"), "--timeout", "300")
    result = ran.result
    assert ran.exit_code == 1 and result["exit_code"] == 137 and not result["timed_out"]
    assert any(
        n.startswith("The agent was killed for passing its container's memory limit (4g)") for n in result["notes"]
    )
    assert result["axes"]["pass_rate"]["exit_code"] == 101  # graded like any other run
    assert leftovers(result["run_id"]) == []


@pytest.mark.parametrize("name", ["fork-bomb", "ignores-sigterm"])
def test_an_agent_that_will_not_end_is_killed_at_the_timeout(name, isolated_history, leftovers):
    ran = hostile.cab_check("--image", hostile.image(name), "--timeout", "20")
    result = ran.result
    assert ran.exit_code == 1, ran.stderr[-3000:]
    assert result["timed_out"] is True and result["axes"]["pass_rate"]["timed_out"] is True
    launch = next(s for s in result["spans"] if s["kind"] == "container")
    assert 19_000 < launch["duration_ms"] < 60_000
    assert result["axes"]["pass_rate"]["exit_code"] == 101  # still graded
    assert ran.seconds < 240
    assert leftovers(result["run_id"]) == []
