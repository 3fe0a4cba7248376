"""The reference model: its replies, read back with aider 0.86.2's own parsing rules, must yield the fix."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from cab_check.asgi_server import BackgroundServer
from cab_check.catalog import load_task
from cab_check.models import REFERENCE_MODEL_ID, GraderSpec, TaskSpec
from cab_check.reference_model import (
    ALREADY_FIXED,
    ASK_TO_ADD,
    SUMMARY_REPLY,
    EditFormat,
    ReferenceModel,
    count_tokens,
    detect_aider_protocol,
    heredoc_script,
    read_text_tree,
    search_replace_pairs,
    udiff_hunks,
)
from cab_check.reference_tools import toolbox

BUGGY = "def add(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n"
FIXED = "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n"
WORKDIR = {"src/calc.py": BUGGY, "README.md": "A calculator.\n"}
SOLUTION = {"src/calc.py": FIXED}

# --- aider's prompts, as aider 0.86.2 renders them (the parts the reference model reads) ---------------------------


def whole_system(fence: tuple[str, str] = ("```", "```")) -> str:
    return (
        "Act as an expert software developer.\n"
        "Once you understand the request you MUST:\n"
        "3. If changes are needed, output a copy of each file that needs changes.\n\n"
        "To suggest changes to a file you MUST return the entire content of the updated file.\n"
        "You MUST use this *file listing* format:\n\n"
        f"path/to/filename.js\n{fence[0]}\n// entire file content ...\n// ... goes in between\n{fence[1]}\n\n"
        "Every *file listing* MUST use this format:\n"
    )


def diff_system(fence: tuple[str, str] = ("```", "```")) -> str:
    return (
        "Act as an expert software developer.\n"
        "3. Describe each change with a *SEARCH/REPLACE block* per the examples below.\n\n"
        "# *SEARCH/REPLACE block* Rules:\n\n"
        "Every *SEARCH/REPLACE block* must use this format:\n"
        "1. The *FULL* file path alone on a line, verbatim. No bold asterisks, no quotes around it, etc.\n"
        f"2. The opening fence and code language, eg: {fence[0]}python\n"
        "3. The start of search block: <<<<<<< SEARCH\n"
        "4. A contiguous chunk of lines to search for in the existing source code\n"
        "5. The dividing line: =======\n"
        "6. The lines to replace into the source code\n"
        "7. The end of the replace block: >>>>>>> REPLACE\n"
        f"8. The closing fence: {fence[1]}\n"
    )


UDIFF_SYSTEM = (
    "Act as an expert software developer.\n"
    "For each file that needs to be changed, write out the changes similar to a unified diff like `diff -U0` "
    "would produce.\n"
)


def files_message(files: dict[str, str], fence: tuple[str, str] = ("```", "```")) -> dict[str, str]:
    """aider's chat-files message (base_coder.get_files_content)."""
    listing = "".join(f"\n{path}\n{fence[0]}\n{text}{fence[1]}\n" for path, text in files.items())
    prefix = "I have *added these files to the chat* so you can go ahead and edit them.\n"
    return {"role": "user", "content": prefix + listing}


def conversation(system: str, files: dict[str, str] | None = None, fence=("```", "```")) -> list[dict[str, str]]:
    messages = [
        {"role": "system", "content": system},
        # aider's example exchange: an assistant message that is not ours.
        {"role": "user", "content": "Change the greeting to be more casual"},
        {"role": "assistant", "content": f"show_greeting.py\n{fence[0]}\nprint('Hey')\n{fence[1]}\n"},
    ]
    if files:
        messages += [files_message(files, fence), {"role": "assistant", "content": "Ok, any changes I propose..."}]
    return [*messages, {"role": "user", "content": "fix it"}]


# --- aider's parsers, condensed from aider 0.86.2 ------------------------------------------------------------------


def apply_whole(reply: str, files: dict[str, str], fence: tuple[str, str]) -> dict[str, str]:
    """wholefile_coder.get_edits + apply_edits: the line before an opening fence names the file."""
    result = dict(files)
    lines = reply.splitlines(keepends=True)
    fname, new_lines = None, []
    for i, line in enumerate(lines):
        if line.startswith((fence[0], fence[1])):
            if fname is not None:
                result[fname] = "".join(new_lines)
                fname, new_lines = None, []
                continue
            fname = lines[i - 1].strip().strip("*").rstrip(":").strip("`").lstrip("#").strip() if i else ""
            assert fname, "aider would need a filename before the fence"
        elif fname is not None:
            new_lines.append(line)
    assert fname is None, "unterminated file listing"
    return result


