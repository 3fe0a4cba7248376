"""Preflight: one tiny chat completion to the endpoint before any container starts, so a wrong URL, key or
model fails in seconds with the reason instead of after an agent timeout."""

from __future__ import annotations

import httpx

from cab_check.errors import EndpointUnreachable
from cab_check.secrets import Redactor

INCOMPATIBLE = "Model incompatible with this TUI — they could not handshake"
PROBE_TIMEOUT_S = 20.0


def probe_chat(base_url: str, api_key: str | None, model: str, redactor: Redactor) -> None:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    body = {"model": model, "messages": [{"role": "user", "content": "Reply with OK."}], "max_tokens": 1}
    url = base_url.rstrip("/") + "/chat/completions"
    try:
        response = httpx.post(url, json=body, headers=headers, timeout=PROBE_TIMEOUT_S)
    except httpx.TimeoutException:
        raise EndpointUnreachable(
            redactor.text(f"{INCOMPATIBLE}: {url} did not answer within {PROBE_TIMEOUT_S:.0f} s.")
        ) from None
    except httpx.HTTPError as exc:
        raise EndpointUnreachable(
            redactor.text(f"{INCOMPATIBLE}: cannot reach {url} ({type(exc).__name__}: {exc}); check the URL.")
        ) from None
    if response.status_code >= 400:
        raise EndpointUnreachable(
            redactor.text(
                f"{INCOMPATIBLE}: {url} answered HTTP {response.status_code} for model '{model}': "
                f"{response.text[:200].strip()}"
            )
        )
    try:
        shaped = isinstance(response.json().get("choices"), list)
    except ValueError:
        shaped = False
    if not shaped:
        raise EndpointUnreachable(f"{INCOMPATIBLE}: {url} did not answer with an OpenAI-shaped chat completion.")
