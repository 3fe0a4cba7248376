"""The reference model: its replies, read back with aider 0.86.2's own parsing rules, must yield the fix."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from cab_check.asgi_server import BackgroundServer
from cab_check.models import REFERENCE_MODEL_ID, GraderSpec, TaskSpec
from cab_check.reference_model import (
    ALREADY_FIXED,
    ASK_TO_ADD,
    SUMMARY_REPLY,
    EditFormat,
    ReferenceModel,
    count_tokens,
    detect_aider_protocol,
    search_replace_pairs,
    udiff_hunks,
)

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
                hunks, hunk = hunks + [hunk] if hunk else hunks, []
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
