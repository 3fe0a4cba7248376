"""What the recording proxy adds to a model call: the official openai SDK against a small local server, direct and
through the proxy, interleaved in blocks so both see the same machine. Client, proxy and server each run in a
process of their own, as in a cell (the agent's CLI, cab-check, the user's model server), so none waits on
another's interpreter lock.

    python bench/proxy_latency.py [--calls 300] [--streams 100] [--block 20]

Prints p50/p99 of whole small calls and of time-to-first-byte of streams (the first chunk's arrival), each direct
and through the proxy, and the difference. Goal on the 2-core CI machines, plain install (no uvloop): +<= 1 ms p50,
+<= 5 ms p99, time-to-first-byte +<= 2 ms. Figures go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import openai
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from cab_check.asgi_server import BackgroundServer
from cab_check.proxy import RecordingProxy, new_run_token

GOALS = {"calls p50": 1.0, "calls p99": 5.0, "first byte p50": 2.0}
USAGE = {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}


def upstream_app() -> Starlette:
    """Answers at once: what is measured is the path, not a model."""

    async def chat(request: Request):
        body = await request.json()
        if body.get("stream"):

            async def chunks():
                for content, finish in (("O", None), ("K", None), (None, "stop")):
                    delta = {"content": content} if content else {}
                    chunk = {
                        "id": "c",
                        "object": "chat.completion.chunk",
                        "created": 1,
                        "model": "m",
                        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                    }
                    yield f"data: {json.dumps(chunk)}\n\n"
                yield "data: [DONE]\n\n"

            return StreamingResponse(chunks(), media_type="text/event-stream")
        return JSONResponse(
            {
                "id": "c",
                "object": "chat.completion",
                "created": 1,
                "model": "m",
                "usage": USAGE,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "OK"}, "finish_reason": "stop"}],
            }
        )

    return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])


MESSAGES = [{"role": "user", "content": "Say OK."}]


def call(client: openai.OpenAI) -> float:
    t0 = time.perf_counter()
    client.chat.completions.create(model="m", messages=MESSAGES, max_tokens=1)
    return (time.perf_counter() - t0) * 1000


def first_byte(client: openai.OpenAI) -> float:
    t0 = time.perf_counter()
    stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
    next(iter(stream))
    elapsed = (time.perf_counter() - t0) * 1000
    for _ in stream:  # drain, so the connection goes back to the pool
        pass
    return elapsed


def interleaved(
    total: int, block: int, clients: dict[str, openai.OpenAI], measure: Callable[[openai.OpenAI], float]
) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in clients}
    for client in clients.values():  # warm: connections, code paths
        for _ in range(5):
            measure(client)
    while any(len(s) < total for s in samples.values()):
        for name, client in clients.items():
            samples[name] += [measure(client) for _ in range(min(block, total - len(samples[name])))]
    return samples


def percentile(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1] if p < 100 else max(values)


@contextlib.contextmanager
def serving(role: str, *args: str) -> Iterator[str]:
    """This script run as the upstream or the proxy, in a process of its own; yields its URL."""
    child = subprocess.Popen([sys.executable, __file__, "--serve", role, *args], stdout=subprocess.PIPE, text=True)
    try:
        yield child.stdout.readline().strip()
    finally:
        child.kill()
        child.wait()


def serve(role: str, *args: str) -> None:
    if role == "upstream":
        app = upstream_app()
    else:
        upstream, token = args
        app = RecordingProxy(upstream, "sk-bench", token).app
    with BackgroundServer(app) as server:
        print(server.url, flush=True)
        threading.Event().wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--block", type=int, default=20)
    parser.add_argument("--serve", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve)
        return 0
    try:
        import uvloop  # noqa: F401

        print("note: uvloop is installed; the goal is for a plain install", file=sys.stderr)
    except ImportError:
        pass

    token = new_run_token()
    with serving("upstream") as upstream_url, serving("proxy", f"{upstream_url}/v1", token) as proxy_url:
        clients = {
            "direct": openai.OpenAI(base_url=f"{upstream_url}/v1", api_key="sk-bench", max_retries=0),
            "proxy": openai.OpenAI(base_url=f"{proxy_url}/v1", api_key=token, max_retries=0),
        }
        calls = interleaved(args.calls, args.block, clients, call)
        firsts = interleaved(args.streams, args.block, clients, first_byte)

    rows = {}
    for label, samples in (("calls", calls), ("first byte", firsts)):
        for p in (50, 99):
            direct, through = percentile(samples["direct"], p), percentile(samples["proxy"], p)
            rows[f"{label} p{p}"] = (direct, through, through - direct)
    print(f"{'':16} {'direct':>9} {'proxy':>9} {'added':>9}   goal")
    for name, (direct, through, added) in rows.items():
        goal = f"<= +{GOALS[name]:g} ms" if name in GOALS else ""
        print(f"{name:16} {direct:7.2f}ms {through:7.2f}ms {added:+7.2f}ms   {goal}")
    print(f"({args.calls} calls and {args.streams} streams each way, interleaved in blocks of {args.block})")
    return 0 if all(rows[name][2] <= goal for name, goal in GOALS.items()) else 1


if __name__ == "__main__":
    sys.exit(main())
