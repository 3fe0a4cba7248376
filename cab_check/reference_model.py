"""The built-in reference endpoint: an OpenAI-compatible server that knows a task's fix and hands it to the agent.

It answers in the agent's own protocol so the real agent applies the real fix. For aider that protocol is
text: the edit format aider's system prompt asks for (`whole` file listings, `diff` SEARCH/REPLACE blocks or
`udiff`), fenced the way aider fenced the files; `edit_format_reply` holds that strategy. A CLI that sends
`tools` (pi, opencode, Copilot, qwen-code, OpenHands, codex, claude-code, mini-swe-agent...) gets tool calls
instead, built from its own tool schemas: `tool_reply` below, with reference_tools reading the schemas.

How a conversation with aider goes:
1. aider sends the request; files it has not added to the chat are only named (repo map) or not shown at all.
   The reference model names the files it must change and asks for them to be added (aider's `--yes-always`
   adds every file a reply mentions, then asks again). Editing right away would not work: aider handles the
   mention first and drops the edits of that reply.
2. The files are now shown in the chat; the reply carries the edits, computed from the content aider shows.
3. If aider asks again (a lint reflection, say) and shows the files already fixed, the reply is a short
   message with no edits, so aider stops.
"""

from __future__ import annotations

import difflib
import json
import posixpath
import re
import shlex
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from cab_check.models import REFERENCE_MODEL_ID, TaskSpec
from cab_check.reference_tools import Toolbox, toolbox

ASK_TO_ADD = "To make this fix I need to edit these files. Please add them to the chat:"
SUMMARY_REQUEST = "summarize this partial conversation"
SUMMARY_REPLY = "I asked you to fix the code, and you replied with the reference fix."
ALREADY_FIXED = "The fix is already in place, so no further changes are needed."
NOTHING_TO_FIX = "This task needs no file changes."
DEFAULT_FENCE = ("```", "```")
# aider's fences, in the order it tries them (base_coder.all_fences): the first no line of the chat files starts with.
AIDER_FENCES = [
    ("```", "```"),
    ("````", "````"),
    *((f"<{tag}>", f"</{tag}>") for tag in ("source", "code", "pre", "codeblock", "sourcecode")),
]
STREAM_PIECE_CHARS = 80


@dataclass(frozen=True)
class FileFix:
    """One file the reference solution changes. `original` is None when the solution creates the file."""

    path: str  # workdir-relative, forward slashes
    original: str | None
    fixed: str


class EditFormat(StrEnum):
    WHOLE = "whole"
    DIFF = "diff"  # SEARCH/REPLACE blocks; aider's diff-fenced and editor-diff parse the same way
    UDIFF = "udiff"


@dataclass(frozen=True)
class AiderProtocol:
    edit_format: EditFormat
    fence: tuple[str, str]


# --- reading the request -----------------------------------------------------------------------------------------


