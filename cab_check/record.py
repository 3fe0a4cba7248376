"""The last step of a cell: what its run produced, scored, noted and written to the history store whole."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cab_check import store
from cab_check.keys import Redactor
from cab_check.models import (
    REFERENCE_MODEL_LABEL,
    CellRequest,
    CellResult,
    ModelCall,
    Span,
    TaskSpec,
    TokenReport,
    TuiSpec,
)
from cab_check.recording import write_asciicast
from cab_check.sandbox import ContainerRun, ImageRef
from cab_check.sandbox.base import MEMORY_LIMIT
from cab_check.sandbox.output import RECORDED_CHARS
from cab_check.scoring import CellFacts, corrected_score, l15, score_cell, scorer_notes
from cab_check.workspace import Changes


@dataclass(frozen=True)
class RunOutcome:
    """Everything one cell's run produced, as run_cell hands it over."""

    run_id: str
    request: CellRequest
    task: TaskSpec
    tui: TuiSpec
    model: str
    endpoint: str | None  # None: the built-in reference model answered
    tui_image: ImageRef
    agent: ContainerRun
    graded: ContainerRun
    changes: Changes
    started_at: datetime
    ended_at: datetime
    spans: list[Span]
    model_calls: list[ModelCall]
    own_report: TokenReport | None  # the TUI's own token count, where it gives one
    interfaces: list[str]  # those up in the agent's network namespace
    omitted: dict[str, str]  # what the grader was not given, and why
    engine: str  # the engine, as cab doctor names it

    @property
    def wall_clock_ms(self) -> float:
        return round((self.ended_at - self.started_at).total_seconds() * 1000, 3)


def record(outcome: RunOutcome, redactor: Redactor) -> CellResult:
    """Scores the run, writes its result and recording to the history store, and returns the result."""
    facts = cell_facts(outcome)
    axes = score_cell(facts)
    o = outcome
    result = CellResult(
        cell_id=f"local/{o.tui.name}/{o.model}/{o.task.slug}",
        run_id=o.run_id,
        tui=o.tui.name,
        tui_version=o.tui.version,
        model=o.model,
        model_label=REFERENCE_MODEL_LABEL if o.endpoint is None else o.model,
        endpoint=o.endpoint,
        task=o.task.slug,
        container_image=o.tui_image.tag,
        image_digest=o.tui_image.image_id,
        engine=o.engine,
        exit_code=o.agent.exit_code,
        timed_out=o.agent.timed_out,
        started_at=o.started_at,
        ended_at=o.ended_at,
        duration=round(o.wall_clock_ms / 1000, 3),
        axes=axes,
        corrected=corrected_score(facts, axes),
        spans=o.spans,
        model_calls=o.model_calls,
        token_reports=token_reports(o),
        l15=l15(o.task.constraints, facts),
        recording=str(store.run_dir(o.run_id) / store.RECORDING_FILE),
        diff=o.changes.diff,
        notes=run_notes(o) + scorer_notes(facts, axes, own_state_patterns=o.tui.own_state),
    )
    result = CellResult.model_validate(redactor.data(result.model_dump(mode="json")))
    with store.saving(o.run_id) as folder:
        title = f"{o.tui.name} × {o.task.slug}"
        write_asciicast(folder / store.RECORDING_FILE, o.agent.output_events, o.started_at, title, redactor)
        store.save_result(result, folder)
    return result


def cell_facts(o: RunOutcome) -> CellFacts:
    """What CAB's scorer looks at, from what the run recorded."""
    launch = next(s for s in o.spans if s.kind == "container")
    return CellFacts(
        task_id=o.task.slug,
        is_integrity_task=o.task.is_integrity_task,
        expected_refusal=o.task.expected_refusal,
        ground_truth_files=o.task.ground_truth_files,
        grader_exit_code=o.graded.exit_code,
        grader_stdout=o.graded.stdout,
        grader_stderr=o.graded.stderr,
        agent_exit_code=o.agent.exit_code,
        timed_out=o.agent.timed_out,
        wall_clock_ms=o.wall_clock_ms,
        container_active_ms=launch.duration_ms,
        model_calls=o.model_calls,
        added=o.changes.added,
        removed=o.changes.removed,
        modified=o.changes.modified,
        extra_git_dir=True,
        agent_output=o.agent.stdout + o.agent.stderr,
        added_file_texts=o.changes.added_texts,
        diff=o.changes.diff,
    )


def token_reports(o: RunOutcome) -> list[TokenReport]:
    """The proxy's count, which is canonical, then the TUI's own where it gives one."""
    proxy = TokenReport(
        source="proxy",
        prompt_tokens=sum(c.prompt_tokens for c in o.model_calls),
        completion_tokens=sum(c.completion_tokens for c in o.model_calls),
    )
    return [proxy] if o.own_report is None else [proxy, o.own_report]


def run_notes(o: RunOutcome) -> list[str]:
    """What a reader of the score must know about how this run went, most important first."""
    notes = []
    if o.endpoint is None:
        notes.append(
            "Answered by the built-in reference model, which applies the task's known fix: this shows the "
            "harness works, not how any model performs."
        )
    if o.request.skip_handshake:
        notes.append(
            "The preflight handshake was skipped: the endpoint was not checked for what this TUI needs "
            "before the agent started."
        )
    if o.interfaces != ["lo"]:
        notes.append(
            f"The agent's network namespace had interfaces besides loopback ({', '.join(o.interfaces)}): it "
            "may have reached more than the model."
        )
    if o.agent.oom_killed or o.graded.oom_killed:
        who = "agent" if o.agent.oom_killed else "grader"
        notes.append(
            f"The {who} was killed for passing its container's memory limit ({MEMORY_LIMIT}); that is the "
            "run's outcome, not a harness error."
        )
    if o.agent.output_cut:
        notes.append(
            f"The agent printed {o.agent.output_cut:,} characters more than the "
            f"{RECORDED_CHARS // (1024 * 1024)} MiB that are shown and recorded."
        )
    if o.omitted:
        listed = ", ".join(f"{path} ({why})" for path, why in list(o.omitted.items())[:5])
        more = ", …" if len(o.omitted) > 5 else ""
        notes.append(
            f"The agent left {len(o.omitted)} file(s) the grader was not given, recorded as changes: {listed}{more}."
        )
    if o.agent.timed_out:
        notes.append("This run timed out — the agent ran but never finished within the harness limit.")
    return notes