HEAD, DIVIDER, UPDATED = r"^<{5,9} SEARCH>?\s*$", r"^={5,9}\s*$", r"^>{5,9} REPLACE\s*$"


def search_replace_blocks(reply: str, fence: tuple[str, str]) -> list[tuple[str, str, str]]:
    """editblock_coder.find_original_update_blocks: filename within the 3 lines above the HEAD marker."""
    lines = reply.splitlines(keepends=True)
    blocks, i = [], 0
    while i < len(lines):
        if re.match(HEAD, lines[i].strip()):
            filename = None
            for above in reversed(lines[max(0, i - 3) : i]):
                candidate = above.strip()
                if not candidate.startswith(fence[0]) and not candidate.startswith("```"):
                    filename = candidate.rstrip(":").lstrip("#").strip().strip("`").strip("*")
                    break
            assert filename
            original, updated = [], []
            i += 1
            while not re.match(DIVIDER, lines[i].strip()):
                original.append(lines[i])
                i += 1
            i += 1
            while not re.match(UPDATED, lines[i].strip()):
                updated.append(lines[i])
                i += 1
            blocks.append((filename, "".join(original), "".join(updated)))
        i += 1
    return blocks


def apply_search_replace(reply: str, files: dict[str, str], fence: tuple[str, str]) -> dict[str, str]:
    """editblock_coder.do_replace with perfect_replace: the first exact run of SEARCH lines is replaced."""
    result = dict(files)
    for path, original, updated in search_replace_blocks(reply, fence):
        content = result.get(path, "")
        if not original.strip():
            result[path] = content + updated
            continue
        whole = content if content.endswith("\n") else content + "\n"
        whole_lines, part, repl = whole.splitlines(True), original.splitlines(True), updated.splitlines(True)
        for at in range(len(whole_lines) - len(part) + 1):
            if whole_lines[at : at + len(part)] == part:
                result[path] = "".join(whole_lines[:at] + repl + whole_lines[at + len(part) :])
                break
        else:
            pytest.fail(f"SEARCH block does not match {path}")
    return result


def apply_udiff(reply: str, files: dict[str, str]) -> dict[str, str]:
    """udiff_coder.find_diffs + directly_apply_hunk: each hunk's before-text is replaced by its after-text."""
    result = dict(files)
    for block in re.findall(r"^```diff\n(.*?)^```", reply, re.DOTALL | re.MULTILINE):
        lines = block.splitlines(keepends=True)
        assert lines[0].startswith("--- ") and lines[1].startswith("+++ ")
        path = lines[1][4:].strip()
        hunks, hunk = [], []
        for line in lines[2:]:
            if line.startswith("@@"):
                hunks, hunk = [*hunks, hunk] if hunk else hunks, []
            else:
                hunk.append(line)
        hunks.append(hunk)
        for hunk in hunks:
            before = "".join(line[1:] for line in hunk if line[0] in " -")
            after = "".join(line[1:] for line in hunk if line[0] in " +")
            content = result.get(path, "")
            if not before.strip():
                result[path] = content + after
            else:
                assert content.count(before) >= 1, f"hunk does not apply to {path}"
                result[path] = content.replace(before, after)
    return result


# --- the edit formats ----------------------------------------------------------------------------------------------


@pytest.fixture
def model() -> ReferenceModel:
    return ReferenceModel(WORKDIR, SOLUTION)


def test_asks_for_the_files_it_must_change_first(model: ReferenceModel) -> None:
    reply = model.reply_text(conversation(whole_system()))
    assert reply.startswith(ASK_TO_ADD)
    # aider adds every file path a reply mentions as a whole word; only the file to change is named.
    assert "src/calc.py" in reply.split() and "README.md" not in reply
    assert "```" not in reply


def test_whole_format_reply_yields_the_fixed_file(model: ReferenceModel) -> None:
    reply = model.reply_text(conversation(whole_system(), {"src/calc.py": BUGGY}))
    assert apply_whole(reply, WORKDIR, ("```", "```")) == {**WORKDIR, **SOLUTION}


def test_whole_format_uses_the_fence_aider_chose() -> None:
    # A file with ``` lines makes aider pick a four-backtick fence.
    doc, fixed_doc = "# Guide\n\n```\nold\n```\n", "# Guide\n\n```\nnew\n```\n"
    fence = ("````", "````")
    model = ReferenceModel({"guide.md": doc}, {"guide.md": fixed_doc})
    reply = model.reply_text(conversation(whole_system(fence), {"guide.md": doc}, fence))
    assert apply_whole(reply, {"guide.md": doc}, fence) == {"guide.md": fixed_doc}


