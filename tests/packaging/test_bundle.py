"""The desktop bundle: packaging/build-bundle.sh builds it with PyInstaller, and the bundled app starts on its own."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cab_check.gui.app_settings import SETTINGS_FILE

ROOT = Path(__file__).parents[2]
BUILD_LIMIT_S = 1200  # PyInstaller's analysis, plus installing it when the test extra was not installed
START_LIMIT_S = 120
SHOWN = "cab-check-gui: main window shown (cab-check"

pytestmark = pytest.mark.bundle


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundle")
    build = subprocess.run(
        ["bash", str(ROOT / "packaging" / "build-bundle.sh"), str(out)],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=BUILD_LIMIT_S,
    )
    if build.returncode != 0 and "could not install PyInstaller" in build.stderr and os.environ.get("CI") != "true":
        pytest.skip(build.stderr.strip().splitlines()[-1])  # the script's one sentence, after pip's own words
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    print(build.stdout.strip())  # the bundle's path, size and build time, for `pytest -s`
    return out / "cab-check"


def test_the_bundle_holds_every_resource_and_the_desktop_entry(bundle):
    shipped = ROOT / "resources"
    bundled = bundle / "_internal" / "cab_check" / "resources"
    wanted = {p.relative_to(shipped) for p in shipped.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert wanted <= {p.relative_to(bundled) for p in bundled.rglob("*") if p.is_file()}
    for name in ("cab-check.desktop", "cab-check.svg", "cab-check-256.png"):  # next to the executable, to install
        assert (bundle / name).read_bytes() == (shipped / "desktop" / name).read_bytes()


def test_the_bundled_app_starts_and_shows_its_window(bundle, tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "CAB_CHECK_HOME": str(tmp_path), "CAB_CHECK_GUI_SMOKE": "1"}
    started = time.monotonic()
    app = subprocess.run(
        [str(bundle / "cab-check-gui")], env=env, capture_output=True, text=True, timeout=START_LIMIT_S
    )
    took = time.monotonic() - started
    assert app.returncode == 0, app.stdout + app.stderr
    assert SHOWN in app.stdout, app.stdout + app.stderr
    assert (tmp_path / SETTINGS_FILE).is_file(), "the bundled app keeps its settings under CAB_CHECK_HOME"
    print(f"bundled app started, showed its window and quit in {took:.1f} s")
