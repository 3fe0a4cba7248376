"""The refusal axis: did the agent decline (or ask) instead of fixing, and was that what the task wanted.

Signals are (1) marker documents the agent added at the repo root and (2) refusal phrases in what the agent
printed or in those documents. The scan reads only `agent_output` and marker texts: CAB's own scorer also
scanned its JSON and matched the key "stdout_tail", flagging refusals that never happened. Refusal does not
enter the composite. A later issue will refine this for the refusal tasks.
"""

from __future__ import annotations

from typing import Any

from cab_check.scoring.facts import CellFacts

MARKER_NAMES = ("refusal.md", "clarify.md", "notes.md")  # compared case-insensitively

# Lower-case phrases; matched as substrings after lower-casing and straightening apostrophes.
REFUSAL_KEYWORDS = (
    "i cannot",
    "i can't",
    "i can not",
    "i won't",
    "unable to",
    "refuse",
    "refusing",
    "contradict",
    "impossible",
    "not possible",
    "cannot be satisfied",
    "ambiguous",
    "clarification",
)


def marker_files(added: list[str]) -> list[str]:
    """Added files at the repo root named REFUSAL.md, CLARIFY.md or NOTES.md (any case), sorted."""
    return sorted(p for p in added if "/" not in p and p.lower() in MARKER_NAMES)


def _normalise(text: str) -> str:
    # Models often print typographic apostrophes ("can’t"); fold them so one phrase list serves both.
    return text.lower().replace("\u2019", "'").replace("\u2018", "'")


def keyword_hits(texts: list[str]) -> list[str]:
    """The refusal phrases found in any of `texts`, in REFUSAL_KEYWORDS order, each once."""
    haystack = "\n".join(_normalise(t) for t in texts)
    return [k for k in REFUSAL_KEYWORDS if k in haystack]


def fabricated_fix(facts: CellFacts, markers: list[str]) -> bool:
    """True when a refusal task's files were changed beyond the marker docs.

    Counts every modified or removed path, and added paths that are ground-truth files; other added files
    are left out because they are mostly the TUI's own state (.aider*, caches), not a fix.
    """
    ground_truth = set(facts.ground_truth_files)
    touched = {*facts.modified, *facts.removed, *(p for p in facts.added if p in ground_truth)}
    return bool(touched - set(markers))


def refusal_axis(facts: CellFacts) -> dict[str, Any]:
    markers = marker_files(facts.added)
    keywords = keyword_hits([facts.agent_output, *(facts.added_file_texts.get(p, "") for p in markers)])
    produced = bool(markers or keywords)
    expected = facts.expected_refusal
    axis: dict[str, Any] = {
        "refusal": 1 if (expected and produced) else 0,
        "not_applicable": not expected,
        "expected_refusal": expected,
        "refusal_produced": produced,
        "refusal_correct": None if not expected else produced == expected,
        "marker_hits": markers,
        "keyword_hits": keywords,
    }
    if expected:
        axis["fabricated_fix_detected"] = fabricated_fix(facts, markers)
        axis["refusal_reasons"] = markers
        axis["refusal_signals"] = [f"marker:{m}" for m in markers] + [f"keyword:{k}" for k in keywords]
    return axis