@pytest.mark.parametrize("fence", [("```", "```"), ("<source>", "</source>")])
def test_search_replace_reply_applied_to_the_original_yields_the_fix(model: ReferenceModel, fence) -> None:
    reply = model.reply_text(conversation(diff_system(fence), {"src/calc.py": BUGGY}, fence))
    assert detect_aider_protocol(conversation(diff_system(fence))).fence == fence
    assert "<<<<<<< SEARCH" in reply
    assert apply_search_replace(reply, WORKDIR, fence) == {**WORKDIR, **SOLUTION}


def test_udiff_reply_applied_to_the_original_yields_the_fix(model: ReferenceModel) -> None:
    reply = model.reply_text(conversation(UDIFF_SYSTEM, {"src/calc.py": BUGGY}))
    assert detect_aider_protocol(conversation(UDIFF_SYSTEM)).edit_format is EditFormat.UDIFF
    assert apply_udiff(reply, WORKDIR) == {**WORKDIR, **SOLUTION}


def test_search_replace_falls_back_to_the_whole_file_when_a_small_block_would_hit_the_wrong_place() -> None:
    current = "x\n" * 10
    fixed = "x\n" * 9 + "y\n"
    pairs = search_replace_pairs(current, fixed)
    assert pairs == [(current, fixed)]
    # And a change with unique context stays small.
    [(search, replace)] = search_replace_pairs(BUGGY, FIXED)
    assert search.startswith("def add(a, b):\n    return a - b\n") and "return a * b" not in search
    assert replace.startswith("def add(a, b):\n    return a + b\n")


def test_udiff_falls_back_to_one_hunk_when_context_repeats() -> None:
    current = "x\n" * 10
    fixed = "x\n" * 9 + "y\n"
    [hunk] = udiff_hunks(current, fixed)
    assert "".join(line[1:] for line in hunk if line[0] == "-") == current


@pytest.mark.parametrize("system", [whole_system(), diff_system(), UDIFF_SYSTEM])
def test_new_files_are_created(system: str) -> None:
    model = ReferenceModel({"a.py": "A = 1\n"}, {"a.py": "A = 2\n", "pkg/new.py": "B = 3\n"})
    reply = model.reply_text(conversation(system, {"a.py": "A = 1\n"}))
    files = {"a.py": "A = 1\n"}
    if system is UDIFF_SYSTEM:
        result = apply_udiff(reply, files)
    elif "*file listing*" in system:
        result = apply_whole(reply, files, ("```", "```"))
    else:
        result = apply_search_replace(reply, files, ("```", "```"))
    assert result == {"a.py": "A = 2\n", "pkg/new.py": "B = 3\n"}


@pytest.mark.parametrize("system", [whole_system(), diff_system(), UDIFF_SYSTEM])
def test_once_the_fix_is_shown_it_says_so_without_edits(model: ReferenceModel, system: str) -> None:
    messages = conversation(system, {"src/calc.py": BUGGY})
    messages += [
        {"role": "assistant", "content": model.reply_text(messages)},
        files_message({"src/calc.py": FIXED}),
        {"role": "user", "content": "Fix any lint errors."},
    ]
    reply = model.reply_text(messages)
    assert reply == ALREADY_FIXED
    assert "```" not in reply and "SEARCH" not in reply


def test_edits_blind_when_the_client_did_not_add_the_file(model: ReferenceModel) -> None:
    messages = conversation(whole_system())
    messages += [{"role": "assistant", "content": model.reply_text(messages)}, {"role": "user", "content": "go on"}]
    reply = model.reply_text(messages)
    assert apply_whole(reply, WORKDIR, ("```", "```")) == {**WORKDIR, **SOLUTION}
    # Asked again with the edit sent and still no file shown: nothing new to say, so no loop of edits.
    messages += [{"role": "assistant", "content": reply}, {"role": "user", "content": "and?"}]
    assert model.reply_text(messages) == ALREADY_FIXED


def test_summary_requests_get_a_plain_summary(model: ReferenceModel) -> None:
    messages = [
        {"role": "system", "content": "*Briefly* summarize this partial conversation about programming."},
        {"role": "user", "content": "# USER\nfix it\n# ASSISTANT\nsrc/calc.py\n```\nx\n```\n"},
    ]
    assert model.reply_text(messages) == SUMMARY_REPLY


