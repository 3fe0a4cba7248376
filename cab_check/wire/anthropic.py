"""The Anthropic Messages API (`POST /v1/messages`), as Claude Code speaks it, on top of Chat Completions."""

from __future__ import annotations

import json
from typing import Any

from cab_check.wire import (
    ToolCallAccumulator,
    WireError,
    as_dict,
    as_list,
    as_text,
    chat_usage,
    estimate_tokens,
    first_choice,
    new_id,
    sse,
)

_STOP_REASONS = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
    "content_filter": "refusal",
}

# Anthropic names its error types by status; a client branches on these, not on the message.
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


# --- request ---------------------------------------------------------------------------------------------------


def chat_request(request: object) -> dict[str, Any]:
    """The chat-completions request for a Messages request."""
    if not isinstance(request, dict):
        raise WireError("the request body must be a JSON object")
    model = request.get("model")
    if not isinstance(model, str) or not model:
        raise WireError("model: Field required")
    if not isinstance(request.get("messages"), list):
        raise WireError("messages: Field required")

    system = [_system_text(request.get("system"))]
    messages: list[dict[str, Any]] = []
    for message in request["messages"]:
        if not isinstance(message, dict):
            raise WireError("messages: each message must be an object")
        role = message.get("role")
        if role == "system":
            # Claude Code sends mid-conversation system messages; many chat templates take a system message only
            # first, so it joins the one there.
            system.append(_system_text(message.get("content")))
        elif role == "assistant":
            messages.append(_assistant_message(message.get("content")))
        else:
            messages.extend(_user_messages(message.get("content")))
    system = [s for s in system if s]
    if system:
        messages.insert(0, {"role": "system", "content": "\n\n".join(system)})

    chat: dict[str, Any] = {"model": model, "messages": messages}
    tools = _chat_tools(request)
    choice = as_dict(request.get("tool_choice"))
    if tools and choice.get("type") != "none":
        chat["tools"] = tools
        mapped: str | dict[str, Any] | None = {"auto": "auto", "any": "required"}.get(str(choice.get("type")))
        name = choice.get("name")
        if choice.get("type") == "tool" and isinstance(name, str):
            mapped = {"type": "function", "function": {"name": name}}
        if mapped is not None:
            chat["tool_choice"] = mapped
        if choice.get("disable_parallel_tool_use") is True:
            chat["parallel_tool_calls"] = False
    if isinstance(request.get("max_tokens"), int):
        chat["max_tokens"] = request["max_tokens"]
    stops = [s for s in as_list(request.get("stop_sequences")) if isinstance(s, str)]
    if stops:
        chat["stop"] = stops
    for key in ("temperature", "top_p"):
        if isinstance(request.get(key), int | float) and not isinstance(request.get(key), bool):
            chat[key] = request[key]
    if request.get("stream") is True:
        chat["stream"] = True
    return chat


def _system_text(system: Any) -> str:
    if isinstance(system, list):
        return "\n\n".join(as_text(block) for block in system if isinstance(block, dict) and as_text(block))
    return as_text(system)


def _assistant_message(content: Any) -> dict[str, Any]:
    if not isinstance(content, list):
        return {"role": "assistant", "content": as_text(content)}
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            texts.append(as_text(block))
        elif block.get("type") == "tool_use":
            arguments = json.dumps(block.get("input", {}), ensure_ascii=False)
            calls.append(
                {
                    "id": str(block.get("id", "")),
                    "type": "function",
                    "function": {"name": str(block.get("name", "")), "arguments": arguments},
                }
            )
        # Thinking blocks are signed for Anthropic's models; another model cannot use them.
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        message["tool_calls"] = calls
    elif message["content"] is None:
        message["content"] = ""
    return message


