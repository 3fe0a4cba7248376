#!/usr/bin/env bash
# Builds the desktop app into a one-folder bundle, OUTPUT_DIR/cab-check/ (default: dist/cab-check/), with PyInstaller.
#   packaging/build-bundle.sh [OUTPUT_DIR]
# Uses $PYTHON (default: python3 on PATH), which must have cab-check installed with its gui extra; PyInstaller is
# pip-installed into it when missing. PyInstaller's work files go to OUTPUT_DIR/.build, reused by the next build.
set -euo pipefail

die() { echo "build-bundle.sh: $*" >&2; exit 1; }

# Paths given relative to where the script was called from are resolved before the cd to the repo root.
python=$(command -v "${PYTHON:-python3}") \
  || die "no ${PYTHON:-python3} found; set PYTHON to the Python that has cab-check installed."
case $python in /*) ;; *) python=$PWD/$python ;; esac  # not realpath: a venv's python is a symlink
out=${1:-}
if [ -n "$out" ]; then
  mkdir -p "$out" || die "cannot create the output directory $out."
  out=$(cd "$out" && pwd)
fi
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${out:-$PWD/dist}

"$python" -c "import cab_check.gui.app" 2>/dev/null \
  || die "$python cannot import the desktop app; install cab-check into it with: $python -m pip install -e '$PWD[gui]'"
if [ "$(uname -s)" = Linux ] && ! command -v objdump >/dev/null; then
  die "PyInstaller needs objdump on Linux; install binutils (apt-get install binutils)."
fi
# The spec relies on PyInstaller 6 (its _internal/ layout, for one): install a 6.x when there is none that fits.
pyinstaller_fits='import PyInstaller as p
version = [int(n) for n in p.__version__.split(".")[:2]]
raise SystemExit(not [6, 10] <= version < [7])'
if ! "$python" -c "$pyinstaller_fits" 2>/dev/null; then
  "$python" -m pip install -q --disable-pip-version-check "pyinstaller>=6.10,<7" \
    || die "could not install PyInstaller into $python; install pyinstaller>=6.10,<7 and re-run."
fi

start=$SECONDS
"$python" -m PyInstaller --noconfirm --log-level WARN --distpath "$out" --workpath "$out/.build" \
  packaging/cab-check.spec
bundle=$out/cab-check
[ -x "$bundle/cab-check-gui" ] || die "PyInstaller finished but $bundle/cab-check-gui is missing."
echo "bundle: $bundle ($(du -sh "$bundle" | cut -f1), built in $((SECONDS - start)) s)"
echo "run:    $bundle/cab-check-gui"