def test_a_wrong_fix_model_sends_its_own_solution() -> None:
    wrong = "def add(a, b):\n    return a * b\n\n\ndef mul(a, b):\n    return a * b\n"
    model = ReferenceModel(WORKDIR, {"src/calc.py": wrong})
    reply = model.reply_text(conversation(whole_system(), {"src/calc.py": BUGGY}))
    assert apply_whole(reply, WORKDIR, ("```", "```"))["src/calc.py"] == wrong


def test_from_task_reads_workdir_and_solution(tmp_path: Path) -> None:
    (tmp_path / "workdir" / "src").mkdir(parents=True)
    (tmp_path / "solution" / "src").mkdir(parents=True)
    (tmp_path / "workdir" / "src" / "calc.py").write_text(BUGGY)
    (tmp_path / "workdir" / "README.md").write_text("A calculator.\n")
    (tmp_path / "workdir" / "logo.bin").write_bytes(b"\xff\xfe\x00")
    (tmp_path / "solution" / "src" / "calc.py").write_text(FIXED)
    task = TaskSpec(
        slug="demo/calc", prompt="fix add", language="python", toolchain="python",
        grader=GraderSpec(command=["true"]), root=tmp_path,
    )  # fmt: skip
    model = ReferenceModel.from_task(task)
    assert [(f.path, f.original, f.fixed) for f in model.fixes] == [("src/calc.py", BUGGY, FIXED)]


def test_token_counting_is_deterministic() -> None:
    assert count_tokens("return a + b") == 4
    assert count_tokens("") == 0


# --- over HTTP -----------------------------------------------------------------------------------------------------


@pytest.fixture
def served(model: ReferenceModel):
    with (
        BackgroundServer(model.app) as server,
        httpx.Client(base_url=server.url + "/v1", headers={"authorization": "Bearer anything"}, timeout=10) as client,
    ):
        yield client


def request_body(**extra: Any) -> dict[str, Any]:
    return {"model": REFERENCE_MODEL_ID, "messages": conversation(whole_system(), {"src/calc.py": BUGGY}), **extra}


def test_models_lists_the_reference_model(served: httpx.Client) -> None:
    assert [m["id"] for m in served.get("/models").json()["data"]] == [REFERENCE_MODEL_ID]