def message_text(message: dict[str, Any]) -> str:
    """A chat message's text, whether its content is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "") for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


_WHOLE_FENCE = re.compile(
    r"path/to/filename\.js\n(\S+)\n// entire file content \.\.\.\n// \.\.\. goes in between\n(\S+)\n"
)
_DIFF_FENCE_OPEN = re.compile(r"The opening fence and code language, eg: (\S+?)python\n")
_DIFF_FENCE_CLOSE = re.compile(r"The closing fence: (\S+)\n")


def detect_aider_protocol(messages: list[dict[str, Any]]) -> AiderProtocol:
    """The edit format and fence aider's prompt asks for; `whole` with ``` when the prompt is not aider's."""
    # aider puts the format rules in the system prompt (and repeats them in the last user message).
    texts = [message_text(m) for m in messages if m.get("role") in ("system", "developer")]
    texts += [message_text(m) for m in messages if m.get("role") == "user"]
    for text in texts:
        if "*SEARCH/REPLACE block*" in text:
            opening, closing = _DIFF_FENCE_OPEN.search(text), _DIFF_FENCE_CLOSE.search(text)
            fence = (opening.group(1), closing.group(1)) if opening and closing else DEFAULT_FENCE
            return AiderProtocol(EditFormat.DIFF, fence)
        if "*file listing*" in text:
            match = _WHOLE_FENCE.search(text)
            return AiderProtocol(EditFormat.WHOLE, (match.group(1), match.group(2)) if match else DEFAULT_FENCE)
        if "diff -U0" in text:
            return AiderProtocol(EditFormat.UDIFF, DEFAULT_FENCE)
    return AiderProtocol(EditFormat.WHOLE, DEFAULT_FENCE)


def shown_content(messages: list[dict[str, Any]], fix: FileFix, fence: tuple[str, str]) -> str | None:
    """The file's content as aider last showed it in the chat, or None when it is not in the chat.

    aider lists chat files as `\\n<path>\\n<fence>\\n<content><fence>\\n` in user messages; the most recent
    listing is the true one. Assistant messages are skipped: they hold proposals, not the file. The fence is
    the one the prompt names, or any of aider's (the udiff prompt names none).
    """
    fences = [fence, *(f for f in AIDER_FENCES if f != fence)]
    for message in reversed(messages):
        if message.get("role") not in ("user", "system"):
            continue
        text = message_text(message)
        for opening, closing in fences:
            header = f"\n{fix.path}\n{opening}\n"
            at = text.rfind(header)
            if at >= 0:
                return _listed_content(text[at + len(header) :], fix, closing)
    return None


def _listed_content(rest: str, fix: FileFix, closing: str) -> str:
    # Known versions first: an exact match is certain even when the content's last line lacks a newline.
    for candidate in (fix.fixed, fix.original):
        if candidate is not None and rest.startswith(candidate + closing + "\n"):
            return candidate
    # Otherwise the content runs to the first line that starts with the fence (aider picks a fence that no
    # line of the file starts with).
    lines = rest.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.startswith(closing):
            return "".join(lines[:i])
    return rest


def _assistant_texts(messages: list[dict[str, Any]]) -> list[str]:
    return [message_text(m) for m in messages if m.get("role") == "assistant"]


# --- writing edits in aider's formats ----------------------------------------------------------------------------


def _with_newline(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"


def render_whole(path: str, fixed: str, fence: tuple[str, str]) -> str:
    """A *file listing*: the path alone on a line, then the whole new content inside the fence."""
    return f"{path}\n{fence[0]}\n{_with_newline(fixed)}{fence[1]}\n"


_MARKER_LINE = re.compile(r"^(<{5,9} SEARCH>?|={5,9}|>{5,9} REPLACE)\s*$")
SEARCH_CONTEXT_LINES = 3


def search_replace_pairs(
    current: str, fixed: str, path: str = "", fence: tuple[str, str] = DEFAULT_FENCE
) -> list[tuple[str, str]]:
    """(search, replace) texts that turn current into fixed under aider's rules: each block replaces the first
    exact match of its SEARCH lines, in order. Small blocks around each change when that provably works
    (small replies also keep aider from summarising its chat history mid-run); else one whole-file block."""
    old = _with_newline(current).splitlines(keepends=True)
    new = _with_newline(fixed).splitlines(keepends=True)
    pairs: list[tuple[list[str], list[str]]] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for group in matcher.get_grouped_opcodes(SEARCH_CONTEXT_LINES):
        i1, i2, j1, j2 = group[0][1], group[-1][2], group[0][3], group[-1][4]
        pairs.append((old[i1:i2], new[j1:j2]))
    if pairs and _applies_cleanly(old, new, pairs) and not any(_gets_unwrapped(p, path, fence) for p in pairs):
        return [("".join(search), "".join(replace)) for search, replace in pairs]
    return [(_with_newline(current), _with_newline(fixed))]


def _applies_cleanly(old: list[str], new: list[str], pairs: list[tuple[list[str], list[str]]]) -> bool:
    """Replays the blocks the way aider's perfect_replace does and checks the result is the fixed file."""
    lines = list(old)
    for search, replace in pairs:
        if not search or any(_MARKER_LINE.match(line) for line in search + replace):
            return False
        at = next((i for i in range(len(lines) - len(search) + 1) if lines[i : i + len(search)] == search), None)
        if at is None:
            return False
        lines[at : at + len(search)] = replace
    return lines == new


def _gets_unwrapped(pair: tuple[list[str], list[str]], path: str, fence: tuple[str, str]) -> bool:
    """Whether aider's strip_quoted_wrapping would cut a line off this block's SEARCH or REPLACE text."""
    for lines in pair:
        if lines and path and lines[0].strip().endswith(Path(path).name):
            return True
        if lines and lines[0].startswith(fence[0]) and lines[-1].startswith(fence[1]):
            return True
    return False


