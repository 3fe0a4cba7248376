"""Typed models at the engine's boundaries: what goes into a cell, what comes out, and the events in between."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cab_check.axes import L15, Axes

METHODOLOGY_VERSION = "0.1"
LOCAL_SWEEP_ID = "local"
REFERENCE_MODEL_ID = "cab-reference"
REFERENCE_MODEL_LABEL = "reference model"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- tasks -----------------------------------------------------------------------------------------------------


class GraderSpec(_Strict):
    command: list[str] = Field(min_length=1)
    timeout_s: int = Field(default=300, gt=0, le=3600)


class Constraint(_Strict):
    """One of CAB's "L15" constraints, as a task's AGENTS.md states it; checked on the final diff."""

    kind: Literal["file-not-touched", "no-new-dependency", "no-comments-added", "file-pattern-required-in-diff"]
    paths: list[str] = Field(default_factory=list)  # globs, workdir-relative
    max_added: int = Field(default=0, ge=0)  # no-comments-added
    require_added: bool = True  # file-pattern-required-in-diff: the file must be new, not just edited

    def describe(self) -> str:
        params = {
            "file-not-touched": f" path={','.join(self.paths)}",
            "no-new-dependency": "",
            "no-comments-added": f" max_added={self.max_added}",
            "file-pattern-required-in-diff": (
                f" paths={','.join(self.paths)} require_added={str(self.require_added).lower()}"
            ),
        }
        return self.kind + params[self.kind]


class TaskSpec(_Strict):
    """One task folder: `task.toml`, the `workdir/` the agent sees and an optional `solution/` beside it."""

    slug: str  # "<family>/<name>"
    prompt: str = Field(min_length=1)
    language: str
    timeout_s: int = Field(default=600, gt=0)
    max_turns: int | None = None
    ground_truth_files: list[str] = Field(default_factory=list)
    expected_refusal: bool = False
    toolchain: str  # an image folder under resources/images/
    grader: GraderSpec
    constraints: list[Constraint] = Field(default_factory=list)
    root: Path  # the task folder itself; filled in by the loader

    @property
    def family(self) -> str:
        return self.slug.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.slug.split("/", 1)[1]

    @property
    def workdir(self) -> Path:
        return self.root / "workdir"

    @property
    def solution_dir(self) -> Path:
        return self.root / "solution"

    @property
    def is_integrity_task(self) -> bool:
        return self.family == "integrity"


# --- TUIs ------------------------------------------------------------------------------------------------------


class TuiNeeds(_Strict):
    tool_calls: bool = False
    streaming: bool = False
    wire: Literal["chat", "responses", "anthropic"] = "chat"

    @property
    def features(self) -> list[str]:
        """The endpoint features this TUI cannot run without, beyond plain chat completions, by their names."""
        return [name for name, on in (("tool calls", self.tool_calls), ("streaming", self.streaming)) if on]


class TuiSpec(_Strict):
    """A coding-agent CLI as data: how its image is built and how it runs one prompt headless.

    `argv`, `env` and `files` may hold placeholders, filled per run by cab_check.launch: {prompt} {model}
    {base_url} (the proxy, ending in /v1) {api_root} (the proxy without /v1) {token} {home} {out} {workdir}."""

    name: str
    package: str
    version: str
    description: str
    argv: list[str] = Field(min_length=1)  # the whole command, program first; run with the image's PATH
    env: dict[str, str] = Field(default_factory=dict)
    # Config files the CLI needs, by path relative to its HOME; written fresh for every run.
    files: dict[str, str] = Field(default_factory=dict)
    needs: TuiNeeds = Field(default_factory=TuiNeeds)
    token_parser: str | None = None  # a key of cab_check.token_parsers.PARSERS
    # Glob patterns (workdir-relative) of files the CLI itself writes as its own state.
    own_state: list[str] = Field(default_factory=list)
    # Set for CLIs that no registry we can reach ships: how to make the image the user passes with --image.
    user_image: str | None = None
    root: Path  # resources/tuis/<name>

    @field_validator("files")
    @classmethod
    def _files_stay_in_home(cls, files: dict[str, str]) -> dict[str, str]:
        for relative in files:
            if Path(relative).is_absolute() or ".." in Path(relative).parts:
                raise ValueError(f"config file '{relative}' must be a path inside HOME")
        return files

    @property
    def buildable(self) -> bool:
        return (self.root / "Dockerfile").is_file()


# --- what a front end asks for -------------------------------------------------------------------------------

MIN_TIMEOUT_S, MAX_TIMEOUT_S = 1, 3600


class CellRequest(_Strict):
    """One cell to run. The API key is never part of it: it travels separately, straight to the proxy."""

    tui: str = "aider"
    task: str = "polyglot/rust-error-handling"
    endpoint: str | None = None  # None: the built-in reference model answers
    model: str | None = None
    timeout_s: int | None = Field(default=None, ge=MIN_TIMEOUT_S, le=MAX_TIMEOUT_S)  # None: the task's timeout_s
    skip_handshake: bool = False
    image: str | None = None  # run the TUI from this image instead of building cab-check's own
    ca_bundle: Path | None = None  # extra CA certificates for image builds
    engine: str | None = None  # a container engine's URL or docker context; None: the one the docker CLI uses


# --- what a run records ----------------------------------------------------------------------------------------


class Span(_Strict):
    span_id: str
    parent_id: str | None = None
    kind: str  # task_setup | adapter_run | container | grade | cleanup | ...
    name: str
    start: datetime
    duration_ms: float
    attrs: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None


class ModelCall(_Strict):
    """One request the agent made through the recording proxy."""

    index: int
    timestamp: datetime
    request_hash: str
    path: str
    model: str | None = None
    stream: bool = False
    status: int
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float
    finish_reason: str | None = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        """The model answered with an HTTP error, or the call broke off (then `error` says how)."""
        return self.status >= 400 or self.error is not None


class TokenReport(_Strict):
    """Token totals for the run as one source saw them ("proxy", "TUI stdout", "TUI session file")."""

    source: str
    prompt_tokens: int
    completion_tokens: int
    exact: bool = True  # False where the source abbreviates (aider's "2.3k sent")

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class CorrectedScore(_Strict):
    """cab-check's own figure beside CAB's headline: integrity from the task's grader (cab_check.scoring.corrected)."""

    integrity: int
    composite: float
    reason: str | None = None  # why it differs from CAB's; None when both agree