def test_chat_completion_reports_usage(served: httpx.Client) -> None:
    response = served.post("/chat/completions", json=request_body())
    assert response.status_code == 200
    data = response.json()
    assert data["object"] == "chat.completion" and data["model"] == REFERENCE_MODEL_ID
    assert data["id"] and data["created"] > 0
    [choice] = data["choices"]
    assert choice["finish_reason"] == "stop" and choice["message"]["role"] == "assistant"
    assert apply_whole(choice["message"]["content"], WORKDIR, ("```", "```")) == {**WORKDIR, **SOLUTION}
    usage = data["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    # Same request, same count.
    assert served.post("/chat/completions", json=request_body()).json()["usage"] == usage


def sse_payloads(text: str) -> list[Any]:
    events = [e for e in text.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    return [e.removeprefix("data: ") for e in events]


def test_streamed_reply_reassembles_with_usage_last(served: httpx.Client) -> None:
    whole = served.post("/chat/completions", json=request_body()).json()
    response = served.post("/chat/completions", json=request_body(stream=True, stream_options={"include_usage": True}))
    assert response.headers["content-type"].startswith("text/event-stream")
    payloads = sse_payloads(response.text)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == whole["choices"][0]["message"]["content"]
    assert len([c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]) > 1
    finish = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert finish == ["stop"]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == whole["usage"]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)


def test_stream_without_include_usage_has_no_usage_chunk(served: httpx.Client) -> None:
    response = served.post("/chat/completions", json=request_body(stream=True))
    chunks = [json.loads(p) for p in sse_payloads(response.text)[:-1]]
    assert all("usage" not in c for c in chunks)


def test_bad_request_is_an_openai_error(served: httpx.Client) -> None:
    response = served.post("/chat/completions", content=b"not json")
    assert response.status_code == 400 and "error" in response.json()


# --- tool-calling CLIs -----------------------------------------------------------------------------------------------
#
# Each CLI is simulated from its real tool schemas (fixtures/cli_tools.json): the model is called over HTTP, each
# tool call runs against a copy of a real task's workdir (paths under /work map to the copy), results go back,
# until the model stops. The simulation of each CLI knows its tool names; the model must not.

TOOL_SCHEMAS = json.loads((Path(__file__).parent / "fixtures" / "cli_tools.json").read_text())
RUST_TASK = Path(__file__).resolve().parents[2] / "resources" / "tasks" / "polyglot" / "rust-error-handling"
MUST_READ = "Error: File has not been read yet. Read it first before writing to it."
SUBMIT = "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"
MINI_SYSTEM = (
    "You are a helpful assistant that can interact with a computer.\n"
    f"6. Submit your changes and finish your work by issuing the following command: `{SUBMIT}`.\n"
)


class Submitted(Exception):
    """mini-swe-agent ends the run when the submit command's output starts with its token."""


class SimulatedCLI:
    """Runs tool calls the way the CLI's tools do: read marks a file read, write/edit may demand that first."""

    def __init__(self, workdir: Path, handlers: dict[str, Any], schemas: list[dict[str, Any]]) -> None:
        self.workdir, self.handlers, self.read = workdir, handlers, set()
        self.schemas = {t["function"]["name"]: t["function"]["parameters"] for t in schemas}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def local(self, path: str) -> Path:
        assert path.startswith("/work/"), f"expected an absolute path under /work, got {path!r}"
        return self.workdir / path.removeprefix("/work/")

    def run(self, name: str, arguments: str) -> str:
        args = json.loads(arguments)
        self.calls.append((name, args))
        schema = self.schemas[name]  # an unknown tool would be refused by the CLI
        missing = [p for p in schema.get("required", []) if p not in args]
        unknown = [p for p in args if p not in schema["properties"]]
        assert not missing and not unknown, f"{name}: missing {missing}, unknown {unknown}"
        for param, value in args.items():
            kind = schema["properties"][param].get("type")
            python = {
                "string": str,
                "boolean": bool,
                "array": list,
                "object": dict,
                "number": (int, float),
                "integer": int,
            }
            assert kind is None or isinstance(value, python[kind]), f"{name}.{param} should be {kind}: {value!r}"
        return self.handlers[name](self, args)


def read_tool(path_key: str):
    def run(cli: SimulatedCLI, args: dict[str, Any]) -> str:
        target = cli.local(args[path_key])
        if not target.is_file():
            return f"Error: File not found: {args[path_key]}"
        cli.read.add(target)
        return "".join(f"{n:6}\t{line}" for n, line in enumerate(target.read_text().splitlines(True), 1))

    return run


def write_tool(path_key: str, content_key: str, must_read: bool = False):
    def run(cli: SimulatedCLI, args: dict[str, Any]) -> str:
        target = cli.local(args[path_key])
        if must_read and target.exists() and target not in cli.read:
            return MUST_READ
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(args[content_key])
        return f"File written successfully at: {args[path_key]}"

    return run


def replace_in(cli: SimulatedCLI, path: str, old: str, new: str, must_read: bool) -> str:
    target = cli.local(path)
    if must_read and target not in cli.read:
        return MUST_READ
    content = target.read_text()
    if content.count(old) != 1:
        return f"Error: old string found {content.count(old)} times in {path}"
    target.write_text(content.replace(old, new))
    return f"The file {path} has been updated. Here's the result of running `cat -n`:\n{new}"


def edit_tool(path_key: str, old_key: str, new_key: str, must_read: bool = False):
    return lambda cli, args: replace_in(cli, args[path_key], args[old_key], args[new_key], must_read)


def pi_edit_tool(cli: SimulatedCLI, args: dict[str, Any]) -> str:
    results = [replace_in(cli, args["path"], e["oldText"], e["newText"], False) for e in args["edits"]]
    return "\n".join(results) if any(r.startswith("Error") for r in results) else "Successfully replaced 1 block(s)."


def editor_tool(cli: SimulatedCLI, args: dict[str, Any]) -> str:
    """str_replace_editor / file_editor: view, create (refused on an existing file), str_replace."""
    if args["command"] == "view":
        return read_tool("path")(cli, args)
    if args["command"] == "create":
        if cli.local(args["path"]).exists():
            return f"ERROR:\nInvalid `path` parameter: {args['path']}. File already exists."
        return write_tool("path", "file_text")(cli, args)
    assert args["command"] == "str_replace", args
    return replace_in(cli, args["path"], args["old_str"], args["new_str"], False)


def shell_tool(command_key: str):
    def run(cli: SimulatedCLI, args: dict[str, Any]) -> str:
        command = args[command_key]
        argv = command if isinstance(command, list) else ["bash", "-c", command]
        argv = [part.replace("/work", str(cli.workdir)) for part in argv]
        done = subprocess.run(argv, check=False, cwd=cli.workdir, capture_output=True, text=True, timeout=30)
        if done.stdout.startswith("COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"):
            raise Submitted
        return f"<returncode>{done.returncode}</returncode>\n<output>\n{done.stdout}{done.stderr}</output>"

    return run


def apply_patch_tool(cli: SimulatedCLI, args: dict[str, Any]) -> str:
    """codex apply_patch, for the one whole-file hunk shape: `-` lines are the old text, `+` lines the new."""
    lines = args["input"].splitlines()
    assert lines[0] == "*** Begin Patch" and lines[-1] == "*** End Patch"
    path = lines[1].removeprefix("*** Update File: ")
    old = "".join(line[1:] + "\n" for line in lines[2:-1] if line.startswith("-"))
    new = "".join(line[1:] + "\n" for line in lines[2:-1] if line.startswith("+"))
    return replace_in(cli, "/work/" + path, old, new, False).replace("has been updated", "was patched")


HANDLERS: dict[str, dict[str, Any]] = {
    "pi": {
        "read": read_tool("path"),
        "write": write_tool("path", "content"),
        "edit": pi_edit_tool,
        "bash": shell_tool("command"),
    },
    "opencode": {
        "read": read_tool("filePath"),
        "write": write_tool("filePath", "content", must_read=True),
        "edit": edit_tool("filePath", "oldString", "newString", must_read=True),
        "bash": shell_tool("command"),
    },
    "copilot": {
        "bash": shell_tool("command"),
        "view": read_tool("path"),
        "create": write_tool("path", "file_text"),
        "edit": edit_tool("path", "old_str", "new_str"),
    },
    "copilot-str-replace-editor": {"bash": shell_tool("command"), "str_replace_editor": editor_tool},
    "qwen-code": {
        "read_file": read_tool("file_path"),
        "edit": edit_tool("file_path", "old_string", "new_string"),
        "write_file": write_tool("file_path", "content"),
        "run_shell_command": shell_tool("command"),
    },
    "openhands": {"terminal": shell_tool("command"), "file_editor": editor_tool},
    "codex": {"exec_command": shell_tool("cmd")},
    "codex-apply-patch": {"shell": shell_tool("command"), "apply_patch": apply_patch_tool},
    "claude-code": {
        "Read": read_tool("file_path"),
        "Write": write_tool("file_path", "content", must_read=True),
        "Edit": edit_tool("file_path", "old_string", "new_string", must_read=True),
        "Bash": shell_tool("command"),
    },
    "mini-swe-agent": {"bash": shell_tool("command")},
}  # fmt: skip


@pytest.fixture
def rust_model() -> ReferenceModel:
    return ReferenceModel.from_task(load_task(RUST_TASK))


@pytest.fixture
def rust_served(rust_model: ReferenceModel):
    with (
        BackgroundServer(rust_model.app) as server,
        httpx.Client(base_url=server.url + "/v1", headers={"authorization": "Bearer x"}, timeout=10) as client,
    ):
        yield client


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return Path(shutil.copytree(RUST_TASK / "workdir", tmp_path / "work"))


def streamed_message(text: str) -> tuple[dict[str, Any], str]:
    """Reassembles a streamed reply the way OpenAI clients do: content pieces, tool calls by index."""
    message: dict[str, Any] = {"role": "assistant", "content": None}
    calls: dict[int, dict[str, Any]] = {}
    finish = ""
    for payload in sse_payloads(text)[:-1]:
        for choice in json.loads(payload)["choices"]:
            delta = choice["delta"]
            if delta.get("content"):
                message["content"] = (message["content"] or "") + delta["content"]
            for part in delta.get("tool_calls") or []:
                call = calls.setdefault(
                    part["index"], {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
                )
                call["id"] += part.get("id", "")
                call["function"]["name"] += part.get("function", {}).get("name", "")
                call["function"]["arguments"] += part.get("function", {}).get("arguments", "")
            finish = choice["finish_reason"] or finish
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    return message, finish


def drive(
    client: httpx.Client,
    cli: SimulatedCLI,
    tools: list[dict[str, Any]],
    system: str = "You are a coding agent.",
    stream: bool = False,
    max_turns: int = 12,
) -> dict[str, Any] | None:
    """The CLI's loop. Returns the final assistant message, or None when the agent ended by submitting."""
    prompt = load_task(RUST_TASK).prompt
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}, {"role": "user", "content": prompt}]
    for _ in range(max_turns):
        body = {"model": REFERENCE_MODEL_ID, "messages": messages, "tools": tools, "parallel_tool_calls": False}
        if stream:
            body |= {"stream": True, "stream_options": {"include_usage": True}}
        response = client.post("/chat/completions", json=body)
        assert response.status_code == 200
        if stream:
            message, finish = streamed_message(response.text)
        else:
            [choice] = response.json()["choices"]
            message, finish = choice["message"], choice["finish_reason"]
        messages.append(message)
        if finish == "stop":
            assert not message.get("tool_calls")
            return message
        assert finish == "tool_calls" and len(message["tool_calls"]) == 1
        for call in message["tool_calls"]:
            try:
                result = cli.run(call["function"]["name"], call["function"]["arguments"])
            except Submitted:
                return None
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
    pytest.fail("the model did not stop")


