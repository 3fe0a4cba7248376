"""What an agent container can really reach, found by running one: the isolation `cab doctor` reports is measured
on the engine in use, never assumed from what kind of engine it is."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Literal

from cab_check.sandbox import ContainerSpec, Sandbox

# Runs in the probe container (the relay's image has Python). Each target gets one try with a short timeout; the
# answer is what happened, in words, never an exception.
PROBE = r"""
import json, socket, sys, time, urllib.error, urllib.request
def up(name):  # a namespace may hold tunnel devices a kernel module made, down and going nowhere
    with open("/sys/class/net/%s/flags" % name) as flags:
        return int(flags.read(), 16) & 1
report = {"interfaces": sorted(name for _, name in socket.if_nameindex() if up(name)), "results": {}}
for target in json.loads(sys.argv[1]):
    kind, address = target["kind"], target["address"]
    t0 = time.monotonic()
    try:
        if kind == "http":
            request = urllib.request.Request(address, headers=target.get("headers", {}))
            try:
                outcome = "answered %d" % urllib.request.urlopen(request, timeout=3).status
            except urllib.error.HTTPError as exc:
                outcome = "answered %d" % exc.code
        elif kind == "tcp":
            host, port = address.rsplit(":", 1)
            socket.create_connection((host.strip("[]"), int(port)), timeout=3).close()
            outcome = "connected"
        elif kind == "unix":
            sock = socket.socket(socket.AF_UNIX)
            sock.settimeout(3)
            sock.connect(address)
            outcome = "connected"
        else:
            socket.getaddrinfo(address, 443)
            outcome = "resolved"
    except Exception as exc:
        outcome = "failed: %s" % (getattr(exc, "reason", None) or exc)
    report["results"][target["name"]] = {"outcome": outcome, "ms": round((time.monotonic() - t0) * 1000)}
print(json.dumps(report))
"""

Kind = Literal["http", "tcp", "unix", "dns"]


@dataclass(frozen=True)
class Target:
    name: str
    kind: Kind
    address: str  # a URL, host:port, socket path or host name
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    text: str  # "answered 200", "connected", "resolved", or "failed: …"
    ms: int

    @property
    def reached(self) -> bool:
        return not self.text.startswith("failed")


@dataclass(frozen=True)
class Report:
    interfaces: list[str]  # those that are up
    outcomes: dict[str, Outcome]
    output: str  # what the probe printed, for a failure message


# What any agent must not reach, wherever the engine runs: the internet by name and by address, and the cloud
# metadata service that hands out a machine's credentials.
OUTSIDE = [
    Target("a public name", "dns", "pypi.org"),
    Target("a public address", "tcp", "1.1.1.1:443"),
    Target("the cloud metadata service", "tcp", "169.254.169.254:80"),
]


def probe(sandbox: Sandbox, image: str, targets: list[Target], run_id: str | None = None) -> Report:
    """Runs the probe in a container joined to a fresh run network (its relay leading to a proxy that answers
    every request with 401, so 'the model' is reachable without any model) and reports every target's outcome."""
    from cab_check.asgi_server import BackgroundServer
    from cab_check.proxy import RecordingProxy, new_run_token

    run_id = run_id or "probe-" + secrets.token_hex(3)
    proxy = RecordingProxy("http://127.0.0.1:9/v1", None, new_run_token())
    try:
        with BackgroundServer(proxy.app, "127.0.0.1") as server:
            run_network = sandbox.open_network(run_id, image, server.port)
            try:
                model = Target("the model", "http", f"{run_network.url}/v1/models")
                wire = [
                    {"name": t.name, "kind": t.kind, "address": t.address, "headers": t.headers}
                    for t in [model, *targets]
                ]
                box = sandbox.create(
                    run_id,
                    ContainerSpec(
                        image=image,
                        command=["python3", "-c", PROBE, json.dumps(wire)],
                        role="probe",
                        network=run_network,
                    ),
                )
                ran = sandbox.run(box, timeout_s=120)
            finally:
                run_network.close()
    finally:
        sandbox.remove_run(run_id)
    try:
        report = json.loads(ran.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return Report([], {}, ran.stdout + ran.stderr)
    outcomes = {name: Outcome(r["outcome"], r["ms"]) for name, r in report["results"].items()}
    return Report(report["interfaces"], outcomes, ran.stdout + ran.stderr)
