"""One cell, start to finish: resolve, images, preflight, prepare, launch, grade, score, record, clean up.

The engine emits typed events and returns a CellResult; it knows nothing of terminals or windows.
"""

from __future__ import annotations

import secrets
import shutil
import threading
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone

from cab_check import catalog, handshake, host_fence, launch, store, tokens, workspace
from cab_check.asgi_server import BackgroundServer
from cab_check.docker_backend import DockerBackend
from cab_check.errors import BadInput, Cancelled
from cab_check.models import (
    REFERENCE_MODEL_ID,
    REFERENCE_MODEL_LABEL,
    AgentOutput,
    CellFinished,
    CellRequest,
    CellResult,
    Event,
    ModelCallRecorded,
    PhaseFinished,
    PhaseProgress,
    PhaseStarted,
    TaskSpec,
    TokenReport,
    TuiSpec,
)
from cab_check.proxy import RecordingProxy, new_run_token
from cab_check.recording import write_asciicast
from cab_check.reference_model import ReferenceModel
from cab_check.scoring import CellFacts, l15, score_cell, scorer_notes
from cab_check.secrets import Redactor
from cab_check.settings import find_ca_bundle
from cab_check.tracing import Tracer

Emit = Callable[[Event], None]


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def validate_endpoint(endpoint: str) -> str:
    """The endpoint's normalised base URL; BadInput when it is no http(s) URL."""
    import httpx

    try:
        url = httpx.URL(endpoint)
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise BadInput(f"'{endpoint}' is not an http(s) URL: give the endpoint's base URL, e.g. http://localhost:8000/v1.")
    return endpoint.rstrip("/")


def validate_model_endpoint(endpoint: str, model: str | None) -> str:
    """An endpoint to run a model on: a valid URL, and a model id to ask it for."""
    endpoint = validate_endpoint(endpoint)
    if not model:
        raise BadInput("An endpoint needs a model: add --model with the id your server serves.")
    return endpoint


@dataclass(frozen=True)
class ResolvedCell:
    task: TaskSpec
    tui: TuiSpec
    endpoint: str | None  # None: the reference model
    model: str


def resolve(request: CellRequest) -> ResolvedCell:
    """Checks every input of the request; raises BadInput with one sentence on the first problem."""
    task = catalog.get_task(request.task)
    tui = catalog.get_tui(request.tui)
    if not tui.buildable and not request.image:
        raise BadInput(f"{tui.name} has no image cab-check can build ({tui.user_image}): pass --image with yours.")
    endpoint = validate_model_endpoint(request.endpoint, request.model) if request.endpoint else None
    return ResolvedCell(task, tui, endpoint, request.model if endpoint else REFERENCE_MODEL_ID)