def render_search_replace(path: str, current: str | None, fixed: str, fence: tuple[str, str]) -> str:
    """SEARCH/REPLACE blocks from the current file to the fixed one; an empty SEARCH creates the file."""
    pairs = [("", _with_newline(fixed))] if not current else search_replace_pairs(current, fixed, path, fence)
    return "\n".join(
        f"{path}\n{fence[0]}\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n{fence[1]}\n"
        for search, replace in pairs
    )


def udiff_hunks(current: str, fixed: str) -> list[list[str]]:
    """Hunks (lines with their ` `/`-`/`+` marks) that aider's udiff coder turns from current into fixed.

    aider replaces each hunk's before-text with its after-text wherever it occurs, so small hunks are used
    only when each before-text occurs exactly once at its turn; otherwise one hunk swaps the whole file."""
    old = _with_newline(current).splitlines(keepends=True)
    new = _with_newline(fixed).splitlines(keepends=True)
    hunks: list[list[str]] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for group in matcher.get_grouped_opcodes(SEARCH_CONTEXT_LINES):
        hunk: list[str] = []
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                hunk += [f" {line}" for line in old[i1:i2]]
            else:
                hunk += [f"-{line}" for line in old[i1:i2]] + [f"+{line}" for line in new[j1:j2]]
        hunks.append(hunk)
    if hunks and _udiff_replays(_with_newline(current), _with_newline(fixed), hunks):
        return hunks
    return [[f"-{line}" for line in old] + [f"+{line}" for line in new]]


def _udiff_replays(current: str, fixed: str, hunks: list[list[str]]) -> bool:
    content, seen = current, set()
    for hunk in hunks:
        key = "".join(hunk)
        if key in seen:
            continue  # aider drops repeated hunks
        seen.add(key)
        before = "".join(_blank_if_whitespace(line[1:]) for line in hunk if line[0] in " -")
        after = "".join(_blank_if_whitespace(line[1:]) for line in hunk if line[0] in " +")
        if not before.strip() or content.count(before) != 1:
            return False
        content = content.replace(before, after)
    return content == fixed


def _blank_if_whitespace(line: str) -> str:
    # aider's normalize_hunk reduces whitespace-only lines to their line ending.
    return line[len(line.rstrip("\r\n")) :] if not line.strip() else line


def render_udiff(path: str, current: str | None, fixed: str) -> str:
    """A fenced unified diff without line numbers, as aider's udiff format asks; /dev/null creates a file."""
    if current is None:
        body = "@@ ... @@\n" + "".join(f"+{line}" for line in _with_newline(fixed).splitlines(keepends=True))
        return f"```diff\n--- /dev/null\n+++ {path}\n{body}```\n"
    body = "".join("@@ ... @@\n" + "".join(hunk) for hunk in udiff_hunks(current, fixed))
    return f"```diff\n--- {path}\n+++ {path}\n{body}```\n"


def render_edit(protocol: AiderProtocol, path: str, current: str | None, fixed: str) -> str:
    if protocol.edit_format is EditFormat.DIFF:
        return render_search_replace(path, current, fixed, protocol.fence)
    if protocol.edit_format is EditFormat.UDIFF:
        return render_udiff(path, current, fixed)
    return render_whole(path, fixed, protocol.fence)


def edit_format_reply(messages: list[dict[str, Any]], fixes: list[FileFix]) -> str:
    """The reply to one request from a text-edit agent (aider): ask for files, send edits, or say it is done."""
    if any(SUMMARY_REQUEST in message_text(m) for m in messages if m.get("role") == "system"):
        # aider condenses its chat history with the same model; a summary must carry no edits or fences.
        return SUMMARY_REPLY
    if not fixes:
        return NOTHING_TO_FIX
    protocol = detect_aider_protocol(messages)
    replies = _assistant_texts(messages)
    asked_before = any(ASK_TO_ADD in text for text in replies)

    def sent_before(fix: FileFix) -> bool:
        # Replies are deterministic, so an earlier edit of this file shows up verbatim in the history.
        block = render_edit(protocol, fix.path, fix.original, fix.fixed)
        return any(block in text for text in replies)

    to_add: list[str] = []
    edits: list[tuple[str, str | None, str]] = []
    for fix in fixes:
        current = shown_content(messages, fix, protocol.fence)
        if current is not None:
            if current != fix.fixed:
                edits.append((fix.path, current, fix.fixed))
        elif sent_before(fix):
            continue  # sent, and the file has not been shown since: nothing better to offer
        elif fix.original is None or asked_before:
            # A new file cannot be added to the chat, so creating it is the edit; and a client that did not
            # add a file when asked gets the edit anyway, to apply or refuse.
            edits.append((fix.path, fix.original, fix.fixed))
        else:
            to_add.append(fix.path)

    if to_add:
        return ASK_TO_ADD + "\n\n" + "\n".join(to_add) + "\n"
    if not edits:
        return ALREADY_FIXED
    blocks = "\n".join(render_edit(protocol, path, current, fixed) for path, current, fixed in edits)
    return f"Here is the reference fix.\n\n{blocks}"


