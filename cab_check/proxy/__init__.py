"""The recording proxy: the agent's only way to the model.

The agent container gets the proxy's URL and a per-run token, never the user's key. The proxy checks the token,
swaps in the real key, forwards to the user's endpoint, streams answers back unbuffered and records one
`ModelCall` per model request.

Chat-completions requests pass through as they are. Agents that speak only another API are served by translation
(see `cab_check.wire`): `/v1/responses` (OpenAI Responses, for Codex CLI) and `/v1/messages` (Anthropic Messages,
for Claude Code) each become one chat-completions request upstream, recorded the same way.

One job per module: `app` (token check, routing), `handlers` (each route's answer), `dialects` (the translated APIs
and their error shapes), `upstream` (the endpoint's client and which headers cross), `streaming` (relaying a stream),
`sse` (reading its events) and `calls` (what is recorded of each call).
"""

from __future__ import annotations

from cab_check.proxy.app import RecordingProxy, new_run_token
from cab_check.proxy.calls import CLIENT_CLOSED, MAX_ERROR_CHARS, ResponseFacts
from cab_check.proxy.sse import MAX_SSE_LINE_BYTES, SseEvent, SseWatcher

__all__ = [
    "CLIENT_CLOSED",
    "MAX_ERROR_CHARS",
    "MAX_SSE_LINE_BYTES",
    "RecordingProxy",
    "ResponseFacts",
    "SseEvent",
    "SseWatcher",
    "new_run_token",
]
