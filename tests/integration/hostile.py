"""Agents that misbehave on purpose, for the reliability tests and bench/faults.py.

Each is an image a user could pass with `cab check --image`: cab-check's tui-base with an `aider` on PATH that
ignores its arguments and does one hostile thing. Built on the local engine, tagged by a hash of the script."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass

import docker

from cab_check.catalog import base_dir
from cab_check.sandbox import connect
from cab_check.settings import find_ca_bundle

# Python is in tui-base; /work is the agent's workdir, owned by the agent's user.
SCRIPTS = {
    # Everything a workdir can hold that a host must not trip over: never block, follow, or read whole.
    "workdir": r"""#!/usr/bin/env python3
import os, socket, subprocess
os.chdir("/work")
os.mkfifo("pipe")
socket.socket(socket.AF_UNIX).bind("sock")
os.symlink("/etc/passwd", "host-file")
os.symlink("/", "host-root")
os.link("src/lib.rs", "hard-link.rs")
for target in ("/etc/passwd", "/etc/shadow"):
    try:
        os.link(target, "hard-" + os.path.basename(target))
    except OSError as exc:
        print("hard link to", target, "refused:", exc.strerror)
open(b"caf\xe9-latin1.txt", "wb").write(b"not utf-8 in its name\n")
with open("sparse-5g.bin", "wb") as f:
    f.truncate(5 * 1024**3)
os.mkdir("many")
for i in range(100_000):
    open(f"many/{i}", "wb").close()
with open("random-50m.bin", "wb") as f:
    f.write(os.urandom(50 * 1024**2))
print("left a FIFO, a socket, links, a latin-1 name, 5 GB sparse, 100,000 files, 50 MB binary")
""",
    "gigabyte": "#!/bin/sh\nhead -c 1073741824 /dev/zero | tr '\\0' 'x'\necho\necho done printing\n",
    "fork-bomb": "#!/bin/sh\nbomb() {\n  bomb | bomb &\n}\nbomb\nsleep 600\n",
    "memory-hog": "#!/usr/bin/env python3\nblock = bytearray(6 * 1024**3)  # past the 4 GB limit, every page touched\n",
    "ignores-sigterm": "#!/bin/sh\ntrap '' TERM INT\nwhile :; do sleep 1; done\n",
    "sleeper": "#!/bin/sh\nsleep 600\n",
}


@dataclass
class Outcome:
    exit_code: int
    result: dict | None
    stderr: str
    peak_rss_mb: float
    seconds: float


def cab_check(*args: str, timeout_s: int = 900) -> Outcome:
    """`cab check … --json` in a process of its own; its own peak RSS from the kernel's accounting of it."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        child = subprocess.Popen([sys.executable, "-m", "cab_check", "check", "--json", *args], stdout=out, stderr=err)
        deadline = started + timeout_s
        while (done := os.wait4(child.pid, os.WNOHANG))[0] == 0:
            if time.monotonic() > deadline:
                child.kill()
                raise TimeoutError(f"cab check {' '.join(args)} did not end within {timeout_s} s")
            time.sleep(0.2)
        _, status, usage = done
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read().decode()
        return Outcome(
            child.returncode,
            json.loads(text) if text.strip() else None,
            err.read().decode(),
            usage.ru_maxrss / 1024,
            time.monotonic() - started,
        )


def image(name: str, client: docker.DockerClient | None = None) -> str:
    """The hostile image `name`, built on the local engine if it is not there yet; returns its tag."""
    script = SCRIPTS[name]
    base = connect().ensure_image("tui-base", base_dir("tui-base"), find_ca_bundle(), lambda _: None).tag
    dockerfile = f"FROM {base}\nCOPY aider /usr/local/bin/aider\nUSER cab\n"
    tag = f"cab-test/hostile-{name}:{hashlib.sha256((dockerfile + script).encode()).hexdigest()[:12]}"
    client = client or docker.from_env()
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for path, text, mode in (("Dockerfile", dockerfile, 0o644), ("aider", script, 0o755)):
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    client.images.build(fileobj=context, custom_context=True, tag=tag, rm=True)
    return tag