# --- driving a tool-calling CLI ----------------------------------------------------------------------------------
#
# When the request carries `tools`, the fix is applied with the CLI's own tools (see reference_tools for how
# they are recognised). Each file gets a list of strategies, tried in order until one works:
#   1. read the file (if a read tool exists; CLIs refuse to edit or overwrite a file the model has not read),
#      then edit it (old = the whole original, new = the whole fix);
#   2. read it, then write the whole fix;
#   3. write it with the shell: a quoted heredoc, which every shell tool can run;
#   4. an `*** Begin Patch` patch, for a CLI whose only editing tool is a patch tool.
# The server keeps no state: the step is found by replaying the plan against the tool calls already in the
# conversation and their results. A result that reports an error moves on to the next strategy.

TOOL_HELLO = "I am the cab-check reference model. Tell me the task and I will apply its reference fix."
TOOL_NO_TOOLS = (
    "I am the cab-check reference model, but none of these tools can write a file, so I cannot apply the fix."
)
TOOL_DONE = "I am the cab-check reference model: the reference fix is applied to {paths}."
TOOL_FAILED = (
    "I am the cab-check reference model, and I could not apply the reference fix to {paths}: every tool I tried failed."
)
HEREDOC_DELIMITER = "CAB_EOF"
# Replies are deterministic, so a CLI that loses or rewrites our calls would get the same call forever; past
# this many tool-calling turns per planned call the model gives up instead.
MAX_TURNS_PER_STEP = 3

# A finishing command the prompt asks for, such as mini-swe-agent's "finish your work by issuing the
# following command: `echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT`": such an agent treats a reply without a
# tool call as a format error, and stops only when that command runs.
_FINISH_COMMAND = re.compile(
    r"\b(?:submit|finish|end)\b[^\n]{0,120}?\bfollowing command\b:?\s*`([^`\n]+)`", re.IGNORECASE
)
# Reading tool results. A shell result that reports an exit code is judged by it alone (a shell may echo the
# script, and a file can say "error" harmlessly); otherwise, and for edits and writes, by failure words, in a
# file tool's first line only (what follows may quote the file).
_FAILURE = re.compile(
    r"\berror\b|\bfail(?:s|ed|ure)?\b|must (?:first )?read|not (?:been )?read|could not|couldn't|cannot|can't"
    r"|unable to|not found|no such file|denied|not allowed|invalid|exception|traceback",
    re.IGNORECASE,
)
_NONZERO_EXIT = re.compile(
    r"exit(?:ed)?(?: with)?(?: status| code):?\s*-?[1-9]|\"exit_code\":\s*-?[1-9]|<returncode>\s*-?[1-9]"
    r"|non-zero exit|tool_use_error",
    re.IGNORECASE,
)
_ZERO_EXIT = re.compile(
    r"exit(?:ed)?(?: with)?(?: status| code):?\s*0\b|\"exit_code\":\s*0\b|<returncode>\s*0\b", re.IGNORECASE
)


@dataclass(frozen=True)
class ToolStep:
    """One tool call of a plan. A read is not `checked`: its result is the file, whatever words it holds."""

    name: str
    arguments: dict[str, Any]
    action: str
    checked: bool = True


@dataclass(frozen=True)
class ModelReply:
    """What the model answers: text (a final message), or one tool call."""

    text: str = ""
    call: ToolStep | None = None