FORMAT_VERSION = 2  # of a stored CellResult; 1 was before typed axes and the corrected composite


class CellResult(_Strict):
    """One run, as stored and shown: CAB's cell schema, `provisional`, and what cab-check recorded beside it.
    Read a stored one through `CellResult.load`, which brings an older format up to this one."""

    format_version: int = FORMAT_VERSION
    cell_id: str
    sweep_id: str = LOCAL_SWEEP_ID
    methodology: str = METHODOLOGY_VERSION
    provisional: Literal[True] = True
    run_id: str
    tui: str
    tui_version: str
    model: str
    model_label: str  # the model id, or "reference model"
    endpoint: str | None  # None when the built-in reference model answered
    task: str
    container_image: str
    image_digest: str | None
    engine: str | None = None  # the container engine the cell ran on, as `cab doctor` names it
    exit_code: int | None
    timed_out: bool
    started_at: datetime
    ended_at: datetime
    duration: float  # seconds, started_at → ended_at (task setup + agent run, as CAB measures)
    axes: Axes  # CAB v0.1's, as it would publish them: the headline
    corrected: CorrectedScore | None = None  # cab-check's own reading beside it
    spans: list[Span]
    model_calls: list[ModelCall]
    token_reports: list[TokenReport]
    l15: L15 | None = None  # CAB's constraint score: shown beside the axes, never in the composite
    recording: str | None
    diff: str = ""
    notes: list[str] = Field(default_factory=list)

    @classmethod
    def load(cls, text: str | bytes) -> CellResult:
        """A stored result of this or any earlier format; ValueError (pydantic's, or ours) when it cannot be read."""
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
        return cls.model_validate(upgrade(raw))

    @property
    def passed(self) -> bool:
        return bool(self.axes.pass_rate.passed)

    @property
    def composite(self) -> float:
        """CAB v0.1's composite for this run, as it would publish it: the headline."""
        return float(self.axes.composite.composite)

    @property
    def own_composite(self) -> float:
        """cab-check's own composite (integrity from the task's grader); CAB's for results stored before it."""
        return self.corrected.composite if self.corrected is not None else self.composite

    @property
    def composites_differ(self) -> bool:
        return self.corrected is not None and self.corrected.reason is not None


def upgrade(raw: dict[str, Any]) -> dict[str, Any]:
    """A stored result's fields brought to FORMAT_VERSION, one format at a time."""
    version = raw.get("format_version", 1)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"it was written by a newer cab-check (format {version}; this one reads up to "
            f"{FORMAT_VERSION}): upgrade cab-check to read it"
        )
    if version == 1:
        # Format 2 typed the axes: every format-1 value still fits (refusal_correct was a bool, refusal_signals a
        # list), and there is no corrected composite to fill in; only the version moves.
        raw = {**raw, "format_version": 2}
    return raw


# --- events from the engine to a front end ---------------------------------------------------------------------

Phase = Literal["resolve", "images", "preflight", "setup", "agent", "grade", "cleanup"]


class PhaseStarted(_Strict):
    kind: Literal["phase_started"] = "phase_started"
    phase: Phase
    detail: str = ""


class PhaseProgress(_Strict):
    kind: Literal["phase_progress"] = "phase_progress"
    phase: Phase
    message: str


class PhaseFinished(_Strict):
    kind: Literal["phase_finished"] = "phase_finished"
    phase: Phase
    ok: bool = True
    detail: str = ""


class AgentOutput(_Strict):
    kind: Literal["agent_output"] = "agent_output"
    text: str


class ModelCallRecorded(_Strict):
    kind: Literal["model_call"] = "model_call"
    call: ModelCall


class CellFinished(_Strict):
    kind: Literal["cell_finished"] = "cell_finished"
    result: CellResult


Event = PhaseStarted | PhaseProgress | PhaseFinished | AgentOutput | ModelCallRecorded | CellFinished
