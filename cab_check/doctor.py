"""`cab doctor`: is this machine (and, when given, this endpoint) ready to run cells, and if not, what to do.

Each finding is ok, warn or fail with the fix; the engine reports, the CLI draws. Where the fix is something the
user changes in a front end (a flag, a control), the text leaves that remedy's slot open (see errors.Remedy):
`worded(words)` fills it in a front end's words."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from cab_check import catalog, handshake
from cab_check.errors import NEUTRAL_WORDS, CabError, EnvironmentProblem, HandshakeFailed, Remedy, Words, fill
from cab_check.keys import Redactor
from cab_check.models import REFERENCE_MODEL_ID, TaskSpec, TuiNeeds, TuiSpec
from cab_check.sandbox.images import image_tag

Status = Literal["ok", "warn", "fail"]
GB = 1024**3
DISK_WARN_GB, DISK_FAIL_GB = 15, 4  # a full set of images is about 12 GB


@dataclass(frozen=True)
class Finding:
    """One thing doctor looked at. `said` and `to_do` may leave `remedy`'s slot open: `detail` and `fix` read them
    in neutral words, `worded(words)` in a front end's."""

    area: str
    status: Status
    said: str
    to_do: str = ""
    remedy: Remedy | None = None

    @property
    def detail(self) -> str:
        return fill(self.said, NEUTRAL_WORDS)

    @property
    def fix(self) -> str:
        return fill(self.to_do, NEUTRAL_WORDS)

    def worded(self, words: Words) -> Finding:
        """This finding with its remedy in `words`: a flag for the CLI, a control for the app."""
        return replace(self, said=fill(self.said, words), to_do=fill(self.to_do, words))


def _failure(area: str, status: Status, exc: CabError, prefix: str = "", to_do: str = "") -> Finding:
    """A finding from an error, its remedy's slot left open for the front end."""
    return Finding(area, status, prefix + exc.template, to_do, exc.remedy)


def machine(engine: str | None = None) -> list[Finding]:
    """The engine, disk, images, keyring and isolation, in the order a user would fix them."""
    from cab_check.sandbox import connect

    findings = [_keyring()]
    try:
        sandbox = connect(engine)
    except CabError as exc:
        to_do = (
            "start Docker Desktop, dockerd or `podman system service`, or name a running engine in DOCKER_HOST "
            f"or {Remedy.ENGINE.slot}"
        )
        return [Finding("engine", "fail", exc.template, to_do, Remedy.ENGINE), *findings]
    findings.insert(0, Finding("engine", "ok", sandbox.engine.description))
    findings.append(_disk(sandbox))
    findings += _images(sandbox)
    findings.append(_isolation(sandbox))
    return findings


def _keyring() -> Finding:
    from cab_check.keys import usable_keyring

    try:
        backend = usable_keyring().get_keyring()
    except CabError as exc:
        return _failure("keyring", "warn", exc, to_do=f"give the key {Remedy.KEY.slot}")
    return Finding("keyring", "ok", f"{type(backend).__module__}.{type(backend).__name__}")


def _disk(sandbox: Any) -> Finding:
    """Free space where images live; only measurable when that is this machine's own disk."""
    root = Path(sandbox.client.info().get("DockerRootDir") or "/nonexistent")
    if sandbox.engine.remote or sandbox.engine.product.startswith("Docker Desktop") or not root.exists():
        return Finding(
            "disk",
            "ok",
            f"images live on the engine's own disk ({root}), which cab-check cannot measure from here",
            "`docker system df` on the engine shows it",
        )
    free = shutil.disk_usage(root).free / GB
    detail = f"{free:.1f} GB free for images at {root}"
    if free < DISK_FAIL_GB:
        return Finding("disk", "fail", detail, "free space: `docker image prune` removes images no cell uses")
    if free < DISK_WARN_GB:
        return Finding("disk", "warn", detail, "building every TUI image takes about 12 GB")
    return Finding("disk", "ok", detail)


def _images(sandbox: Any) -> list[Finding]:
    wanted = {name: tui.root for name, tui in catalog.shipped_tuis().items() if tui.buildable}
    wanted |= {t.toolchain: catalog.image_dir(t.toolchain) for t in catalog.shipped_tasks().values()}
    wanted["relay"] = catalog.relay_dir()
    states = {name: sandbox.image_state(name, folder) for name, folder in sorted(wanted.items())}
    present = [n for n, s in states.items() if s == "present"]
    stale = [n for n, s in states.items() if s == "stale"]
    missing = [n for n, s in states.items() if s == "missing"]
    findings = [Finding("images", "ok", f"{len(present)} of {len(states)} built and current")]
    if stale:
        findings.append(
            Finding(
                "images",
                "warn",
                f"out of date: {', '.join(stale)}",
                "they rebuild on their next run; `docker image prune` clears the old ones",
            )
        )
    if missing:
        findings.append(
            Finding(
                "images",
                "warn",
                f"not built yet: {', '.join(missing)}",
                "each builds on its first run (a minute or three)",
            )
        )
    return findings


