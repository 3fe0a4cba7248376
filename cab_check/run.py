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
from datetime import UTC, datetime

from cab_check import archive, catalog, handshake, launch, store, token_parsers, workspace
from cab_check.asgi_server import BackgroundServer
from cab_check.errors import BadInput, CabError, Cancelled, Remedy
from cab_check.keys import Redactor
from cab_check.models import (
    REFERENCE_MODEL_ID,
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
    TuiSpec,
)
from cab_check.proxy import RecordingProxy, new_run_token
from cab_check.record import RunOutcome, record
from cab_check.reference_model import ReferenceModel
from cab_check.sandbox import ContainerSpec, Sandbox, connect
from cab_check.sandbox.base import WORKDIR
from cab_check.settings import find_ca_bundle
from cab_check.tracing import Tracer

Emit = Callable[[Event], None]


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def validate_endpoint(endpoint: str) -> str:
    """The endpoint's normalised base URL; BadInput when it is no http(s) URL."""
    import httpx

    try:
        url = httpx.URL(endpoint)
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise BadInput(
            f"'{endpoint}' is not an http(s) URL: give the endpoint's base URL, e.g. http://localhost:8000/v1."
        )
    return endpoint.rstrip("/")


def validate_model_endpoint(endpoint: str, model: str | None) -> str:
    """An endpoint to run a model on: a valid URL, and a model id to ask it for."""
    endpoint = validate_endpoint(endpoint)
    if not model:
        raise BadInput(
            f"An endpoint needs a model: give the id your server serves {Remedy.MODEL.slot}.", "no_model", Remedy.MODEL
        )
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
        raise BadInput(
            f"{tui.name} has no image cab-check can build ({tui.user_image}): run it {Remedy.IMAGE.slot}.",
            "no_buildable_image",
            Remedy.IMAGE,
        )
    if not request.endpoint:
        return ResolvedCell(task, tui, None, REFERENCE_MODEL_ID)
    endpoint = validate_model_endpoint(request.endpoint, request.model)
    assert request.model  # validate_model_endpoint refuses an endpoint without one
    return ResolvedCell(task, tui, endpoint, request.model)


