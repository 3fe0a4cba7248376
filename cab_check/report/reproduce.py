"""The `cab check` command line that runs a stored cell again: same TUI, task, model, image and time limit.

The API key is never part of it: `cab check` takes the key from the OS keyring (`cab key set URL`), from
--key-env or --key-stdin when the command is run.
"""

from __future__ import annotations

import re
import shlex

from cab_check.errors import CabError
from cab_check.models import CellResult

REDACTED = "REDACTED"
OWN_IMAGE_PREFIX = "cab-check/"  # the images cab-check builds itself; any other was given with --image
# Query parameters whose values are credentials when an endpoint URL carries them (?api_key=…, ?token=…).
_SECRET_PARAM = re.compile(r"key|token|secret|passw|auth|sig", re.IGNORECASE)


def reproduce_command(result: CellResult) -> str:
    """The shell-quoted `cab check …` that reproduces `result`; credentials in the endpoint URL are REDACTED."""
    argv = ["cab", "check", "--tui", result.tui, "--task", result.task]
    if result.endpoint:
        argv += ["--endpoint", redact_endpoint(result.endpoint), "--model", result.model]
    if not result.container_image.startswith(OWN_IMAGE_PREFIX):
        argv += ["--image", result.container_image]
    timeout_s = agent_timeout(result)
    if timeout_s is not None and timeout_s != _task_timeout(result.task):
        argv += ["--timeout", str(timeout_s)]
    return shlex.join(argv)


def redact_endpoint(endpoint: str) -> str:
    """The endpoint with any `user:pass@` and key/token/secret-like query values replaced by REDACTED."""
    import httpx

    try:
        url = httpx.URL(endpoint)
    except httpx.InvalidURL:
        return endpoint
    redacted = url
    if url.userinfo:
        redacted = redacted.copy_with(userinfo=REDACTED.encode())
    params = url.params.multi_items()
    if any(_SECRET_PARAM.search(name) for name, _ in params):
        redacted = redacted.copy_with(
            params=[(name, REDACTED if _SECRET_PARAM.search(name) else value) for name, value in params]
        )
    # Re-serialising can normalise a URL; an endpoint without credentials is given back exactly as recorded.
    return endpoint if redacted is url else str(redacted)


def agent_timeout(result: CellResult) -> int | None:
    """The agent's time limit as the run recorded it (its `adapter_run` span), or None when the agent never ran."""
    for span in result.spans:
        if span.kind == "adapter_run" and isinstance(span.attrs.get("timeout_s"), (int, float)):
            return int(span.attrs["timeout_s"])
    return None


def _task_timeout(task: str) -> int | None:
    """The task's default time limit; None when the task (a folder of the user's) can no longer be loaded."""
    from cab_check.catalog import get_task

    try:
        return get_task(task).timeout_s
    except CabError:
        return None