def heredoc_script(path: str, content: str) -> str:
    """A shell script that writes content to path exactly, creating its directory."""
    delimiter = HEREDOC_DELIMITER
    while delimiter in content.splitlines():
        delimiter += "_"
    # A heredoc always ends in a newline; a file without a final newline gets it cut off again.
    body = content if not content or content.endswith("\n") else content + "\n"
    trim = "" if body == content else f" && truncate -s -1 {shlex.quote(path)}"
    directory = posixpath.dirname(path) or "."
    return f"mkdir -p {shlex.quote(directory)} && cat > {shlex.quote(path)} <<'{delimiter}'{trim}\n{body}{delimiter}"


def patch_text(fix: FileFix) -> str:
    """The fix in the `*** Begin Patch` envelope (codex's apply_patch), paths relative as that format asks."""
    plus = "".join(f"+{line}\n" for line in fix.fixed.splitlines())
    if fix.original is None:
        return f"*** Begin Patch\n*** Add File: {fix.path}\n{plus}*** End Patch\n"
    minus = "".join(f"-{line}\n" for line in fix.original.splitlines())
    return f"*** Begin Patch\n*** Update File: {fix.path}\n@@\n{minus}{plus}*** End Patch\n"


def fix_strategies(fix: FileFix, box: Toolbox, root: str) -> list[list[ToolStep]]:
    """The ways to apply one file's fix with these tools, most natural first."""
    path = f"{root.rstrip('/')}/{fix.path}"
    purpose = f"Apply the reference fix to {fix.path}"
    exists = fix.original is not None
    read = []
    if box.read and exists:
        read = [ToolStep(box.read.name, box.read.arguments(f"Read {fix.path}", path=path), "read", checked=False)]
    strategies = []
    if box.edit and exists:
        # An edit tool takes old/new strings, or a list of {old, new} replacements (pi's `edits`).
        pair = {"old": fix.original, "new": fix.fixed}
        change = {"edits": (fix.original, fix.fixed)} if "edits" in box.edit.slots else pair
        strategies.append([*read, ToolStep(box.edit.name, box.edit.arguments(purpose, path=path, **change), "edit")])
    if box.write:
        write = box.write.arguments(purpose, path=path, content=fix.fixed)
        strategies.append([*read, ToolStep(box.write.name, write, "write")])
    if box.shell:
        shell = box.shell.arguments(purpose, command=heredoc_script(path, fix.fixed))
        strategies.append([ToolStep(box.shell.name, shell, "shell")])
    if box.patch:
        strategies.append([ToolStep(box.patch.name, box.patch.arguments(purpose, patch=patch_text(fix)), "patch")])
    return strategies


def finish_command(messages: list[dict[str, Any]]) -> str | None:
    for message in messages:
        if message.get("role") in ("system", "developer", "user"):
            match = _FINISH_COMMAND.search(message_text(message))
            if match:
                return match.group(1).strip()
    return None


def _parse_arguments(raw: Any) -> dict[str, Any] | None:
    if isinstance(raw, dict):
        return raw
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def tool_history(messages: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any] | None, str]]:
    """Every tool call in the conversation, in order, as (name, arguments, result text)."""
    results = {m.get("tool_call_id"): message_text(m) for m in messages if m.get("role") == "tool"}
    history = []
    for at, message in enumerate(messages):
        if message.get("role") != "assistant":
            continue
        following = []  # results normally name their call; if a translation lost the ids, they follow in order
        for later in messages[at + 1 :]:
            if later.get("role") != "tool":
                break
            following.append(message_text(later))
        calls = [c for c in message.get("tool_calls") or [] if isinstance(c, dict)]
        for position, call in enumerate(calls):
            function = given if isinstance(given := call.get("function"), dict) else {}
            result = results.get(call.get("id"))
            if result is None:
                result = following[position] if position < len(following) else ""
            history.append((str(function.get("name")), _parse_arguments(function.get("arguments")), result))
    return history


def _is_call(step: ToolStep, name: str, arguments: dict[str, Any] | None) -> bool:
    # A CLI may drop or add optional arguments when it replays the conversation; one side containing the
    # other is enough.
    if name != step.name or arguments is None:
        return False
    common = arguments.keys() & step.arguments.keys()
    return all(arguments[k] == step.arguments[k] for k in common) and (
        common == arguments.keys() or common == step.arguments.keys()
    )


