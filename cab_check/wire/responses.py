"""The OpenAI Responses API (`POST /v1/responses`), as Codex CLI speaks it, on top of Chat Completions.

Codex sends the whole conversation every turn (`store: false`), so no server-side state is needed: `input` items
become chat messages, `tools` become chat functions, and the chat answer becomes output items. Codex reads only
`response.output_item.done` items, `response.output_text.delta` and the closing `response.completed` (with usage),
but the other events OpenAI sends are produced too, so stricter clients are served as well.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from cab_check.wire import (
    ToolCallAccumulator,
    WireError,
    as_dict,
    as_list,
    as_text,
    chat_usage,
    first_choice,
    new_id,
    openai_error_body,
    sse,
)

# Chat parameters that carry over under the same name.
_SAME_NAME = ("temperature", "top_p", "user")


@dataclass(frozen=True)
class _Tool:
    kind: str  # "function" or "custom"
    name: str  # the name the client knows
    namespace: str | None = None


@dataclass
class ToolMap:
    """The client's tools as chat functions, and the way back from a chat function name to the client's tool."""

    by_chat_name: dict[str, _Tool] = field(default_factory=dict)
    chat_tools: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, request: dict[str, Any]) -> ToolMap:
        tools = cls()
        listed = [t for t in as_list(request.get("tools")) if isinstance(t, dict)]
        # Top-level tools first, so a namespaced tool is the one renamed if two share a name.
        for tool in listed:
            tools._add(tool, None)
        for tool in listed:
            if tool.get("type") == "namespace" and isinstance(tool.get("name"), str):
                for inner in as_list(tool.get("tools")):
                    if isinstance(inner, dict):
                        tools._add(inner, tool["name"])
        return tools

    def _add(self, tool: dict[str, Any], namespace: str | None) -> None:
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            return
        chat_name = self.chat_name(name, namespace)
        function = _chat_function(tool, chat_name)
        if function is not None:
            self.by_chat_name[chat_name] = _Tool(tool["type"], name, namespace)
            self.chat_tools.append(function)

    def chat_name(self, name: str, namespace: str | None) -> str:
        # A namespaced tool keeps its own name unless that clashes, since the model sees only the chat name.
        if namespace is None:
            return name
        taken = self.by_chat_name.get(name)
        return name if taken is None or taken.namespace == namespace else f"{namespace}__{name}"

    def output_item(self, call_id: str, chat_name: str, arguments: str, status: str = "completed") -> dict[str, Any]:
        tool = self.by_chat_name.get(chat_name, _Tool("function", chat_name))
        if tool.kind == "custom":
            return {
                "id": new_id("ctc_"),
                "type": "custom_tool_call",
                "status": status,
                "call_id": call_id,
                "name": tool.name,
                "input": _custom_input(arguments),
            }
        item = {
            "id": new_id("fc_"),
            "type": "function_call",
            "status": status,
            "call_id": call_id,
            "name": tool.name,
            "arguments": arguments,
        }
        if tool.namespace is not None:
            item["namespace"] = tool.namespace
        return item


def _custom_input(arguments: str) -> str:
    """A freeform tool's text, out of the one-string-parameter function the model called instead."""
    try:
        parsed = json.loads(arguments)
    except ValueError:
        return arguments
    text = as_dict(parsed).get("input")
    return text if isinstance(text, str) else arguments


# --- request ---------------------------------------------------------------------------------------------------


