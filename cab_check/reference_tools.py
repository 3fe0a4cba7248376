"""Reads a coding CLI's tool schemas and says how to read, write, edit or run a shell command with them.

The reference model must drive every tool-calling CLI with that CLI's own tools, and CLIs rename their tools
and parameters freely (`file_path`, `filePath`, `path`; `old_string`, `oldString`, `old_str`...). So nothing
here knows a CLI: a tool is classified by its JSON-schema parameters (names, types, which are required,
enums), the way a model reads them. All functions are pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# Parameter names, compared lower-case with `_` and `-` removed.
PATH_NAMES = {"path", "filepath", "filename", "file", "absolutepath", "targetfile", "targetpath", "fullpath"}
CONTENT_NAMES = {"content", "contents", "filetext", "text", "newcontent", "newcontents", "filecontent", "body", "data"}
OLD_NAMES = {"oldstring", "oldstr", "oldtext", "old", "search", "find"}
NEW_NAMES = {"newstring", "newstr", "newtext", "new", "replace", "replacement"}
COMMAND_NAMES = {"command", "cmd", "commandline", "script", "shellcommand"}

# The actions a multiplexing editor (a required enum such as `command` ∈ {view, create, str_replace, ...})
# offers, by the enum value that selects them.
ACTION_WORDS = {
    "read": ("view", "read", "cat", "show", "open"),
    "write": ("create", "write", "overwrite"),
    "edit": ("str_replace", "replace", "edit", "strreplace"),
}


def _norm(name: str) -> str:
    return re.sub(r"[_\-\s]", "", name).lower()


def _types(schema: dict[str, Any]) -> set[str]:
    kind = schema.get("type")
    if isinstance(kind, list):
        return {k for k in kind if isinstance(k, str)}
    if isinstance(kind, str):
        return {kind}
    # anyOf/oneOf: the union of its branches (pydantic writes optional fields this way).
    branches = schema.get("anyOf") or schema.get("oneOf") or []
    return set().union(*(_types(b) for b in branches if isinstance(b, dict))) if branches else set()


def _is_string(schema: dict[str, Any]) -> bool:
    return "string" in _types(schema) or (not _types(schema) and "enum" not in schema)


def _is_string_array(schema: dict[str, Any]) -> bool:
    items = schema.get("items")
    return "array" in _types(schema) and isinstance(items, dict) and "string" in _types(items)


def _find(props: dict[str, dict[str, Any]], names: set[str], *, strings_only: bool = True) -> str | None:
    for name, schema in props.items():
        if _norm(name) in names and (not strings_only or _is_string(schema)) and "enum" not in schema:
            return name
    return None


@dataclass(frozen=True)
class ToolUse:
    """One way to do one action with one of the CLI's tools: which parameter takes which value."""

    action: str  # read, write, edit, shell, patch
    name: str
    properties: dict[str, dict[str, Any]]
    required: tuple[str, ...]
    slots: dict[str, str]  # role (path, content, old, new, command, edits, patch) -> parameter name
    fixed: dict[str, Any] = field(default_factory=dict)  # e.g. {"command": "view"} for a multiplexer
    edit_item: tuple[str, str] | None = None  # (old, new) keys of the items when edits go in an array
    command_is_array: bool = False

    def arguments(self, purpose: str, **values: Any) -> dict[str, Any]:
        """The call's arguments: the fixed selector, the values for the roles, and every other required
        parameter filled from its schema so the CLI's validator accepts the call."""
        args: dict[str, Any] = dict(self.fixed)
        for role, value in values.items():
            param = self.slots[role]
            if role == "command" and self.command_is_array:
                value = ["bash", "-lc", value]
            elif role == "edits" and self.edit_item:
                old_key, new_key = self.edit_item
                value = [{old_key: value[0], new_key: value[1]}]
            args[param] = value
        # A risk rating is filled even when optional: an agent with a security analyzer insists on it.
        risk = [p for p in self.properties if "risk" in _norm(p)]
        for param in (*self.required, *risk):
            if param not in args:
                args[param] = fill_value(param, self.properties.get(param, {}), purpose)
        return args