def step_failed(step: ToolStep, result: str) -> bool:
    if not step.checked:
        return False
    if _NONZERO_EXIT.search(result):
        return True
    if step.action == "shell" and _ZERO_EXIT.search(result):
        return False
    text = result if step.action == "shell" else next((line for line in result.splitlines() if line.strip()), "")
    return bool(_FAILURE.search(text))


def tool_reply(messages: list[dict[str, Any]], tools: Any, fixes: list[FileFix], root: str = "/work") -> ModelReply:
    """The reply to one request of a tool-calling CLI: the next tool call of the plan, or the final message."""
    if not any(m.get("role") == "user" and message_text(m).strip() for m in messages):
        return ModelReply(TOOL_HELLO)
    if not fixes:
        return ModelReply(NOTHING_TO_FIX)
    box = toolbox(tools)
    if not (box.write or box.edit or box.shell or box.patch):
        return ModelReply(TOOL_NO_TOOLS)
    plans = [fix_strategies(fix, box, root) for fix in fixes]
    history = tool_history(messages)

    # Replay: walk the plan, advancing on each of our calls found in the history.
    failed: list[str] = []
    index, strategy, step = 0, 0, 0

    def settle() -> None:  # skip files with no strategy left
        nonlocal index, strategy, step
        while index < len(plans) and strategy >= len(plans[index]):
            failed.append(fixes[index].path)
            index, strategy, step = index + 1, 0, 0

    settle()
    for name, arguments, result in history:
        if index >= len(plans):
            break
        expected = plans[index][strategy][step]
        if not _is_call(expected, name, arguments):
            continue
        if step_failed(expected, result):
            strategy, step = strategy + 1, 0
            settle()
        elif step + 1 < len(plans[index][strategy]):
            step += 1
        else:
            index, strategy, step = index + 1, 0, 0
            settle()

    planned = sum(len(s) for plan in plans for s in plan) + 1
    if len(history) > MAX_TURNS_PER_STEP * planned:
        failed += [fix.path for fix in fixes[index:]]
        index = len(plans)
    if index < len(plans):
        return ModelReply(call=plans[index][strategy][step])

    command = finish_command(messages)
    if command and box.shell and not failed:
        finish = ToolStep(box.shell.name, box.shell.arguments("Finish the task", command=command), "shell", False)
        if not any(_is_call(finish, name, arguments) for name, arguments, _ in history):
            return ModelReply(call=finish)
    if failed:
        return ModelReply(TOOL_FAILED.format(paths=", ".join(failed)))
    return ModelReply(TOOL_DONE.format(paths=", ".join(fix.path for fix in fixes)))


# --- the task's fix ----------------------------------------------------------------------------------------------


def read_text_tree(root: Path) -> dict[str, str]:
    """Every UTF-8 text file under root, keyed by its forward-slash relative path; .git is skipped."""
    files: dict[str, str] = {}
    if not root.is_dir():
        return files
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or ".git" in rel.parts:
            continue
        try:
            files[rel.as_posix()] = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary files cannot travel in a text edit format
    return files


def file_fixes(workdir_files: dict[str, str], solution_files: dict[str, str]) -> list[FileFix]:
    """The files the solution changes or adds, in path order."""
    return [
        FileFix(path=path, original=workdir_files.get(path), fixed=fixed)
        for path, fixed in sorted(solution_files.items())
        if workdir_files.get(path) != fixed
    ]


# --- usage ---------------------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str) -> int:
    """A deterministic stand-in for a tokenizer: one token per word and per punctuation mark."""
    return len(_TOKEN.findall(text))


def prompt_token_count(messages: list[dict[str, Any]], tools: Any = None) -> int:
    # A few tokens per message for the role and separators, as chat templates add; tool calls and the tool
    # schemas count too, as they are part of the prompt a real model reads.
    total = 3
    for message in messages:
        total += 3 + count_tokens(message_text(message))
        for call in message.get("tool_calls") or []:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                total += count_tokens(f"{function.get('name', '')} {function.get('arguments', '')}")
    return total + (count_tokens(json.dumps(tools)) if tools else 0)


# --- the server --------------------------------------------------------------------------------------------------


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}},
        status_code=status,
    )


