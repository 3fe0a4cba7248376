"""How a TUI starts in its container: its tui.toml placeholders filled, its config files seeded into a fresh HOME."""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

from cab_check import archive
from cab_check.models import TuiSpec
from cab_check.sandbox.base import CONTAINER_HOME, WORKDIR

# Copied into the container before it starts, beside /work: the CLI's config files, and an empty folder where it
# may leave session files for its token parser (read back after it exits, within the limits below).
SEED_DIR = "/cab/seed"
OUT_DIR = "/cab/out"
MAX_OUT_FILE_BYTES = 64 * 1024 * 1024
MAX_OUT_BYTES = 256 * 1024 * 1024
# Replaces the image's entrypoint: HOME is an empty tmpfs, so copy the seeded config in, then become the CLI.
# The same line works for images a user brings, as long as they have /bin/sh and the CLI on PATH.
SEED_ENTRYPOINT = ["/bin/sh", "-c", f'cp -R {SEED_DIR}/. "$HOME"/ && exec "$@"', "cab-seed"]


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
        "prompt": prompt,
        "model": model,
        "base_url": f"{proxy_url}/v1",
        "api_root": proxy_url,
        "token": token,
        "home": CONTAINER_HOME,
        "out": OUT_DIR,
        "workdir": WORKDIR,
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


def seed_archive(files: dict[str, str]) -> IO[bytes]:
    """The seed folder (config files by HOME-relative path; TuiSpec has checked each stays inside HOME) and the
    empty out folder, as a tar to unpack at the container's root."""

    def fill(tar) -> None:  # type: ignore[no-untyped-def]
        for folder in ("cab", SEED_DIR.lstrip("/"), OUT_DIR.lstrip("/")):
            archive.add_dir(tar, folder)
        for relative, text in sorted(files.items()):
            parts = relative.split("/")
            for depth in range(1, len(parts)):
                archive.add_dir(tar, "/".join([SEED_DIR.lstrip("/"), *parts[:depth]]))
            archive.add_text(tar, f"{SEED_DIR.lstrip('/')}/{relative}", text)

    return archive.build(fill)