def chat_request(request: object) -> dict[str, Any]:
    """The chat-completions request for a Responses request."""
    if not isinstance(request, dict):
        raise WireError("the request body must be a JSON object")
    model = request.get("model")
    if not isinstance(model, str) or not model:
        raise WireError("`model` is required")
    tools = ToolMap.of(request)

    system: list[str] = []
    if isinstance(request.get("instructions"), str) and request["instructions"]:
        system.append(request["instructions"])
    messages: list[dict[str, Any]] = []
    items = request.get("input")
    if isinstance(items, str):
        items = [{"type": "message", "role": "user", "content": items}]
    for item in as_list(items):
        if isinstance(item, dict):
            _add_input_item(item, tools, system, messages)
    # Many chat templates accept one system message, and only first; later developer notes join it.
    if system:
        messages.insert(0, {"role": "system", "content": "\n\n".join(system)})

    chat: dict[str, Any] = {"model": model, "messages": messages}
    if tools.chat_tools:
        chat["tools"] = tools.chat_tools
        if (choice := _tool_choice(request.get("tool_choice"), tools)) is not None:
            chat["tool_choice"] = choice
        if isinstance(request.get("parallel_tool_calls"), bool):
            chat["parallel_tool_calls"] = request["parallel_tool_calls"]
    for key in _SAME_NAME:
        if request.get(key) is not None:
            chat[key] = request[key]
    if isinstance(request.get("max_output_tokens"), int):
        chat["max_tokens"] = request["max_output_tokens"]
    if (response_format := _response_format(request.get("text"))) is not None:
        chat["response_format"] = response_format
    if request.get("stream") is True:
        chat["stream"] = True
    return chat


def _add_input_item(item: dict[str, Any], tools: ToolMap, system: list[str], messages: list[dict[str, Any]]) -> None:
    kind = item.get("type", "message")
    if kind == "message":
        role = item.get("role")
        content = item.get("content")
        if role in ("system", "developer"):
            system.append(_join_text(content))
        elif role == "assistant":
            messages.append({"role": "assistant", "content": _join_text(content)})
        else:
            messages.append({"role": "user", "content": _user_content(content)})
    elif kind in ("function_call", "custom_tool_call"):
        namespace = item.get("namespace") if isinstance(item.get("namespace"), str) else None
        name = tools.chat_name(str(item.get("name", "")), namespace)
        if kind == "function_call":
            arguments = item.get("arguments") if isinstance(item.get("arguments"), str) else "{}"
        else:
            arguments = json.dumps({"input": str(item.get("input", ""))}, ensure_ascii=False)
        call = {
            "id": str(item.get("call_id", "")),
            "type": "function",
            "function": {"name": name, "arguments": arguments},
        }
        last = messages[-1] if messages else None
        # Parallel calls, and text said just before them, belong in one assistant turn.
        if last is not None and last["role"] == "assistant":
            last.setdefault("tool_calls", []).append(call)
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    elif kind in ("function_call_output", "custom_tool_call_output"):
        messages.append(
            {"role": "tool", "tool_call_id": str(item.get("call_id", "")), "content": _output_text(item.get("output"))}
        )
    # Reasoning items (encrypted, for OpenAI's models only), web searches and references have no chat form.


def _join_text(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(as_text(part) for part in content if isinstance(part, dict) and as_text(part))
    return as_text(content)


def _user_content(content: Any) -> str | list[dict[str, Any]]:
    if not isinstance(content, list):
        return as_text(content)
    images = [p for p in content if isinstance(p, dict) and p.get("type") == "input_image"]
    if not images:
        return _join_text(content)
    parts: list[dict[str, Any]] = []
    for part in content:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "input_image" and isinstance(part.get("image_url"), str):
            parts.append({"type": "image_url", "image_url": {"url": part["image_url"]}})
        elif as_text(part):
            parts.append({"type": "text", "text": as_text(part)})
    return parts


def _output_text(output: Any) -> str:
    if isinstance(output, dict):  # {content, success} as some clients send it
        return as_text(output.get("content"))
    if isinstance(output, list):
        texts = [as_text(p) if p.get("type") != "input_image" else "[image]" for p in output if isinstance(p, dict)]
        return "\n".join(t for t in texts if t)
    return as_text(output)


def _chat_function(tool: dict[str, Any], chat_name: str) -> dict[str, Any] | None:
    described = tool.get("description")
    description = described if isinstance(described, str) else ""
    if tool.get("type") == "function":
        parameters = tool.get("parameters") if isinstance(tool.get("parameters"), dict) else {"type": "object"}
    elif tool.get("type") == "custom":
        # A freeform tool takes raw text; chat has only JSON arguments, so the text rides in one string.
        fmt = as_dict(tool.get("format"))
        definition = fmt.get("definition")
        if fmt.get("type") == "grammar" and isinstance(definition, str):
            description += f"\n\nThe `input` argument must follow this {fmt.get('syntax', '')} grammar:\n{definition}"
        parameters = {
            "type": "object",
            "properties": {"input": {"type": "string", "description": "The raw input for this tool."}},
            "required": ["input"],
        }
    else:
        # Hosted tools (web_search, file_search, image_generation, ...) run on OpenAI's side; a chat endpoint has none.
        return None
    return {"type": "function", "function": {"name": chat_name, "description": description, "parameters": parameters}}


def _tool_choice(choice: Any, tools: ToolMap) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    named = isinstance(choice, dict) and isinstance(choice.get("name"), str)
    if named and choice.get("type") in ("function", "custom"):
        return {"type": "function", "function": {"name": tools.chat_name(choice["name"], None)}}
    return None


def _response_format(text: Any) -> dict[str, Any] | None:
    fmt = text.get("format") if isinstance(text, dict) else None
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_object":
        return {"type": "json_object"}
    if fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
        schema = {"name": fmt.get("name") or "output", "schema": fmt["schema"]}
        if isinstance(fmt.get("strict"), bool):
            schema["strict"] = fmt["strict"]
        return {"type": "json_schema", "json_schema": schema}
    return None


# --- response --------------------------------------------------------------------------------------------------


def _usage(prompt: int, completion: int, cached: int, reasoning: int) -> dict[str, Any]:
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": prompt + completion,
    }


