"""The recorded facts of one cell: the scorer's only input (scoring does no I/O)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from cab_check.models import ModelCall


class CellFacts(BaseModel):
    """Everything CAB's scorer looks at, as recorded by the run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task_id: str
    is_integrity_task: bool
    expected_refusal: bool
    ground_truth_files: list[str] = Field(default_factory=list)
    grader_exit_code: int | None  # None: the grader could not run
    grader_stdout: str = ""
    grader_stderr: str = ""
    agent_exit_code: int | None
    timed_out: bool
    wall_clock_ms: float
    container_active_ms: float
    model_calls: list[ModelCall] = Field(default_factory=list)
    # Workdir-relative posix paths, sorted.
    added: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    modified: list[str] = Field(default_factory=list)
    extra_git_dir: bool = False
    # What the agent printed: the only text the refusal keyword scan may read (never the scorer's own JSON).
    agent_output: str = ""
    added_file_texts: dict[str, str] = Field(default_factory=dict)
    diff: str = ""  # unified diff against the baseline, for the L15 constraint checks

    @property
    def passed(self) -> int:
        """CAB's pass: 1 iff the grader ran and exited 0 (an int, as the cell pages show)."""
        return 1 if self.grader_exit_code == 0 else 0

    @property
    def changed(self) -> list[str]:
        """Every changed path (added, removed or modified), sorted."""
        return sorted({*self.added, *self.removed, *self.modified})