def _user_messages(content: Any) -> list[dict[str, Any]]:
    """A user turn: tool results first, as chat wants them right after the calls, then what the user said."""
    if not isinstance(content, list):
        return [{"role": "user", "content": as_text(content)}]
    results: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in content:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "tool_result":
            text = _tool_result_text(block.get("content"))
            if block.get("is_error") is True:
                text = f"Error: {text}" if text else "Error"
            results.append({"role": "tool", "tool_call_id": str(block.get("tool_use_id", "")), "content": text})
        elif kind == "text" and as_text(block):
            parts.append({"type": "text", "text": as_text(block)})
        elif kind == "image" and (url := _image_url(block.get("source"))):
            parts.append({"type": "image_url", "image_url": {"url": url}})
    messages = list(results)
    if parts:
        only_text = all(p["type"] == "text" for p in parts)
        body: Any = "\n".join(p["text"] for p in parts) if only_text else parts
        messages.append({"role": "user", "content": body})
    return messages


def _tool_result_text(content: Any) -> str:
    if not isinstance(content, list):
        return as_text(content)
    texts = []
    for block in content:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "text":
            texts.append(as_text(block))
        elif block.get("type") == "image":
            texts.append("[image]")
        elif block.get("type") == "tool_reference":
            texts.append(f"Tool {block.get('tool_name')} is now available.")
    return "\n".join(t for t in texts if t)


def _image_url(source: Any) -> str | None:
    if not isinstance(source, dict):
        return None
    if source.get("type") == "base64" and isinstance(source.get("data"), str):
        return f"data:{source.get('media_type', 'image/png')};base64,{source['data']}"
    url = source.get("url")
    if source.get("type") == "url" and isinstance(url, str):
        return url
    return None


def _chat_tools(request: dict[str, Any]) -> list[dict[str, Any]]:
    # A deferred tool is hidden from the model until a tool search result (a tool_reference) names it.
    referenced = {
        ref.get("tool_name")
        for message in as_list(request.get("messages"))
        if isinstance(message, dict)
        for block in as_list(message.get("content"))
        if isinstance(block, dict) and block.get("type") == "tool_result"
        for ref in as_list(block.get("content"))
        if isinstance(ref, dict) and ref.get("type") == "tool_reference"
    }
    tools = []
    for tool in as_list(request.get("tools")):
        # Server tools (web search, code execution, ...) have no input_schema and run on Anthropic's side.
        if not isinstance(tool, dict) or not isinstance(tool.get("input_schema"), dict):
            continue
        if tool.get("defer_loading") is True and tool.get("name") not in referenced:
            continue
        description = tool.get("description") if isinstance(tool.get("description"), str) else ""
        tools.append(
            {
                "type": "function",
                "function": {"name": tool.get("name"), "description": description, "parameters": tool["input_schema"]},
            }
        )
    return tools


def count_tokens(request: object) -> dict[str, int]:
    """`/v1/messages/count_tokens`, estimated locally: the upstream has no such endpoint."""
    if not isinstance(request, dict):
        raise WireError("the request body must be a JSON object")
    counted = {k: request.get(k) for k in ("system", "messages", "tools") if request.get(k) is not None}
    return {"input_tokens": estimate_tokens(counted)}


# --- response --------------------------------------------------------------------------------------------------


def _stop_reason(finish_reason: str | None, has_calls: bool) -> str:
    # Some servers end a tool-calling turn with "stop"; the client must still run the tools.
    if has_calls and finish_reason in (None, "stop"):
        return "tool_use"
    return _STOP_REASONS.get(finish_reason or "stop", "end_turn")


