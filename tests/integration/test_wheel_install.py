"""cab-check as a user without a clone gets it: a wheel built from the sdist, installed into a fresh venv, and run
with no install at all through `uvx` and `pipx run` — each running a real reference-model cell in Docker — and
the desktop app started the same two ways with the gui extra.

The fresh environments take cab-check's dependencies from the package index, as a user's would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from cab_check import __version__

pytestmark = pytest.mark.docker
INSTALL_LIMIT_S = 600
CELL_LIMIT_S = 1200  # a cold machine builds the aider and Rust images first
CELL = ["check", "--tui", "aider", "--task", "polyglot/rust-error-handling", "--json"]


def run(argv: list[str], limit_s: float, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=limit_s, env=env, check=False)
    assert done.returncode == 0, (
        f"{' '.join(map(str, argv))} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    return done


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    """The sdist and, built from it, the wheel — so a file missing from the sdist breaks the wheel too."""
    out = tmp_path_factory.mktemp("dist")
    root = Path(__file__).resolve().parents[2]
    run([sys.executable, "-m", "build", "--outdir", str(out), str(root)], INSTALL_LIMIT_S)
    return out


def wheel_of(dist: Path) -> Path:
    (wheel,) = dist.glob(f"cab_check-{__version__}-*.whl")
    return wheel


def user_env(home: Path) -> dict[str, str]:
    """The test's environment with a history of its own, and no venv of ours on PATH."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["CAB_CHECK_HOME"] = str(home / "cab-home")
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not p.startswith(sys.prefix))
    return env


def passed_a_cell(done: subprocess.CompletedProcess) -> None:
    result = json.loads(done.stdout)
    assert result["axes"]["pass_rate"]["pass"] and result["tui"] == "aider", done.stdout[-2000:]


def test_the_wheel_carries_complete_metadata_and_keeps_the_gui_behind_an_extra(dist):
    assert (dist / f"cab_check-{__version__}.tar.gz").is_file()
    with zipfile.ZipFile(wheel_of(dist)) as wheel:
        info = f"cab_check-{__version__}.dist-info"
        metadata = Parser().parsestr(wheel.read(f"{info}/METADATA").decode())
        entry_points = wheel.read(f"{info}/entry_points.txt").decode()
        names = wheel.namelist()
    assert metadata["Summary"] and metadata["License-Expression"] == "MIT" and metadata["Requires-Python"]
    assert "provisional" in metadata.get_payload().lower(), "the README is the long description"
    assert metadata.get_all("Classifier") and metadata.get_all("Project-URL")
    requires = metadata.get_all("Requires-Dist")
    assert not [r for r in requires if "PySide6" in r and "extra ==" not in r], "PySide6 only with [gui]"
    assert any("PySide6" in r and 'extra == "gui"' in r for r in requires)
    for script in (
        "cab = cab_check.cli:main",
        "cab-check = cab_check.cli:main",
        "cab-check-gui = cab_check.gui.app:main",
    ):
        assert script in entry_points
    assert "cab_check/resources/tasks/polyglot/rust-error-handling/task.toml" in names


def test_the_wheel_in_a_fresh_venv_runs_a_reference_cell(dist, tmp_path, docker_client):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python, cab = env_dir / "bin" / "python", env_dir / "bin" / "cab"
    run([str(python), "-m", "pip", "install", "-q", str(wheel_of(dist))], INSTALL_LIMIT_S)
    env = user_env(tmp_path)

    assert run([str(cab), "--version"], 60, env).stdout.strip() == f"cab-check {__version__}"
    assert "polyglot/rust-error-handling" in run([str(cab), "tasks"], 60, env).stdout
    absent = run([str(python), "-c", "import importlib.util as u; print(u.find_spec('PySide6') is None)"], 60, env)
    assert absent.stdout.strip() == "True", "the plain install stays light: no Qt"
    passed_a_cell(run([str(cab), *CELL], CELL_LIMIT_S, env))


def test_uvx_runs_a_reference_cell_from_the_wheel(dist, tmp_path, docker_client):
    env = user_env(tmp_path) | {"UV_CACHE_DIR": str(tmp_path / "uv-cache"), "UV_TOOL_DIR": str(tmp_path / "uv-tools")}
    uvx = [sys.executable, "-m", "uv", "tool", "run", "--from", str(wheel_of(dist)), "cab-check"]
    assert run([*uvx, "--version"], INSTALL_LIMIT_S, env).stdout.strip() == f"cab-check {__version__}"
    passed_a_cell(run([*uvx, *CELL], CELL_LIMIT_S, env))


def test_pipx_run_runs_a_reference_cell_from_the_wheel(dist, tmp_path, docker_client):
    env = user_env(tmp_path) | {"PIPX_HOME": str(tmp_path / "pipx"), "PIPX_BIN_DIR": str(tmp_path / "pipx-bin")}
    pipx = [sys.executable, "-m", "pipx", "run", "--spec", str(wheel_of(dist)), "cab-check"]
    assert run([*pipx, "--version"], INSTALL_LIMIT_S, env).stdout.strip() == f"cab-check {__version__}"
    passed_a_cell(run([*pipx, *CELL], CELL_LIMIT_S, env))


@pytest.mark.parametrize("runner", ["uvx", "pipx"])
def test_the_desktop_app_starts_from_the_wheel_with_the_gui_extra(dist, tmp_path, runner):
    wheel = wheel_of(dist)
    env = user_env(tmp_path) | {
        "QT_QPA_PLATFORM": "offscreen",
        "CAB_CHECK_GUI_SMOKE": "1",
        "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
        "PIPX_HOME": str(tmp_path / "pipx"),
    }
    argv = {
        "uvx": [sys.executable, "-m", "uv", "tool", "run", "--from", f"cab-check[gui] @ {wheel.as_uri()}"],
        "pipx": [sys.executable, "-m", "pipx", "run", "--spec", f"{wheel}[gui]"],
    }[runner]
    shown = run([*argv, "cab-check-gui"], INSTALL_LIMIT_S, env)
    assert "cab-check-gui: main window shown" in shown.stdout
