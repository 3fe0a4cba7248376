"""Figures for the compass: cab-check against agents that misbehave on purpose and a process killed mid-run.

    python bench/faults.py

Runs each hostile agent of tests/integration/hostile.py as a real `cab check --image`, kills one `cab check` with
SIGKILL mid-agent and runs `cab cleanup`, then prints: faults tried, runs that ended by themselves, what is left
on the engine and on disk afterwards (goal 0), and the peak RSS of `cab check` during the hostile runs.
Uses a throwaway history (CAB_CHECK_HOME). Figures go in docs/reliability.md."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))

import hostile  # noqa: E402

from cab_check import store, workspace  # noqa: E402

TIMEOUTS = {"workdir": 600, "gigabyte": 300, "memory-hog": 300, "fork-bomb": 20, "ignores-sigterm": 20}


def leftovers(client: docker.DockerClient) -> dict[str, int]:
    """Everything of cab-check's still on the engine or this disk that no live process owns."""
    containers = client.api.containers(all=True, filters={"label": "cab-check.run"})
    temp = [
        r for r in Path(tempfile.gettempdir()).glob(f"{workspace.TEMP_PREFIX}*") if (r / workspace.OWNER_FILE).is_file()
    ]
    staging = list((store.data_dir() / "runs").glob(f"{store.STAGING_PREFIX}*"))
    return {"containers": len(containers), "temp folders": len(temp), "half-saved runs": len(staging)}


def main() -> int:
    os.environ["CAB_CHECK_HOME"] = tempfile.mkdtemp(prefix="cab-check-faults-")
    client = docker.from_env()
    tried = ended = 0
    peaks = {}
    for name, timeout_s in TIMEOUTS.items():
        ran = hostile.cab_check("--image", hostile.image(name), "--timeout", str(timeout_s))
        tried += 1
        ended += ran.result is not None and ran.exit_code in (0, 1)
        peaks[name] = ran.peak_rss_mb
        print(f"{name:16} exit {ran.exit_code}  {ran.seconds:6.1f} s  peak RSS {ran.peak_rss_mb:6.0f} MB", flush=True)

    child = subprocess.Popen(
        [sys.executable, "-m", "cab_check", "check", "--image", hostile.image("sleeper")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while not client.api.containers(filters={"label": [f"cab-check.pid={child.pid}", "cab-check.role=agent"]}):
        time.sleep(0.2)
    child.send_signal(signal.SIGKILL)
    child.wait()
    tried += 1
    subprocess.run([sys.executable, "-m", "cab_check", "cleanup"], check=True, capture_output=True)
    print(f"{'kill -9 mid-agent':16} then cab cleanup", flush=True)

    left = leftovers(client)
    print(
        f"\nfaults tried {tried}; runs that ended by themselves {ended} of {len(TIMEOUTS)}; "
        f"left afterwards: {', '.join(f'{n} {k}' for k, n in left.items())} (goal 0)"
    )
    print(
        f"peak RSS of cab check: hostile workdir {peaks['workdir']:.0f} MB, 1 GB of output "
        f"{peaks['gigabyte']:.0f} MB, highest {max(peaks.values()):.0f} MB"
    )
    return 0 if ended == len(TIMEOUTS) and not any(left.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