def run_cell(
    request: CellRequest,
    *,
    api_key: str | None = None,
    emit: Emit = lambda event: None,
    cancel: threading.Event | None = None,
    sandbox: Sandbox | None = None,
) -> CellResult:
    """Runs one cell for real and returns its scored result (also saved to the history store).

    `sandbox` is where its containers run (default: the engine `request.engine` names, else the one the docker CLI
    would use). Setting `cancel` (from another thread) stops the run within about a second: Cancelled is raised
    after everything the run made is removed."""
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

    store.check_writable()  # now, not after minutes of work
    with ExitStack() as cleanup:
        sandbox = sandbox or connect(request.engine)
        sweep(sandbox)
        cleanup.callback(_quietly, sandbox.remove_run, run_id)

        emit(PhaseStarted(phase="images", detail=f"{tui.name} and {task.toolchain} toolchain"))
        ca_bundle = request.ca_bundle or find_ca_bundle()

        def progress(line: str) -> None:
            checkpoint()  # mid-build: dropping the build stream makes the engine stop the build
            emit(PhaseProgress(phase="images", message=line))

        if request.image:
            tui_image = sandbox.use_image(request.image)
        else:
            tui_image = sandbox.ensure_image(tui.name, tui.root, ca_bundle, progress)
        tool_image = sandbox.ensure_image(task.toolchain, catalog.image_dir(task.toolchain), ca_bundle, progress)
        relay_image = sandbox.ensure_image("relay", catalog.relay_dir(), ca_bundle, progress)
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
        # The proxy listens on this host's loopback only; the agent reaches it through the run's network. Both are
        # the harness's own plumbing, so they start before the wall clock CAB's latency axis reads.
        token = new_run_token()
        proxy = RecordingProxy(upstream, api_key, token, on_call=lambda call: emit(ModelCallRecorded(call=call)))
        proxy_server = cleanup.enter_context(BackgroundServer(proxy.app, "127.0.0.1"))
        cleanup.callback(proxy.close)  # runs before the server stops: its loop must still be alive
        network = sandbox.open_network(run_id, relay_image.tag, proxy_server.port)
        cleanup.callback(network.close)
        temp_root = workspace.make_temp_root(run_id)
        cleanup.callback(shutil.rmtree, temp_root, ignore_errors=True)
        workdir = temp_root / "workdir"
        started_at = datetime.now(UTC)
        with tracer.span(
            "task_setup",
            f"prepare:{task.slug}",
            workdir=str(workdir),
            task_category=task.family,
            plugin_stack=[],
            behavior_mode="local",
        ):
            workspace.prepare_workdir(task.workdir, workdir)
            workdir_tar = cleanup.enter_context(archive.build(lambda tar: archive.add_folder(tar, workdir, "work")))
            baseline = archive.read_tree(archive.chunks_of(workdir_tar))
        emit(PhaseFinished(phase="setup"))

        checkpoint()
        emit(PhaseStarted(phase="agent", detail=f"{tui.name} on {task.slug}, timeout {timeout_s} s"))
        started = launch.plan(
            tui, launch.placeholders(prompt=task.prompt, model=model, proxy_url=network.url, token=token)
        )
        with tracer.span("adapter_run", f"{tui.name}:{task.slug}", timeout_s=timeout_s, plugin_stack=[]) as run:
            agent_box = sandbox.create(
                run_id,
                ContainerSpec(
                    image=tui_image.tag,
                    command=started.argv,
                    role="agent",
                    entrypoint=launch.SEED_ENTRYPOINT,
                    environment=started.env,
                    network=network,
                ),
            )
            sandbox.put_files(agent_box, workdir_tar)
            with launch.seed_archive(started.files) as seed:
                sandbox.put_files(agent_box, seed)
            with tracer.span(
                "container",
                f"{tui.name}:launch",
                parent=run["_id"],
                image=tui_image.tag,
                argv=redactor.data(started.argv),
                timeout_s=timeout_s,
            ) as span:
                agent = sandbox.run(
                    agent_box,
                    timeout_s=timeout_s,
                    cancel=cancel,
                    on_output=lambda text: emit(AgentOutput(text=redactor.text(text))),
                )
                span.update(exit_code=agent.exit_code, duration_s=agent.duration_s, timed_out=agent.timed_out)
            run["exit_code"] = agent.exit_code
        ended_at = datetime.now(UTC)
        network.close()
        out_dir = temp_root / "out"
        with sandbox.get_files(agent_box, launch.OUT_DIR) as chunks:
            archive.extract_files(
                chunks, "out", out_dir, max_file_bytes=launch.MAX_OUT_FILE_BYTES, max_total_bytes=launch.MAX_OUT_BYTES
            )
        own_report = token_parsers.tui_report(tui.token_parser, agent.stdout + agent.stderr, out_dir)
        emit(
            PhaseFinished(
                phase="agent",
                ok=not agent.timed_out,
                detail="timed out" if agent.timed_out else f"exit code {agent.exit_code}",
            )
        )

        checkpoint()
        emit(PhaseStarted(phase="grade", detail=" ".join(task.grader.command)))
        with tracer.span("grade", f"grade:{task.slug}", image=tool_image.tag, command=task.grader.command) as grade:
            # The agent's tree comes back once: recorded for the diff, and copied clean for the grader.
            final_tar = cleanup.enter_context(archive.spool())
            with sandbox.get_files(agent_box, WORKDIR) as chunks:
                final = archive.read_tree(chunks, baseline=baseline, copy_to=final_tar, checkpoint=checkpoint)
            changes = workspace.compare(baseline, final)
            grader_box = sandbox.create(
                run_id, ContainerSpec(image=tool_image.tag, command=task.grader.command, role="grader")
            )
            sandbox.put_files(grader_box, final_tar)
            graded = sandbox.run(grader_box, timeout_s=task.grader.timeout_s, cancel=cancel)
            grade.update(exit_code=graded.exit_code, timed_out=graded.timed_out)
        emit(PhaseFinished(phase="grade", ok=graded.exit_code == 0, detail=f"grader exit code {graded.exit_code}"))

        with tracer.span("cleanup", f"cleanup:{tui.name}"):
            cleanup.close()

    outcome = RunOutcome(
        run_id=run_id,
        request=request,
        task=task,
        tui=tui,
        model=model,
        endpoint=endpoint,
        tui_image=tui_image,
        agent=agent,
        graded=graded,
        changes=changes,
        started_at=started_at,
        ended_at=ended_at,
        spans=tracer.spans,
        model_calls=list(proxy.calls),
        own_report=own_report,
        interfaces=network.interfaces,
        omitted=final.omitted,
        engine=sandbox.engine.description,
    )
    result = record(outcome, redactor)
    emit(CellFinished(result=result))
    return result


def sweep(sandbox: Sandbox) -> int:
    """Removes what killed cab-check processes left: their containers, temp folders and half-saved runs."""
    return sandbox.sweep_orphans() + workspace.sweep_temp_roots() + store.sweep_unfinished()


def _quietly(remove: Callable[[str], int], run_id: str) -> None:
    """Cleanup that must not hide why a run ended: when the engine itself is gone, the next sweep removes the rest."""
    try:
        remove(run_id)
    except CabError:
        pass