def _usage(prompt: int, completion: int, cached: int) -> dict[str, int]:
    return {
        "input_tokens": prompt - cached,
        "output_tokens": completion,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def _input(arguments: str) -> Any:
    try:
        parsed = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def from_chat(chat: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """The Messages response for a whole chat completion."""
    choice = first_choice(chat)
    message = as_dict(choice.get("message"))
    content: list[dict[str, Any]] = []
    if text := as_text(message.get("content")):
        content.append({"type": "text", "text": text})
    calls = [c for c in as_list(message.get("tool_calls")) if isinstance(c, dict)]
    for call in calls:
        function = as_dict(call.get("function"))
        content.append(
            {
                "type": "tool_use",
                "id": str(call.get("id") or new_id("toolu_")),
                "name": str(function.get("name", "")),
                "input": _input(str(function.get("arguments") or "")),
            }
        )
    prompt, completion, cached, _ = chat_usage(chat)
    return {
        "id": new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": request.get("model"),
        "content": content,
        "stop_reason": _stop_reason(choice.get("finish_reason"), bool(calls)),
        "stop_sequence": None,
        "usage": _usage(prompt, completion, cached),
    }


class MessagesStream:
    """Turns a chat-completions stream into the Messages API's server-sent events."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.request = request
        self.message_id = new_id("msg_")
        self._started = False
        self._closed = False
        self._blocks = 0  # content blocks opened so far; the open one, if any, is the last
        self._open: tuple[str, int | None] | None = None  # ("text", None) or ("tool_use", chat index)
        self._calls = ToolCallAccumulator()
        self._finish_reason: str | None = None
        self._usage = (0, 0, 0, 0)

    def _start(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        message: dict[str, Any] = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.request.get("model"),
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": _usage(0, 0, 0),
        }
        return [sse("message_start", {"type": "message_start", "message": message})]

    def _open_block(self, kind: str, chat_index: int | None, block: dict[str, Any]) -> list[bytes]:
        events = self._close_block()
        self._open = (kind, chat_index)
        events.append(
            sse("content_block_start", {"type": "content_block_start", "index": self._blocks, "content_block": block})
        )
        return events

    def _close_block(self) -> list[bytes]:
        if self._open is None:
            return []
        self._open = None
        self._blocks += 1
        return [sse("content_block_stop", {"type": "content_block_stop", "index": self._blocks - 1})]

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return sse("content_block_delta", {"type": "content_block_delta", "index": self._blocks, "delta": delta})

    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        events = self._start()
        if isinstance(chunk.get("usage"), dict):
            self._usage = chat_usage(chunk)
        choice = first_choice(chunk)
        delta = as_dict(choice.get("delta"))
        text = delta.get("content")
        if isinstance(text, str) and text:
            if self._open != ("text", None):
                events += self._open_block("text", None, {"type": "text", "text": ""})
            events.append(self._delta({"type": "text_delta", "text": text}))
        for call_delta in as_list(delta.get("tool_calls")):
            if not isinstance(call_delta, dict):
                continue
            chat_index, call, is_new, piece = self._calls.add(call_delta)
            if is_new:
                call["id"] = call["id"] or new_id("toolu_")
                block = {"type": "tool_use", "id": call["id"], "name": call["name"], "input": {}}
                events += self._open_block("tool_use", chat_index, block)
            # Blocks cannot interleave; a piece for a call already closed has nowhere to go and is dropped.
            if piece and self._open == ("tool_use", chat_index):
                events.append(self._delta({"type": "input_json_delta", "partial_json": piece}))
        if isinstance(choice.get("finish_reason"), str):
            self._finish_reason = choice["finish_reason"]
        return events

    def close(self, error: str | None = None) -> list[bytes]:
        if self._closed:
            return []
        self._closed = True
        events = self._start()
        if error is not None:
            return [*events, sse("error", error_body(502, error, "api_error"))]
        events += self._close_block()
        prompt, completion, cached, _ = self._usage
        stop = _stop_reason(self._finish_reason, bool(self._calls.calls))
        events.append(
            sse(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": _usage(prompt, completion, cached),
                },
            )
        )
        events.append(sse("message_stop", {"type": "message_stop"}))
        return events


def error_body(status: int, message: str, err_type: str = "", code: str | None = None) -> dict[str, Any]:
    kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": message}}