def fill_value(name: str, schema: dict[str, Any], purpose: str) -> Any:
    """A sensible value for a required parameter the action does not use (a description, a session id...)."""
    if "default" in schema and schema["default"] is not None:
        return schema["default"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        # A risk rating is asked for honestly: writing one file in the workdir is low risk.
        if "risk" in _norm(name) and "LOW" in enum:
            return "LOW"
        return enum[0]
    kinds = _types(schema)
    if "boolean" in kinds:
        return False  # opt-in switches (async, background, sandbox overrides) stay off
    if kinds & {"number", "integer"}:
        if "timeout" in _norm(name) or "wait" in _norm(name):
            return 120000 if "millisecond" in str(schema.get("description", "")).lower() or "ms" in name else 120
        return max(schema.get("minimum", 0), 0)
    if "array" in kinds:
        return []
    if "object" in kinds:
        return {}
    if _norm(name).endswith("id"):
        return "reference"  # a session/shell id: any stable name opens or reuses one
    return purpose


def tool_functions(tools: Any) -> list[dict[str, Any]]:
    """The function definitions of a Chat Completions `tools` list (nested or flat), skipping other kinds."""
    functions = []
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            continue
        function = tool.get("function", tool)
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            functions.append(function)
    return functions


def classify(function: dict[str, Any]) -> list[ToolUse]:
    """What one tool can be used for. A tool can offer several actions (a multiplexing editor) or none."""
    name = function["name"]
    parameters = function.get("parameters") or {}
    props = {k: v for k, v in (parameters.get("properties") or {}).items() if isinstance(v, dict)}
    required = tuple(r for r in parameters.get("required") or [] if isinstance(r, str))
    path = _find(props, PATH_NAMES)
    content, old, new = _find(props, CONTENT_NAMES), _find(props, OLD_NAMES), _find(props, NEW_NAMES)

    def use(action: str, slots: dict[str, str], **extra: Any) -> ToolUse:
        return ToolUse(action, name, props, required, slots, **extra)

    selector = next(
        (p for p in required if isinstance(props.get(p, {}).get("enum"), list) and "risk" not in _norm(p)), None
    )
    if selector and path:
        uses: list[ToolUse] = []
        for value in props[selector]["enum"]:
            word = _norm(str(value))
            action = next((a for a, words in ACTION_WORDS.items() if word in {_norm(w) for w in words}), None)
            slots = {"read": {"path": path}, "write": {"path": path, "content": content or ""},
                     "edit": {"path": path, "old": old or "", "new": new or ""}}.get(action or "")  # fmt: skip
            if action and slots and all(slots.values()) and action not in {u.action for u in uses}:
                uses.append(use(action, slots, fixed={selector: value}))
        return uses

    command = next(
        (p for p in required if _norm(p) in COMMAND_NAMES and "enum" not in props.get(p, {})),
        None,
    )
    if command and not (path and path in required):
        return [use("shell", {"command": command}, command_is_array=_is_string_array(props[command]))]
    if path:
        edit_array = _edit_array(props)
        if old and new:
            return [use("edit", {"path": path, "old": old, "new": new})]
        if edit_array:
            array_param, item_keys = edit_array
            return [use("edit", {"path": path, "edits": array_param}, edit_item=item_keys)]
        if content:
            return [use("write", {"path": path, "content": content})]
        if required == (path,) and not _about_directories(props[path]) and not _about_images(function):
            return [use("read", {"path": path})]
        return []
    patch = _patch_param(function, props, required)
    return [use("patch", {"patch": patch})] if patch else []


def _edit_array(props: dict[str, dict[str, Any]]) -> tuple[str, tuple[str, str]] | None:
    """An array parameter whose items are {old, new} replacements (several edits in one call)."""
    for name, schema in props.items():
        items = schema.get("items")
        if "array" in _types(schema) and isinstance(items, dict):
            item_props = items.get("properties") or {}
            old, new = _find(item_props, OLD_NAMES), _find(item_props, NEW_NAMES)
            if old and new:
                return name, (old, new)
    return None


def _about_directories(schema: dict[str, Any]) -> bool:
    text = str(schema.get("description", "")).lower()
    return "director" in text and "file" not in text


def _about_images(function: dict[str, Any]) -> bool:
    # codex's view_image takes just a path, like a file reader, but shows the model pixels, not the text. Only the
    # name tells: real file readers' descriptions mention images too ("also reads images").
    return "image" in str(function.get("name", "")).lower()


def _patch_param(function: dict[str, Any], props: dict[str, dict[str, Any]], required: tuple[str, ...]) -> str | None:
    """The one string parameter of a tool that applies a patch in the `*** Begin Patch` envelope."""
    if len(required) != 1 or not _is_string(props.get(required[0], {})):
        return None
    text = " ".join([function["name"], required[0], str(function.get("description", ""))]).lower()
    return required[0] if "*** begin patch" in text or ("patch" in text and "apply" in text) else None


@dataclass(frozen=True)
class Toolbox:
    """The CLI's tools by action: the first tool offering each one (a file reader is preferred for reads)."""

    read: ToolUse | None = None
    write: ToolUse | None = None
    edit: ToolUse | None = None
    shell: ToolUse | None = None
    patch: ToolUse | None = None

    @property
    def empty(self) -> bool:
        return not any((self.read, self.write, self.edit, self.shell, self.patch))


def toolbox(tools: Any) -> Toolbox:
    found: dict[str, ToolUse] = {}
    for function in tool_functions(tools):
        for use in classify(function):
            current = found.get(use.action)
            if current is None or (use.action == "read" and _read_score(use) > _read_score(current)):
                found[use.action] = use
    return Toolbox(**found)


def _read_score(use: ToolUse) -> int:
    # A tool named for reading files beats one that merely takes a path (a stat or open-in-editor tool).
    return int(any(word in use.name.lower() for word in ("read", "view", "cat")))