def _status(finish_reason: str | None) -> tuple[str, dict[str, str] | None]:
    if finish_reason == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if finish_reason == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def _response_object(
    response_id: str,
    created_at: int,
    request: dict[str, Any],
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
    incomplete: dict[str, str] | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "error": error,
        "incomplete_details": incomplete,
        "instructions": request.get("instructions"),
        "model": request.get("model"),
        "output": output,
        "parallel_tool_calls": request.get("parallel_tool_calls", True),
        "tool_choice": request.get("tool_choice", "auto"),
        "tools": request.get("tools", []),
        "store": False,
        "usage": usage,
    }


def _message_item(text: str, status: str = "completed") -> dict[str, Any]:
    return {
        "id": new_id("msg_"),
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def from_chat(chat: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """The Responses object for a whole chat completion."""
    tools = ToolMap.of(request)
    choice = first_choice(chat)
    message = as_dict(choice.get("message"))
    output: list[dict[str, Any]] = []
    text = as_text(message.get("content"))
    if text:
        output.append(_message_item(text))
    for call in as_list(message.get("tool_calls")):
        function = as_dict(call.get("function")) if isinstance(call, dict) else {}
        output.append(
            tools.output_item(
                str(call.get("id") or new_id("call_")),
                str(function.get("name", "")),
                str(function.get("arguments") or ""),
            )
        )
    status, incomplete = _status(choice.get("finish_reason"))
    return _response_object(
        new_id("resp_"), int(time.time()), request, status, output, _usage(*chat_usage(chat)), incomplete
    )


class ResponsesStream:
    """Turns a chat-completions stream into the Responses API's server-sent events."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.request = request
        self.tools = ToolMap.of(request)
        self.response_id = new_id("resp_")
        self.created_at = int(time.time())
        self._sequence = 0
        self._started = False
        self._closed = False
        self._output: list[dict[str, Any] | None] = []  # slots by output_index, filled as items finish
        self._text: tuple[int, dict[str, Any], list[str]] | None = None  # the open message item
        self._calls = ToolCallAccumulator()
        self._call_slots: dict[int, tuple[int, dict[str, Any]]] = {}  # chat index -> (output_index, item)
        self._finish_reason: str | None = None
        self._usage = (0, 0, 0, 0)

    def _event(self, kind: str, **fields: Any) -> bytes:
        self._sequence += 1
        return sse(kind, {"type": kind, "sequence_number": self._sequence - 1, **fields})

    def _start(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        response = _response_object(self.response_id, self.created_at, self.request, "in_progress", [], None)
        return [
            self._event("response.created", response=response),
            self._event("response.in_progress", response=response),
        ]

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        events = self._start()
        if isinstance(chunk.get("usage"), dict):
            self._usage = chat_usage(chunk)
        choice = first_choice(chunk)
        delta = as_dict(choice.get("delta"))
        text = delta.get("content")
        if isinstance(text, str) and text:
            events += self._text_delta(text)
        for call_delta in as_list(delta.get("tool_calls")):
            if isinstance(call_delta, dict):
                events += self._tool_delta(call_delta)
        if isinstance(choice.get("finish_reason"), str):
            self._finish_reason = choice["finish_reason"]
        return events

    def _text_delta(self, text: str) -> list[bytes]:
        events = []
        if self._text is None:
            index = len(self._output)
            self._output.append(None)
            item = _message_item("", "in_progress")
            item["content"] = []
            self._text = (index, item, [])
            events.append(self._event("response.output_item.added", output_index=index, item=item))
            events.append(
                self._event(
                    "response.content_part.added",
                    item_id=item["id"],
                    output_index=index,
                    content_index=0,
                    part={"type": "output_text", "text": "", "annotations": []},
                )
            )
        index, item, pieces = self._text
        pieces.append(text)
        events.append(
            self._event(
                "response.output_text.delta",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                delta=text,
                logprobs=[],
            )
        )
        return events

    def _close_text(self) -> list[bytes]:
        if self._text is None:
            return []
        index, item, pieces = self._text
        self._text = None
        text = "".join(pieces)
        done = {**_message_item(text), "id": item["id"]}
        self._output[index] = done
        part = done["content"][0]
        return [
            self._event(
                "response.output_text.done",
                item_id=item["id"],
                output_index=index,
                content_index=0,
                text=text,
                logprobs=[],
            ),
            self._event(
                "response.content_part.done", item_id=item["id"], output_index=index, content_index=0, part=part
            ),
            self._event("response.output_item.done", output_index=index, item=done),
        ]

    def _tool_delta(self, call_delta: dict[str, Any]) -> list[bytes]:
        chat_index, call, is_new, piece = self._calls.add(call_delta)
        events: list[bytes] = []
        if is_new:
            # A message item before a call is finished first, as OpenAI orders its output.
            events += self._close_text()
            index = len(self._output)
            self._output.append(None)
            call["id"] = call["id"] or new_id("call_")
            item = self.tools.output_item(call["id"], call["name"], "", status="in_progress")
            self._call_slots[chat_index] = (index, item)
            events.append(self._event("response.output_item.added", output_index=index, item=item))
        index, item = self._call_slots[chat_index]
        # A freeform tool's input is known only once its JSON wrapper is complete, so it has no deltas.
        if piece and item["type"] == "function_call":
            events.append(
                self._event(
                    "response.function_call_arguments.delta", item_id=item["id"], output_index=index, delta=piece
                )
            )
        return events

    def _close_calls(self) -> list[bytes]:
        events = []
        for chat_index, (index, started) in sorted(self._call_slots.items(), key=lambda kv: kv[1][0]):
            call = self._calls.calls[chat_index]
            item = {**self.tools.output_item(call["id"], call["name"], call["arguments"]), "id": started["id"]}
            self._output[index] = item
            if item["type"] == "function_call":
                events.append(
                    self._event(
                        "response.function_call_arguments.done",
                        item_id=item["id"],
                        output_index=index,
                        arguments=item["arguments"],
                    )
                )
            events.append(self._event("response.output_item.done", output_index=index, item=item))
        self._call_slots.clear()
        return events

    def close(self, error: str | None = None) -> list[bytes]:
        if self._closed:
            return []
        self._closed = True
        events = self._start()
        if error is not None:
            failure = {"code": "server_error", "message": error}
            response = _response_object(
                self.response_id,
                self.created_at,
                self.request,
                "failed",
                [i for i in self._output if i],
                None,
                error=failure,
            )
            return [*events, self._event("response.failed", response=response)]
        events += self._close_text() + self._close_calls()
        status, incomplete = _status(self._finish_reason)
        response = _response_object(
            self.response_id,
            self.created_at,
            self.request,
            status,
            [i for i in self._output if i],
            _usage(*self._usage),
            incomplete,
        )
        kind = "response.completed" if status == "completed" else "response.incomplete"
        return [*events, self._event(kind, response=response)]


error_body = openai_error_body
