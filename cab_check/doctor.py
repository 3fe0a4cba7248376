"""`cab doctor`: is this machine (and, when given, this endpoint) ready to run cells, and if not, what to do.

Each finding is ok, warn or fail with the fix; the engine reports, the CLI draws."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cab_check import catalog, handshake, host_fence, store
from cab_check.errors import CabError, EnvironmentProblem, HandshakeFailed
from cab_check.models import REFERENCE_MODEL_ID, TaskSpec, TuiNeeds, TuiSpec
from cab_check.secrets import Redactor

Status = Literal["ok", "warn", "fail"]
GB = 1024**3
DISK_WARN_GB, DISK_FAIL_GB = 15, 4  # a full set of images is about 12 GB


@dataclass(frozen=True)
class Finding:
    area: str
    status: Status
    detail: str
    fix: str = ""


def machine() -> list[Finding]:
    """Docker, disk, images, keyring and isolation, in the order a user would fix them."""
    from cab_check.docker_backend import DockerBackend

    findings = [_keyring()]
    try:
        docker = DockerBackend()
    except CabError as exc:
        return [Finding("docker", "fail", str(exc), "start dockerd (or Docker Desktop) and check `docker info`"),
                *findings]
    info = docker.client.info()
    findings.insert(0, Finding("docker", "ok", f"engine {info.get('ServerVersion', '?')} reachable"))
    findings.append(_disk(Path(info.get("DockerRootDir") or store.data_dir())))
    findings += _images(docker)
    findings.append(_isolation(info))
    return findings


def _keyring() -> Finding:
    from cab_check.secrets import usable_keyring

    try:
        backend = usable_keyring().get_keyring()
    except CabError as exc:
        return Finding("keyring", "warn", str(exc), "use --key-env VAR or --key-stdin")
    return Finding("keyring", "ok", f"{type(backend).__module__}.{type(backend).__name__}")


def _disk(folder: Path) -> Finding:
    probe = folder if folder.exists() else Path("/")
    try:
        free = shutil.disk_usage(probe).free / GB
    except OSError:  # Docker's root dir may not be ours to read (rootless, Desktop VM)
        free = shutil.disk_usage(Path.home()).free / GB
    detail = f"{free:.1f} GB free for images at {probe}"
    if free < DISK_FAIL_GB:
        return Finding("disk", "fail", detail, "free space: `docker image prune` removes images no cell uses")
    if free < DISK_WARN_GB:
        return Finding("disk", "warn", detail, "building every TUI image takes about 12 GB")
    return Finding("disk", "ok", detail)


def _images(docker) -> list[Finding]:
    wanted = {name: tui.root for name, tui in catalog.shipped_tuis().items() if tui.buildable}
    wanted |= {t.toolchain: catalog.image_dir(t.toolchain) for t in catalog.shipped_tasks().values()}
    states = {name: docker.image_state(name, folder) for name, folder in sorted(wanted.items())}
    present = [n for n, s in states.items() if s == "present"]
    stale = [n for n, s in states.items() if s == "stale"]
    missing = [n for n, s in states.items() if s == "missing"]
    findings = [Finding("images", "ok", f"{len(present)} of {len(states)} built and current")]
    if stale:
        findings.append(Finding("images", "warn", f"out of date: {', '.join(stale)}",
                                "they rebuild on their next run; `docker image prune` clears the old ones"))
    if missing:
        findings.append(Finding("images", "warn", f"not built yet: {', '.join(missing)}",
                                "each builds on its first run (a minute or three)"))
    return findings


def _isolation(info: dict) -> Finding:
    if "docker desktop" in str(info.get("OperatingSystem", "")).lower():
        return Finding("isolation", "warn", "Docker Desktop: the agent's network has no route out, but the host "
                       "cannot be fenced from here", "keep other services on this machine off while running cells")
    if host_fence.can_fence():
        return Finding("isolation", "ok", "internal network per run; the host is fenced to the proxy port")
    return Finding("isolation", "warn", "internal network per run, but this host's own services stay reachable "
                   "from it (fencing needs root and iptables)", "run cab-check as root, or keep other services off")


@dataclass(frozen=True)
class Compatibility:
    tui: str
    ok: bool
    detail: str


def endpoint_grid(base_url: str, api_key: str | None, model: str) -> tuple[list[Finding], list[Compatibility]]:
    """The handshake once per capability, then which TUIs those capabilities serve."""
    redactor = Redactor(api_key)
    capability: dict[str, str | None] = {}  # capability → None when it works, else why not
    for name, needs in (("chat", TuiNeeds()), ("streaming", TuiNeeds(streaming=True)),
                        ("tool calls", TuiNeeds(tool_calls=True))):
        try:
            handshake.handshake(base_url, api_key, model, needs, redactor)
            capability[name] = None
        except CabError as exc:
            capability[name] = str(exc)
            if name == "chat":
                break
    findings = [Finding(f"endpoint {name}", "ok" if why is None else "fail", why or "works")
                for name, why in capability.items()]
    grid = [compatible(tui, capability) for tui in catalog.shipped_tuis().values()]
    return findings, grid


def compatible(tui: TuiSpec, capability: dict[str, str | None]) -> Compatibility:
    """The verdict for one TUI, from what works (None) and why the rest does not."""
    needed = ["chat", *tui.needs.features]
    missing = [n for n in needed if capability.get(n, "not checked") is not None]
    if missing:
        return Compatibility(tui.name, False, f"needs {', '.join(missing)}")
    return Compatibility(tui.name, True, "compatible" + ("" if tui.buildable else " (with --image)"))


# The handshake's ping probe does not fit the reference model, which only ever calls tools that apply its fix:
# offered one file-writing tool and the task's prompt, it must call that tool.
FILE_TOOL = {
    "type": "function",
    "function": {
        "name": "write_file",
        "description": "Writes a whole file.",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string", "description": "The file to write."},
                           "content": {"type": "string", "description": "The file's new content."}},
            "required": ["path", "content"],
        },
    },
}


def reference_grid(task: TaskSpec) -> tuple[list[Finding], list[Compatibility]]:
    """The reference model for `task`, served on loopback as a run serves it, probed for each capability a TUI
    can need: the run's own chat probe, the handshake's streaming probe, and a call of an offered file tool."""
    from cab_check.asgi_server import BackgroundServer, ServerStartError
    from cab_check.reference_model import ReferenceModel

    redactor = Redactor()
    server = BackgroundServer(ReferenceModel.from_task(task).app, "127.0.0.1")
    try:
        server.start()
    except ServerStartError as exc:
        raise EnvironmentProblem(f"The reference model could not be served on loopback ({exc}).") from None
    with server:
        base = f"{server.url}/v1"
        probes = {
            "chat": lambda: handshake.probe_chat(base, None, REFERENCE_MODEL_ID, redactor).detail,
            "streaming": lambda: handshake.handshake(base, None, REFERENCE_MODEL_ID, TuiNeeds(streaming=True),
                                                     redactor)[-1].detail,
            "tool calls": lambda: _reference_calls_tool(base, task),
        }
        capability: dict[str, str | None] = {}
        findings = []
        for name, probe in probes.items():
            try:
                findings.append(Finding(name, "ok", probe()))
                capability[name] = None
            except CabError as exc:
                findings.append(Finding(name, "fail", str(exc)))
                capability[name] = str(exc)
                if name == "chat":
                    break  # nothing else can work
    return findings, [compatible(tui, capability) for tui in catalog.shipped_tuis().values()]


def _reference_calls_tool(base_url: str, task: TaskSpec) -> str:
    import httpx

    from cab_check.reference_model import NOTHING_TO_FIX

    url = f"{base_url}/chat/completions"
    body = {"model": REFERENCE_MODEL_ID, "messages": [{"role": "user", "content": task.prompt}],
            "tools": [FILE_TOOL], "tool_choice": "auto", "stream": False}
    try:
        response = httpx.post(url, json=body, timeout=handshake.REQUEST_TIMEOUT_S)
        message = response.json()["choices"][0]["message"]
        calls = message.get("tool_calls") or []
        function = calls[0]["function"] if calls else {}
        arguments = json.loads(function["arguments"]) if function else {}
    except (httpx.HTTPError, ValueError, LookupError, TypeError, AttributeError) as exc:
        raise HandshakeFailed(f"The reference model gave no usable answer to a request with tools "
                              f"({type(exc).__name__}).", "no_tool_calls") from None
    if function.get("name") == FILE_TOOL["function"]["name"] and isinstance(arguments, dict):
        return f"called the file tool it was offered, to write {arguments.get('path', 'a file')}"
    if message.get("content") == NOTHING_TO_FIX:
        return "the task needs no file changes, so it answers in text whatever tools it is offered"
    said = str(message.get("content") or function.get("name") or "nothing")[:120]
    raise HandshakeFailed(f"The reference model did not call the file tool it was offered ({said!r}).",
                          "no_tool_calls")