def _isolation(sandbox: Any) -> Finding:
    """Runs the isolation probe in a real run network on this engine; says plainly when it cannot yet."""
    from cab_check import isolation

    relay = catalog.relay_dir()
    if sandbox.image_state("relay", relay) != "present":
        return Finding(
            "isolation",
            "warn",
            "not measured yet: the relay image builds on the first `cab check`",
            "run `cab check` once, then `cab doctor` again",
        )
    try:
        report = isolation.probe(sandbox, image_tag("relay", relay), isolation.OUTSIDE)
    except CabError as exc:
        return _failure("isolation", "fail", exc, "the probe could not run: ")
    reached = [name for name, outcome in report.outcomes.items() if outcome.reached and name != "the model"]
    model = report.outcomes.get("the model")
    if model is None or not model.reached:
        return Finding(
            "isolation",
            "fail",
            f"a probe agent could not reach the relay to the model ({report.output.strip()[-200:]})",
            "check that the engine supports --network none and container: network namespaces",
        )
    if reached or report.interfaces != ["lo"]:
        return Finding(
            "isolation",
            "fail",
            f"a probe agent had interfaces {', '.join(report.interfaces)} and "
            f"reached {', '.join(reached) or 'nothing else'}",
            "do not run cells on this engine",
        )
    return Finding(
        "isolation",
        "ok",
        "measured just now: an agent has only a loopback interface; it reaches the "
        "model through cab-check and nothing else (no names resolve, no address answers, the host's "
        "services included)",
    )


@dataclass(frozen=True)
class Compatibility:
    """Whether one TUI can run against the model, and why; `said` may leave `remedy`'s slot open (see Finding)."""

    tui: str
    ok: bool
    said: str
    remedy: Remedy | None = None

    @property
    def detail(self) -> str:
        return fill(self.said, NEUTRAL_WORDS)

    def worded(self, words: Words) -> Compatibility:
        return replace(self, said=fill(self.said, words))


def endpoint_grid(base_url: str, api_key: str | None, model: str) -> tuple[list[Finding], list[Compatibility]]:
    """The handshake once per capability, then which TUIs those capabilities serve."""
    redactor = Redactor(api_key)
    capability: dict[str, str | None] = {}  # capability → None when it works, else why not
    findings: list[Finding] = []
    for name, needs in (
        ("chat", TuiNeeds()),
        ("streaming", TuiNeeds(streaming=True)),
        ("tool calls", TuiNeeds(tool_calls=True)),
    ):
        try:
            handshake.handshake(base_url, api_key, model, needs, redactor)
            capability[name] = None
            findings.append(Finding(f"endpoint {name}", "ok", "works"))
        except CabError as exc:
            capability[name] = str(exc)
            findings.append(_failure(f"endpoint {name}", "fail", exc))
            if name == "chat":
                break
    grid = [compatible(tui, capability) for tui in catalog.shipped_tuis().values()]
    return findings, grid


def compatible(tui: TuiSpec, capability: dict[str, str | None]) -> Compatibility:
    """The verdict for one TUI, from what works (None) and why the rest does not."""
    needed = ["chat", *tui.needs.features]
    missing = [n for n in needed if capability.get(n, "not checked") is not None]
    if missing:
        return Compatibility(tui.name, False, f"needs {', '.join(missing)}")
    if not tui.buildable:
        return Compatibility(tui.name, True, f"compatible ({Remedy.IMAGE.slot})", Remedy.IMAGE)
    return Compatibility(tui.name, True, "compatible")


# The handshake's ping probe does not fit the reference model, which only ever calls tools that apply its fix:
# offered one file-writing tool and the task's prompt, it must call that tool.
FILE_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "write_file",
        "description": "Writes a whole file.",
        "parameters": {
            "type": "object",
            "properties": {
                "path": {"type": "string", "description": "The file to write."},
                "content": {"type": "string", "description": "The file's new content."},
            },
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
        probes: dict[str, Callable[[], str]] = {
            "chat": lambda: handshake.probe_chat(base, None, REFERENCE_MODEL_ID, redactor).detail,
            "streaming": lambda: (
                handshake.handshake(base, None, REFERENCE_MODEL_ID, TuiNeeds(streaming=True), redactor)[-1].detail
            ),
            "tool calls": lambda: _reference_calls_tool(base, task),
        }
        capability: dict[str, str | None] = {}
        findings: list[Finding] = []
        for name, probe in probes.items():
            try:
                findings.append(Finding(name, "ok", probe()))
                capability[name] = None
            except CabError as exc:
                findings.append(_failure(name, "fail", exc))
                capability[name] = str(exc)
                if name == "chat":
                    break  # nothing else can work
    return findings, [compatible(tui, capability) for tui in catalog.shipped_tuis().values()]


def _reference_calls_tool(base_url: str, task: TaskSpec) -> str:
    import httpx

    from cab_check.reference_model import NOTHING_TO_FIX

    url = f"{base_url}/chat/completions"
    body = {
        "model": REFERENCE_MODEL_ID,
        "messages": [{"role": "user", "content": task.prompt}],
        "tools": [FILE_TOOL],
        "tool_choice": "auto",
        "stream": False,
    }
    try:
        response = httpx.post(url, json=body, timeout=handshake.REQUEST_TIMEOUT_S)
        message = response.json()["choices"][0]["message"]
        calls = message.get("tool_calls") or []
        function = calls[0]["function"] if calls else {}
        arguments = json.loads(function["arguments"]) if function else {}
    except (httpx.HTTPError, ValueError, LookupError, TypeError, AttributeError) as exc:
        raise HandshakeFailed(
            f"The reference model gave no usable answer to a request with tools ({type(exc).__name__}).",
            "no_tool_calls",
        ) from None
    if function.get("name") == FILE_TOOL["function"]["name"] and isinstance(arguments, dict):
        return f"called the file tool it was offered, to write {arguments.get('path', 'a file')}"
    if message.get("content") == NOTHING_TO_FIX:
        return "the task needs no file changes, so it answers in text whatever tools it is offered"
    said = str(message.get("content") or function.get("name") or "nothing")[:120]
    raise HandshakeFailed(f"The reference model did not call the file tool it was offered ({said!r}).", "no_tool_calls")