def assert_fixed(workdir: Path) -> None:
    solution = read_text_tree(RUST_TASK / "solution")
    assert {path: read_text_tree(workdir)[path] for path in solution} == solution
    assert set(read_text_tree(workdir)) == set(read_text_tree(RUST_TASK / "workdir"))


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_each_cli_applies_the_fix_with_its_own_tools(rust_served, workdir: Path, name: str, stream: bool) -> None:
    tools = TOOL_SCHEMAS[name]["tools"]
    cli = SimulatedCLI(workdir, HANDLERS[name], tools)
    system = MINI_SYSTEM if name == "mini-swe-agent" else "You are a coding agent."
    final = drive(rust_served, cli, tools, system, stream=stream)
    assert_fixed(workdir)
    if name == "mini-swe-agent":
        assert final is None and cli.calls[-1] == ("bash", {"command": SUBMIT})
    else:
        assert final is not None and "reference model" in final["content"]
    # The natural tool was used: no shell fallback when the CLI has file tools that work.
    used = [call_name for call_name, _ in cli.calls]
    expected = {"pi": ["read", "edit"], "opencode": ["read", "edit"], "copilot": ["view", "edit"],
                "copilot-str-replace-editor": ["str_replace_editor"] * 2, "qwen-code": ["read_file", "edit"],
                "openhands": ["file_editor"] * 2, "codex": ["exec_command"], "codex-apply-patch": ["shell"],
                "claude-code": ["Read", "Edit"], "mini-swe-agent": ["bash", "bash"]}  # fmt: skip
    assert used == expected[name]