class ReferenceModel:
    """An OpenAI-compatible endpoint (`cab-reference`) that drives the agent to apply a task's reference fix."""

    def __init__(self, workdir_files: dict[str, str], solution_files: dict[str, str], root: str = "/work") -> None:
        self.fixes = file_fixes(workdir_files, solution_files)
        # Where the agent sees the workdir: tool-calling CLIs get absolute paths under it.
        self.root = root
        self.app = Starlette(
            routes=[
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/models", self._models, methods=["GET"]),
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/chat/completions", self._chat, methods=["POST"]),
            ]
        )

    @classmethod
    def from_task(cls, task: TaskSpec, root: str = "/work") -> ReferenceModel:
        return cls(read_text_tree(task.workdir), read_text_tree(task.solution_dir), root)

    def reply_text(self, messages: list[dict[str, Any]]) -> str:
        """What the reference model says to this conversation."""
        return edit_format_reply(messages, self.fixes)

    def reply(self, messages: list[dict[str, Any]], tools: Any = None, tool_choice: Any = None) -> ModelReply:
        """The reply to a request: tool calls when the CLI offers tools, else aider's text edit formats."""
        if tools and tool_choice != "none":
            return tool_reply(messages, tools, self.fixes, self.root)
        return ModelReply(self.reply_text(messages))

    async def _models(self, request: Request) -> Response:
        model = {"id": REFERENCE_MODEL_ID, "object": "model", "created": 0, "owned_by": "cab-check"}
        return JSONResponse({"object": "list", "data": [model]})

    async def _chat(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(400, "The request body is not valid JSON.")
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            return _error(400, "`messages` must be a list of message objects.")

        tools = body.get("tools")
        reply = self.reply(messages, tools, body.get("tool_choice"))
        message: dict[str, Any] = {"role": "assistant", "content": reply.text}
        completion = reply.text
        if reply.call is not None:
            arguments = json.dumps(reply.call.arguments)
            call = {
                "id": f"call_{uuid.uuid4().hex[:24]}",
                "type": "function",
                "function": {"name": reply.call.name, "arguments": arguments},
            }
            message = {"role": "assistant", "content": None, "tool_calls": [call]}
            completion = f"{reply.call.name} {arguments}"
        usage = {"prompt_tokens": prompt_token_count(messages, tools), "completion_tokens": count_tokens(completion)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        finish_reason = "tool_calls" if reply.call is not None else "stop"

        if body.get("stream") is True:
            options = body.get("stream_options")
            include_usage = isinstance(options, dict) and options.get("include_usage") is True
            events = _sse_events(completion_id, created, message, finish_reason, usage if include_usage else None)
            return StreamingResponse(events, media_type="text/event-stream", headers={"cache-control": "no-cache"})

        return JSONResponse(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": REFERENCE_MODEL_ID,
                "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
                "usage": usage,
            }
        )


def _sse_events(
    completion_id: str, created: int, message: dict[str, Any], finish_reason: str, usage: dict[str, int] | None
) -> Iterator[str]:
    """The reply as OpenAI streams it: role first, then the content or the tool call (its id, type and name,
    then its arguments) in pieces, the finish, usage, then [DONE]."""

    def chunk(choices: list[dict[str, Any]], **extra: Any) -> str:
        payload = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": REFERENCE_MODEL_ID,
            "choices": choices,
            **extra,
        }
        return f"data: {json.dumps(payload)}\n\n"

    def delta(content: dict[str, Any]) -> str:
        return chunk([{"index": 0, "delta": content, "finish_reason": None}])

    text = message.get("content") or ""
    yield delta({"role": "assistant", "content": "" if message.get("content") is not None else None})
    for start in range(0, len(text), STREAM_PIECE_CHARS):
        yield delta({"content": text[start : start + STREAM_PIECE_CHARS]})
    for index, call in enumerate(message.get("tool_calls") or []):
        function = call["function"]
        header = {"index": index, "id": call["id"], "type": "function"}
        yield delta({"tool_calls": [{**header, "function": {"name": function["name"], "arguments": ""}}]})
        arguments = function["arguments"]
        for start in range(0, len(arguments), STREAM_PIECE_CHARS):
            piece = arguments[start : start + STREAM_PIECE_CHARS]
            yield delta({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    yield chunk([{"index": 0, "delta": {}, "finish_reason": finish_reason}])
    if usage is not None:
        yield chunk([], usage=usage)
    yield "data: [DONE]\n\n"