def run_cell(
    request: CellRequest,
    *,
    api_key: str | None = None,
    emit: Emit = lambda event: None,
    cancel: threading.Event | None = None,
) -> CellResult:
    """Runs one cell for real and returns its scored result (also saved to the history store).

    Setting `cancel` (from another thread) stops the run within about a second: Cancelled is raised after
    everything the run made is removed."""
    cell = resolve(request)
    task, tui, endpoint, model = cell.task, cell.tui, cell.endpoint, cell.model
    redactor = Redactor(api_key)
    run_id = new_run_id()
    tracer = Tracer()
    timeout_s = request.timeout_s or task.timeout_s
    cancel = cancel or threading.Event()

    def checkpoint() -> None:
        if cancel.is_set():
            raise Cancelled()

    with ExitStack() as cleanup:
        docker = DockerBackend(run_id)
        docker.sweep_orphans()
        host_fence.remove_orphans(docker.live_run_ids())
        cleanup.callback(docker.remove_run, run_id)

        emit(PhaseStarted(phase="images", detail=f"{tui.name} and {task.toolchain} toolchain"))
        ca_bundle = request.ca_bundle or find_ca_bundle()

        def progress(line: str) -> None:
            checkpoint()  # mid-build: dropping the build stream makes Docker stop the build
            emit(PhaseProgress(phase="images", message=line))

        if request.image:
            tui_image = docker.use_image(request.image)
        else:
            tui_image = docker.ensure_image(tui.name, tui.root, ca_bundle, progress)
        tool_image = docker.ensure_image(task.toolchain, catalog.image_dir(task.toolchain), ca_bundle, progress)
        emit(PhaseFinished(phase="images", detail=f"{tui_image.tag}, {tool_image.tag}"))

        checkpoint()
        emit(PhaseStarted(phase="preflight"))
        if endpoint is None:
            reference = cleanup.enter_context(BackgroundServer(ReferenceModel.from_task(task).app, "127.0.0.1"))
            upstream = f"{reference.url}/v1"
        else:
            upstream = endpoint
        if request.skip_handshake:
            preflight = "skipped"
        elif endpoint is None:  # ours: only the plain chat probe
            preflight = handshake.summary([handshake.probe_chat(upstream, api_key, model, redactor)])
        else:
            checks = handshake.handshake(upstream, api_key, model, tui.needs, redactor)
            preflight = handshake.summary(checks)
        emit(PhaseFinished(phase="preflight", detail=preflight))

        checkpoint()
        emit(PhaseStarted(phase="setup"))
        temp_root = workspace.make_temp_root(run_id)
        cleanup.callback(shutil.rmtree, temp_root, ignore_errors=True)
        workdir = temp_root / "workdir"
        started_at = datetime.now(timezone.utc)
        with tracer.span("task_setup", f"prepare:{task.slug}", workdir=str(workdir), task_category=task.family,
                         plugin_stack=[], behavior_mode="local"):
            workspace.prepare_workdir(task.workdir, workdir)
            baseline = workspace.snapshot(workdir)
        emit(PhaseFinished(phase="setup"))

        network, gateway, bridge = docker.create_internal_network()
        token = new_run_token()
        proxy = RecordingProxy(upstream, api_key, token, on_call=lambda call: emit(ModelCallRecorded(call=call)))
        proxy_server = cleanup.enter_context(BackgroundServer(proxy.app, gateway))
        take_down = host_fence.fence(bridge, proxy_server.port, run_id)
        if take_down is not None:
            cleanup.callback(take_down)
        cleanup.callback(proxy.close)  # runs before the server stops: its loop must still be alive

        emit(PhaseStarted(phase="agent", detail=f"{tui.name} on {task.slug}, timeout {timeout_s} s"))
        values = launch.placeholders(prompt=task.prompt, model=model, proxy_url=proxy_server.url, token=token)
        started = launch.plan(tui, values)
        launch.write_seed(started.files, temp_root / "seed")
        out_dir = temp_root / "out"
        out_dir.mkdir()
        workspace.hand_to_container_user(out_dir)
        with tracer.span("adapter_run", f"{tui.name}:{task.slug}", timeout_s=timeout_s, plugin_stack=[]) as run:
            with tracer.span("container", f"{tui.name}:launch", parent=run["_id"], image=tui_image.tag,
                             argv=redactor.data(started.argv), timeout_s=timeout_s) as span:
                agent = docker.run_container(
                    tui_image.tag, started.argv, workdir=workdir, user=workspace.container_user(),
                    timeout_s=timeout_s, environment=started.env, network=network,
                    entrypoint=launch.SEED_ENTRYPOINT,
                    mounts={temp_root / "seed": (launch.SEED_MOUNT, "ro"), out_dir: (launch.OUT_MOUNT, "rw")},
                    on_output=lambda text: emit(AgentOutput(text=redactor.text(text))), cancel=cancel,
                )
                span.update(exit_code=agent.exit_code, duration_s=agent.duration_s, timed_out=agent.timed_out)
            run["exit_code"] = agent.exit_code
        own_report = tokens.tui_report(tui.token_parser, agent.stdout + agent.stderr, out_dir)
        ended_at = datetime.now(timezone.utc)
        emit(PhaseFinished(phase="agent", ok=not agent.timed_out,
                           detail="timed out" if agent.timed_out else f"exit code {agent.exit_code}"))

        checkpoint()
        emit(PhaseStarted(phase="grade", detail=" ".join(task.grader.command)))
        changes = workspace.compare(task.workdir, baseline, workdir)
        with tracer.span("grade", f"grade:{task.slug}", image=tool_image.tag, command=task.grader.command) as grade:
            grade_dir = temp_root / "grade"
            workspace.copy_for_grading(workdir, grade_dir)
            graded = docker.run_container(
                tool_image.tag, task.grader.command, workdir=grade_dir, user=workspace.container_user(),
                timeout_s=task.grader.timeout_s, name_suffix="grader", cancel=cancel,
            )
            grade.update(exit_code=graded.exit_code, timed_out=graded.timed_out)
        emit(PhaseFinished(phase="grade", ok=graded.exit_code == 0, detail=f"grader exit code {graded.exit_code}"))

        with tracer.span("cleanup", f"cleanup:{tui.name}"):
            cleanup.close()

    result = _record(
        run_id=run_id, request=request, task=task, tui=tui, model=model, endpoint=endpoint,
        image=tui_image.tag, image_id=tui_image.image_id, agent=agent, graded=graded, changes=changes,
        started_at=started_at, ended_at=ended_at, tracer=tracer, proxy=proxy, own_report=own_report,
        host_fenced=take_down is not None,
        redactor=redactor,
    )
    emit(CellFinished(result=result))
    return result