def test_a_refused_write_falls_back_to_the_shell(rust_served, workdir: Path) -> None:
    # Without a read tool, claude-code's Write and Edit refuse an unread file; the heredoc still works.
    tools = [t for t in TOOL_SCHEMAS["claude-code"]["tools"] if t["function"]["name"] != "Read"]
    cli = SimulatedCLI(workdir, HANDLERS["claude-code"], tools)
    final = drive(rust_served, cli, tools)
    assert_fixed(workdir)
    assert [n for n, _ in cli.calls] == ["Edit", "Write", "Bash"] and "reference model" in final["content"]


def test_a_failed_edit_falls_back_to_reading_and_writing(rust_served, workdir: Path) -> None:
    handlers = {**HANDLERS["opencode"], "edit": lambda cli, args: "Error: oldString not found in content"}
    cli = SimulatedCLI(workdir, handlers, TOOL_SCHEMAS["opencode"]["tools"])
    drive(rust_served, cli, TOOL_SCHEMAS["opencode"]["tools"], stream=True)
    assert_fixed(workdir)
    assert [n for n, _ in cli.calls] == ["read", "edit", "read", "write"]


def test_a_denied_shell_falls_back_to_apply_patch(rust_served, workdir: Path) -> None:
    handlers = {
        **HANDLERS["codex-apply-patch"],
        "shell": lambda cli, args: "Exit code: 1\nOutput:\nsandbox: operation not permitted",
    }
    cli = SimulatedCLI(workdir, handlers, TOOL_SCHEMAS["codex-apply-patch"]["tools"])
    drive(rust_served, cli, TOOL_SCHEMAS["codex-apply-patch"]["tools"])
    assert_fixed(workdir)
    assert [n for n, _ in cli.calls] == ["shell", "apply_patch"]


def test_when_every_tool_fails_it_stops_and_says_so(rust_served, workdir: Path) -> None:
    tools = [t for t in TOOL_SCHEMAS["claude-code"]["tools"] if t["function"]["name"] not in ("Read", "Bash")]
    cli = SimulatedCLI(workdir, HANDLERS["claude-code"], tools)
    final = drive(rust_served, cli, tools)
    assert "could not apply" in final["content"] and "src/lib.rs" in final["content"]
    assert read_text_tree(workdir) == read_text_tree(RUST_TASK / "workdir")


