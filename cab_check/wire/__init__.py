"""Other model APIs served on top of a plain Chat Completions endpoint.

Some agents speak only their vendor's API: Codex CLI the OpenAI Responses API, Claude Code the Anthropic Messages
API. The proxy serves those too, by translating each request into one chat-completions request and the answer back.
Each module here is pure translation: a request function, a whole-response function and a stream translator that
is fed the upstream's chat chunks (as parsed JSON) and returns the client's server-sent events as bytes.
"""

from __future__ import annotations

import json
import secrets
from typing import Any, Protocol


class WireError(ValueError):
    """The client's request cannot be expressed as a chat-completions request."""


class StreamTranslator(Protocol):
    def feed(self, chunk: dict[str, Any]) -> list[bytes]:
        """The client's events for one upstream chat chunk."""
        ...

    def close(self, error: str | None = None) -> list[bytes]:
        """The events that end the client's stream: a normal ending, or a failure carrying `error`."""
        ...


def openai_error_body(status: int, message: str, err_type: str, code: str | None = None) -> dict[str, Any]:
    """OpenAI's error shape, shared by Chat Completions and the Responses API."""
    return {"error": {"message": message, "type": err_type, "param": None, "code": code}}


def sse(event: str | None, data: Any) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


def new_id(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(12)}"


def as_dict(value: object) -> dict[str, Any]:
    """`value` if it is a JSON object, else an empty one: an absent or malformed field reads as having nothing."""
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    """`value` if it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def as_text(content: Any) -> str:
    """The text in a content value that may be a string, a list of typed parts or nothing."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(as_text(part) for part in content)
    if isinstance(content, dict):
        text = content.get("text")
        return text if isinstance(text, str) else ""
    return str(content)


def chat_usage(chat: dict[str, Any]) -> tuple[int, int, int, int]:
    """Prompt, completion, cached-prompt and reasoning tokens from a chat `usage` object (0 where absent)."""
    usage = as_dict(chat.get("usage"))

    def number(obj: object, key: str) -> int:
        value = as_dict(obj).get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    return (
        number(usage, "prompt_tokens"),
        number(usage, "completion_tokens"),
        number(usage.get("prompt_tokens_details"), "cached_tokens"),
        number(usage.get("completion_tokens_details"), "reasoning_tokens"),
    )


def first_choice(chat: dict[str, Any]) -> dict[str, Any]:
    choices = chat.get("choices")
    if isinstance(choices, list):
        for choice in choices:
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                return choice
    return {}


class ToolCallAccumulator:
    """Chat `tool_calls` deltas, joined per index into whole calls, in the order they started."""

    def __init__(self) -> None:
        self.calls: dict[int, dict[str, str]] = {}

    def add(self, delta: dict[str, Any]) -> tuple[int, dict[str, str], bool, str]:
        """Absorbs one delta; returns its index, the call so far, whether it is new, and the argument piece."""
        index = delta.get("index")
        if not isinstance(index, int):
            index = len(self.calls) if delta.get("id") else max(self.calls, default=0)
        function = as_dict(delta.get("function"))
        is_new = index not in self.calls
        call = self.calls.setdefault(index, {"id": "", "name": "", "arguments": ""})
        call_id, name, arguments = delta.get("id"), function.get("name"), function.get("arguments")
        if isinstance(call_id, str) and not call["id"]:
            call["id"] = call_id
        if isinstance(name, str):
            call["name"] += name
        piece = arguments if isinstance(arguments, str) else ""
        call["arguments"] += piece
        return index, call, is_new, piece


def estimate_tokens(value: Any) -> int:
    """A rough token count (four characters a token) for callers that only need the order of magnitude."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return max(1, (len(text) + 3) // 4)
