"""Replaces PyInstaller's own PySide6.QtGui hook (hooks in hookspath win) to leave out Qt plugins the app never loads.

It has to happen here: plugins dropped from the Analysis afterwards would leave behind the libraries they pulled in.
"""

from pathlib import Path

from PyInstaller.utils.hooks.qt import add_qt6_dependencies

# By plugin folder; "*" drops the whole folder.
UNUSED_PLUGINS = {
    # Full-screen and remote platforms for devices; a desktop app runs on xcb or wayland (offscreen in tests).
    "platforms": {"qeglfs", "qlinuxfb", "qminimalegl", "qvkkhrdisplay", "qvnc"},
    "egldeviceintegrations": {"*"},
    "generic": {"*"},  # raw input for those platforms; tuiotouch also pulls in QtNetwork
    "platforminputcontexts": {"qtvirtualkeyboardplugin"},  # the on-screen keyboard needs Qt Quick
    # The app always draws Fusion with its own palettes; the GTK theme would bundle GTK's stack from the build machine.
    "platformthemes": {"qgtk3"},
    # The only image the app loads is its PNG icon; PNG support is built into QtGui.
    "imageformats": {"qsvg", "qpdf", "qicns", "qtiff", "qwebp", "qtga", "qwbmp"},
    "iconengines": {"*"},
}


def used(source: str, dest: str) -> bool:
    unused = UNUSED_PLUGINS.get(Path(dest).name, set())
    return "*" not in unused and Path(source).stem.removeprefix("lib") not in unused


hiddenimports, binaries, datas = add_qt6_dependencies(__file__)
binaries = [(source, dest) for source, dest in binaries if used(source, dest)]