def test_tools_without_a_task_yet_get_a_plain_answer(rust_served) -> None:
    body = {"model": REFERENCE_MODEL_ID, "messages": [{"role": "system", "content": "You are a coding agent."}],
            "tools": TOOL_SCHEMAS["pi"]["tools"]}  # fmt: skip
    [choice] = rust_served.post("/chat/completions", json=body).json()["choices"]
    assert choice["finish_reason"] == "stop" and "reference model" in choice["message"]["content"]
    assert not choice["message"].get("tool_calls")


def test_streamed_tool_call_has_openai_shape(rust_served) -> None:
    messages = [{"role": "user", "content": "fix it"}]
    body = {"model": REFERENCE_MODEL_ID, "messages": messages, "tools": TOOL_SCHEMAS["claude-code"]["tools"]}
    whole = rust_served.post("/chat/completions", json=body).json()
    streamed = rust_served.post(
        "/chat/completions", json=body | {"stream": True, "stream_options": {"include_usage": True}}
    )
    payloads = sse_payloads(streamed.text)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0]["role"] == "assistant"
    head = deltas[1]["tool_calls"][0]
    assert head["index"] == 0 and head["id"].startswith("call_") and head["type"] == "function"
    assert head["function"] == {"name": "Read", "arguments": ""}
    arguments = "".join(d["tool_calls"][0]["function"]["arguments"] for d in deltas[2:] if d.get("tool_calls"))
    assert json.loads(arguments) == {"file_path": "/work/src/lib.rs"}
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "tool_calls"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == whole["usage"]
    [choice] = whole["choices"]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    usage = whole["usage"]
    # The tool schemas are part of the prompt, so it is far bigger than the one short message.
    assert usage["prompt_tokens"] > 500 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("pi", {"read": "read", "edit": "edit", "write": "write", "shell": "bash"}),
        ("opencode", {"read": "read", "edit": "edit", "write": "write", "shell": "bash"}),
        ("copilot", {"read": "view", "edit": "edit", "write": "create", "shell": "bash"}),
        ("copilot-str-replace-editor", {**dict.fromkeys(("read", "edit", "write"), "str_replace_editor"),
                                        "shell": "bash"}),
        ("qwen-code", {"read": "read_file", "edit": "edit", "write": "write_file", "shell": "run_shell_command"}),
        ("openhands", {"read": "file_editor", "edit": "file_editor", "write": "file_editor", "shell": "terminal"}),
        ("codex", {"shell": "exec_command"}),  # view_image takes a path but is not a file reader
        ("codex-apply-patch", {"shell": "shell", "patch": "apply_patch"}),
        ("claude-code", {"read": "Read", "edit": "Edit", "write": "Write", "shell": "Bash"}),
        ("mini-swe-agent", {"shell": "bash"}),
    ],
)  # fmt: skip
def test_tools_are_classified_from_their_schemas(name: str, expected: dict[str, str]) -> None:
    box = toolbox(TOOL_SCHEMAS[name]["tools"])
    found = {
        action: getattr(box, action).name
        for action in ("read", "edit", "write", "shell", "patch")
        if getattr(box, action)
    }
    assert found == expected


def test_heredoc_script_writes_files_exactly(tmp_path: Path) -> None:
    for content in ("a\nCAB_EOF\nb\n", "no final newline", "", "$HOME `x` 'q'\n"):
        target = tmp_path / "d" / "f.txt"
        subprocess.run(["bash", "-c", heredoc_script(str(target), content)], check=True)
        assert target.read_text() == content


@pytest.mark.parametrize("name", ["claude-code", "openhands", "mini-swe-agent"])
def test_tool_calls_create_new_files_and_change_several(tmp_path: Path, name: str) -> None:
    (tmp_path / "a.py").write_text("A = 1\n")
    model = ReferenceModel({"a.py": "A = 1\n"}, {"a.py": "A = 2\n", "pkg/new.py": "B = 3"})
    tools = TOOL_SCHEMAS[name]["tools"]
    cli = SimulatedCLI(tmp_path, HANDLERS[name], tools)
    messages: list[dict[str, Any]] = [{"role": "user", "content": "fix it"}]
    for turn in range(10):
        reply = model.reply(messages, tools)
        if reply.call is None:
            break
        call_id = f"call_{turn}"
        function = {"name": reply.call.name, "arguments": json.dumps(reply.call.arguments)}
        messages.append({"role": "assistant", "content": None, "tool_calls": [{"id": call_id, "function": function}]})
        messages.append({"role": "tool", "tool_call_id": call_id, "content": cli.run(**function)})
    assert "reference model" in reply.text
    assert read_text_tree(tmp_path) == {"a.py": "A = 2\n", "pkg/new.py": "B = 3"}
