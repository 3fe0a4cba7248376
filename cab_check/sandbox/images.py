"""What an image is made of: the folder it builds from, its declared base, and the tag a hash of both gives it.

Engine-agnostic: any sandbox builds from these contexts, and an unchanged image is never rebuilt on any engine."""

from __future__ import annotations

import hashlib
import io
import os
import re
import tarfile
from collections.abc import Mapping
from pathlib import Path

from cab_check.catalog import base_dir

IMAGE_REPO = "cab-check"
CA_DIR = "cab-ca"
CA_FILE = "extra-ca.crt"

# A Dockerfile names the cab-check image it builds on with this line. That image is built first and its tag passed
# as the BASE build argument, so every TUI image shares the toolchain layers and rebuilds when its base changes.
BASE_LINE = re.compile(r"^#\s*cab-base:\s*(\S+)\s*$", re.MULTILINE)
NOT_IMAGE_INPUTS = {"tui.toml"}  # says how to run an image, not how to build it: editing it must not rebuild
# A package manager's own registry setting, taken from this machine's environment for a build whose Dockerfile
# declares it (`ARG NAME`), so a mirror the user set for npm here is where npm fetches inside the build too. Like the
# CA bundle it only decides where packages come from, not what they are, so it is not part of the tag.
REGISTRY_VARIABLES = ("NPM_CONFIG_REGISTRY",)


def declared_base(folder: Path) -> str | None:
    match = BASE_LINE.search((folder / "Dockerfile").read_text(encoding="utf-8"))
    return match.group(1) if match else None


def registry_buildargs(folder: Path, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The registry settings this machine has (npm reads its variables in either case) that the Dockerfile declares."""
    declared = set(re.findall(r"^\s*ARG\s+(\w+)", (folder / "Dockerfile").read_text(encoding="utf-8"), re.MULTILINE))
    found = {name: environ.get(name) or environ.get(name.lower()) for name in REGISTRY_VARIABLES if name in declared}
    return {name: value for name, value in found.items() if value}


def _image_inputs(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.relative_to(folder).as_posix() not in NOT_IMAGE_INPUTS
    )


def inputs_hash(folder: Path, base_tag: str | None = None) -> str:
    """Hash of every file that goes into an image, and of its base; the tag, so unchanged inputs never rebuild."""
    digest = hashlib.sha256((base_tag or "").encode() + b"\0")
    for path in _image_inputs(folder):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def tag_for(name: str, folder: Path, base_tag: str | None) -> str:
    return f"{IMAGE_REPO}/{name}:{inputs_hash(folder, base_tag)}"


def image_tag(name: str, folder: Path) -> str:
    """The tag an image's inputs (and its base's, recursively) give it; computed without building anything."""
    base = declared_base(folder)
    return tag_for(name, folder, image_tag(base, base_dir(base)) if base else None)


def image_chain(name: str, folder: Path) -> list[str]:
    """The image's tag and its bases' tags, base first: what an engine must hold to run it without building."""
    base = declared_base(folder)
    return [*(image_chain(base, base_dir(base)) if base else []), image_tag(name, folder)]


def build_context(folder: Path, ca_bundle: Path | None) -> io.BytesIO:
    """The folder as a tar, plus cab-ca/ holding the extra CA bundle (or nothing) for the Dockerfile to COPY.

    The bundle is not part of the tag: it only lets the build reach the registries and is not a recipe input."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in _image_inputs(folder):
            tar.add(path, arcname=path.relative_to(folder).as_posix())
        _add_bytes(tar, f"{CA_DIR}/.keep", b"")
        if ca_bundle is not None:
            _add_bytes(tar, f"{CA_DIR}/{CA_FILE}", ca_bundle.read_bytes())
    buffer.seek(0)
    return buffer


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))