def _record(*, run_id, request, task: TaskSpec, tui: TuiSpec, model, endpoint, image, image_id, agent, graded,
            changes, started_at, ended_at, tracer, proxy, own_report: TokenReport | None, host_fenced: bool,
            redactor: Redactor) -> CellResult:
    """Scores the recorded facts and writes the result and the recording to the history store."""
    calls = list(proxy.calls)
    launch = next(s for s in tracer.spans if s.kind == "container")
    wall_clock_ms = round((ended_at - started_at).total_seconds() * 1000, 3)
    facts = CellFacts(
        task_id=task.slug, is_integrity_task=task.is_integrity_task, expected_refusal=task.expected_refusal,
        ground_truth_files=task.ground_truth_files, grader_exit_code=graded.exit_code,
        grader_stdout=graded.stdout, grader_stderr=graded.stderr, agent_exit_code=agent.exit_code,
        timed_out=agent.timed_out, wall_clock_ms=wall_clock_ms, container_active_ms=launch.duration_ms,
        model_calls=calls, added=changes.added, removed=changes.removed, modified=changes.modified,
        extra_git_dir=True, agent_output=agent.stdout + agent.stderr, added_file_texts=changes.added_texts,
        diff=changes.diff,
    )
    axes = score_cell(facts)
    notes = scorer_notes(facts, axes, own_state_patterns=tui.own_state)
    reports = [TokenReport(source="proxy", prompt_tokens=sum(c.prompt_tokens for c in calls),
                           completion_tokens=sum(c.completion_tokens for c in calls))]
    if own_report is not None:
        reports.append(own_report)
    if agent.timed_out:
        notes.insert(0, "This run timed out — the agent ran but never finished within the harness limit.")
    if not host_fenced:
        notes.insert(0, "The agent's network had no route out, but this host's own services (listening on all "
                        "addresses) were reachable from it: fencing them needs cab-check to run as root with iptables.")
    if request.skip_handshake:
        notes.insert(0, "The preflight handshake was skipped (--skip-handshake): the endpoint was not checked for "
                        "what this TUI needs before the agent started.")
    if endpoint is None:
        notes.insert(0, "Answered by the built-in reference model, which applies the task's known fix: "
                        "this shows the harness works, not how any model performs.")

    recording = store.run_dir(run_id) / store.RECORDING_FILE
    result = CellResult(
        cell_id=f"local/{tui.name}/{model}/{task.slug}", run_id=run_id, tui=tui.name, tui_version=tui.version,
        model=model, model_label=REFERENCE_MODEL_LABEL if endpoint is None else model, endpoint=endpoint,
        task=task.slug, container_image=image, image_digest=image_id, exit_code=agent.exit_code,
        timed_out=agent.timed_out, started_at=started_at, ended_at=ended_at,
        duration=round(wall_clock_ms / 1000, 3), axes=axes, spans=tracer.spans, model_calls=calls,
        token_reports=reports, l15=l15(task.constraints, facts), recording=str(recording), diff=changes.diff, notes=notes,
    )
    result = CellResult.model_validate(redactor.data(result.model_dump(mode="json")))
    with store.saving(run_id):
        write_asciicast(recording, agent.output_events, started_at, f"{tui.name} × {task.slug}", redactor)
        store.save_result(result)
    return result
