"""Lets a run's agent network reach exactly one port on this host: the proxy's.

Docker's internal networks have no route out, but the host itself answers on the network's gateway address, so
every service listening on 0.0.0.0 here (a database, another model server) would be open to the agent. Traffic
to the host passes the INPUT chain, not Docker's FORWARD rules, so the fence is two INPUT rules on the run's
bridge: accept the proxy port, drop the rest. That needs root and iptables; without them the run says plainly
that the host was not fenced."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable

COMMENT_PREFIX = "cab-check:"


def _rules(bridge: str, port: int, run_id: str) -> list[list[str]]:
    tag = ["-m", "comment", "--comment", COMMENT_PREFIX + run_id]
    return [
        ["-i", bridge, "-p", "tcp", "--dport", str(port), *tag, "-j", "ACCEPT"],
        ["-i", bridge, *tag, "-j", "DROP"],
    ]


def can_fence() -> bool:
    return os.geteuid() == 0 and shutil.which("iptables") is not None


def fence(bridge: str, port: int, run_id: str) -> Callable[[], None] | None:
    """Puts the fence up; returns what takes it down, or None when this machine cannot fence."""
    if not can_fence():
        return None
    accept, drop = _rules(bridge, port, run_id)
    # Inserted at the top, DROP first, so ACCEPT ends up above it.
    for rule in (drop, accept):
        subprocess.run(["iptables", "-w", "-I", "INPUT", "1", *rule], check=True, capture_output=True)

    def take_down() -> None:
        for rule in (accept, drop):
            subprocess.run(["iptables", "-w", "-D", "INPUT", *rule], check=False, capture_output=True)

    return take_down


def remove_orphans(live_run_ids: set[str]) -> int:
    """Deletes fences of runs that are gone (a killed cab-check); returns how many rules went."""
    if not can_fence():
        return 0
    listing = subprocess.run(["iptables", "-w", "-S", "INPUT"], check=False, capture_output=True, text=True).stdout
    removed = 0
    for line in listing.splitlines():
        if COMMENT_PREFIX not in line or not line.startswith("-A INPUT "):
            continue
        run_id = line.split(COMMENT_PREFIX, 1)[1].split()[0].strip('"')
        if run_id not in live_run_ids:
            spec = line.removeprefix("-A INPUT ").replace('"', "").split()
            if subprocess.run(["iptables", "-w", "-D", "INPUT", *spec], check=False, capture_output=True).returncode == 0:
                removed += 1
    return removed
