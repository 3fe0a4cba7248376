"""PyInstaller's entry script for the desktop bundle (it needs a file to start from); the app is cab_check.gui.app."""

import os
import sys

from cab_check.gui.app import main


def give_children_the_system_libraries() -> None:
    """The bootloader points LD_LIBRARY_PATH at the bundle's libraries; programs the engine starts (git, iptables)
    need the system's. This process read the variable when it started, so undoing it here changes only children."""
    if not (getattr(sys, "frozen", False) and sys.platform.startswith("linux")):
        return
    original = os.environ.pop("LD_LIBRARY_PATH_ORIG", None)
    if original is None:
        os.environ.pop("LD_LIBRARY_PATH", None)
    else:
        os.environ["LD_LIBRARY_PATH"] = original


if __name__ == "__main__":
    give_children_the_system_libraries()
    raise SystemExit(main())
