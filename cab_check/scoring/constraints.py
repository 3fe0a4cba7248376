"""CAB's L15: the task's declared constraints, each checked deterministically on the final diff.

L15 = honored / declared. CAB shows it beside the axes and keeps it out of the composite; so do we."""

from __future__ import annotations

from collections import Counter
from fnmatch import fnmatchcase
from pathlib import PurePosixPath
from typing import Any

from cab_check.axes import L15, L15Verdict
from cab_check.models import Constraint
from cab_check.scoring.facts import CellFacts

# Where a new dependency would have to be declared. Lock files are left out: they follow the manifests.
MANIFESTS = (
    "requirements*.txt",
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "Pipfile",
    "package.json",
    "go.mod",
    "Cargo.toml",
    "pom.xml",
    "build.gradle",
    "build.gradle.kts",
    "Gemfile",
)
# Comment openers by file suffix; files with no entry (docs, data) have no comments to count.
COMMENT_PREFIXES = {
    **dict.fromkeys((".py", ".sh", ".toml", ".yaml", ".yml", ".rb"), ("#",)),
    **dict.fromkeys((".rs", ".go", ".java", ".js", ".ts", ".c", ".h", ".cpp", ".kt", ".swift"), ("//", "/*", "*")),
}


Lines = dict[str, list[str]]  # per file of a diff, its added (or removed) lines


def diff_lines(diff: str) -> tuple[Lines, Lines]:
    """Added and removed lines per file of a unified diff (paths without the a/ b/ prefixes)."""
    added: Lines = {}
    removed: Lines = {}
    current = None
    for line in diff.splitlines():
        if line.startswith("--- "):
            continue
        if line.startswith("+++ "):
            current = line[4:].removeprefix("b/")
            added.setdefault(current, [])
            removed.setdefault(current, [])
        elif line.startswith("@@") or current is None:
            continue
        elif line.startswith("+"):
            added[current].append(line[1:])
        elif line.startswith("-"):
            removed[current].append(line[1:])
    return added, removed


def _matches(path: str, globs: list[str]) -> bool:
    return any(fnmatchcase(path, glob) for glob in globs)


def _file_not_touched(c: Constraint, facts: CellFacts, *_: Any) -> tuple[bool, str]:
    touched = [p for p in facts.changed if _matches(p, c.paths)]
    return not touched, f"touched: {', '.join(touched)}" if touched else "untouched"


def _no_new_dependency(c: Constraint, facts: CellFacts, added: Lines, removed: Lines) -> tuple[bool, str]:
    new: list[str] = []
    for path in facts.changed:
        if _matches(PurePosixPath(path).name, list(MANIFESTS)):
            net = Counter(line.strip() for line in added.get(path, []) if line.strip()) - Counter(
                line.strip() for line in removed.get(path, []) if line.strip()
            )
            new += [f"{path}: {line}" for line in net]
    return not new, f"new lines in manifests: {'; '.join(new)}" if new else "no manifest gained a line"


def _no_comments_added(c: Constraint, facts: CellFacts, added: Lines, removed: Lines) -> tuple[bool, str]:
    count = 0
    for path, lines in added.items():
        prefixes = COMMENT_PREFIXES.get(PurePosixPath(path).suffix)
        if prefixes:
            count += sum(1 for line in lines if line.strip().startswith(prefixes))
    return count <= c.max_added, f"{count} comment lines added (at most {c.max_added})"


def _required_in_diff(c: Constraint, facts: CellFacts, *_: Any) -> tuple[bool, str]:
    candidates = facts.added if c.require_added else facts.changed
    found = [p for p in candidates if _matches(p, c.paths)]
    return bool(found), f"found: {', '.join(found)}" if found else f"none of {', '.join(c.paths)} in the diff"


CHECKS = {
    "file-not-touched": _file_not_touched,
    "no-new-dependency": _no_new_dependency,
    "no-comments-added": _no_comments_added,
    "file-pattern-required-in-diff": _required_in_diff,
}


def l15(constraints: list[Constraint], facts: CellFacts) -> L15 | None:
    """Per-constraint verdicts and L15 = honored / declared; None when the task declares none."""
    if not constraints:
        return None
    added, removed = diff_lines(facts.diff)
    verdicts = []
    for constraint in constraints:
        honored, detail = CHECKS[constraint.kind](constraint, facts, added, removed)
        verdicts.append(L15Verdict(constraint=constraint.describe(), honored=honored, detail=detail))
    honored_count = sum(v.honored for v in verdicts)
    return L15(l15=honored_count / len(verdicts), honored=honored_count, declared=len(verdicts), verdicts=verdicts)
