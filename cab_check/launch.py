"""How a TUI starts in its container: its tui.toml placeholders filled, its config files seeded into a fresh HOME."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cab_check.docker_backend import CONTAINER_HOME
from cab_check.models import TuiSpec

WORKDIR = "/work"
SEED_MOUNT = "/cab/seed"
OUT_MOUNT = "/cab/out"
# Replaces the image's entrypoint: HOME is an empty tmpfs, so copy the seeded config in, then become the CLI.
# The same line works for images a user brings, as long as they have /bin/sh and the CLI on PATH.
SEED_ENTRYPOINT = ["/bin/sh", "-c", f'cp -R {SEED_MOUNT}/. "$HOME"/ && exec "$@"', "cab-seed"]


# For every agent: tests it runs must not leave bytecode or pytest caches in the workdir, which would count as
# changes it made (blast radius, file-not-touched tests/*) though nobody wrote them.
AGENT_ENV = {"PYTHONDONTWRITEBYTECODE": "1", "PYTEST_ADDOPTS": "-p no:cacheprovider"}


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    env: dict[str, str]
    files: dict[str, str]  # HOME-relative path → text


def placeholders(*, prompt: str, model: str, proxy_url: str, token: str) -> dict[str, str]:
    return {
        "prompt": prompt, "model": model, "base_url": f"{proxy_url}/v1", "api_root": proxy_url, "token": token,
        "home": CONTAINER_HOME, "out": OUT_MOUNT, "workdir": WORKDIR,
    }


def fill(text: str, values: dict[str, str]) -> str:
    """Replaces only the known {name}s, so JSON and TOML braces in config files pass through untouched."""
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    return text


def plan(tui: TuiSpec, values: dict[str, str]) -> Launch:
    return Launch(
        argv=[fill(part, values) for part in tui.argv],
        env={**AGENT_ENV, **{key: fill(value, values) for key, value in tui.env.items()}},
        files={path: fill(text, values) for path, text in tui.files.items()},
    )


def write_seed(files: dict[str, str], seed_dir: Path) -> None:
    seed_dir.mkdir(parents=True, exist_ok=True)
    for relative, text in files.items():
        path = seed_dir / relative  # TuiSpec has checked it stays inside HOME
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
