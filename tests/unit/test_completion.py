"""`cab completion SHELL`: each script is loaded the way docs/completion.md says and asked, in the real shell, what TAB
offers. A shell that is not installed skips its tests, except with CI=true, where .ci/run must have installed it."""

from __future__ import annotations

import argparse
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from required import unavailable

from cab_check.catalog import shipped_tasks, shipped_tuis
from cab_check.cli import build_parser, main
from cab_check.completion import SHELLS

SHELL_NAMES = tuple(SHELLS)
BASH_COMPLETION = Path("/usr/share/bash-completion/bash_completion")


def _missing(package: str) -> None:
    unavailable(f"{package} is not installed", f"{package} is not installed: .ci/run installs that Debian package.")


def _require(program: str) -> str:
    found = shutil.which(program)
    if found is None:
        _missing(program)
    return found


@pytest.fixture(scope="module")
def scripts() -> dict[str, str]:
    """What a user gets from `cab completion SHELL`, run as a command."""
    return {
        shell: subprocess.run(
            [sys.executable, "-m", "cab_check", "completion", shell], check=True, capture_output=True, text=True
        ).stdout
        for shell in SHELL_NAMES
    }


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An empty home the shells run in (no rc files of the machine's user), and their working directory."""
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


def _env(home: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "TERM": "dumb",
        "LANG": "C.UTF-8",
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local/share"),
    }


# ---------------------------------------------------------------------------------------------------------- bash


def _comp_words(line: str) -> list[str]:
    """COMP_WORDS as bash builds them: split at blanks, and "=" and ":" (in COMP_WORDBREAKS) become words."""
    words = [piece for token in line.split() for piece in re.findall(r"[=:]+|[^=:]+", token)]
    return [*words, ""] if line.endswith(" ") else words


# Calls whichever function `complete -p cab` names, with the arguments and variables bash gives it on TAB.
BASH_CALL = r"""
spec=$(complete -p cab) || exit 3
fn=${spec##*-F }; fn=${fn%% *}
COMP_LINE=$1; COMP_POINT=${#COMP_LINE}; shift
COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
"$fn" cab "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"
"""


def _bash(home: Path, load: str, line: str) -> set[str]:
    bash = _require("bash")
    done = subprocess.run(
        [bash, "--norc", "--noprofile", "-c", load + BASH_CALL, "bash", line, *_comp_words(line)],
        cwd=home,
        env=_env(home),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return {word.rstrip("/") for word in done.stdout.splitlines() if word}


def bash_complete(home: Path, script: str, line: str) -> set[str]:
    path = home / "cab.bash"
    path.write_text(script)
    return _bash(home, f"source {path}\n", line)


# ----------------------------------------------------------------------------------------------------------- zsh

# zsh runs completion functions only inside ZLE, which needs a terminal, so the test types into an interactive
# `zsh -f` on a pseudo-terminal and presses TAB there: compinit, _cab from $fpath and _arguments all run for real.
# The one stand-in is compadd, wrapped to note each match before the real builtin adds it; zsh has no other way to
# hand the matches back. \x05 says the harness is loaded; the matches come between \x02 and \x03, split by \x1f.
ZSH_HARNESS = r"""
unsetopt auto_list beep
typeset -ga cab_test_matches
compadd() {
  # Callers that collect matches for themselves (-O, -A, -D) add nothing yet.
  if [[ ${@[1,(i)(-|--)]} == *-[OAD]\ * ]]; then builtin compadd "$@"; return; fi
  local -a found
  builtin compadd -O found "$@"
  cab_test_matches+=("${found[@]}")
  builtin compadd "$@"
}
cab-test-complete() {
  cab_test_matches=()
  zle complete-word
  print -rn -- $'\x02'${(pj:\x1f:)cab_test_matches}$'\x03'
}
zle -N cab-test-complete
bindkey '^I' cab-test-complete
print -rn -- $'\x05'
"""


def _zsh(home: Path, setup: str, line: str) -> set[str]:
    zsh = _require("zsh")
    harness = home / "harness.zsh"
    harness.write_text(setup + ZSH_HARNESS)
    primary, secondary = pty.openpty()
    shell = subprocess.Popen(
        [zsh, "-f", "-i"],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        cwd=home,
        env=_env(home),
        start_new_session=True,
    )
    os.close(secondary)
    out = b""

    def read_until(marker: bytes) -> None:
        nonlocal out
        deadline = time.monotonic() + 30
        while marker not in out:
            assert time.monotonic() < deadline, f"zsh did not answer; it printed: {out[-2000:]!r}"
            if select.select([primary], [], [], 0.2)[0]:
                try:
                    out += os.read(primary, 65536)
                except OSError:  # the shell is gone: EIO
                    assert marker in out, f"zsh exited; it printed: {out[-2000:]!r}"

    try:
        os.write(primary, f"source {harness}\n".encode())
        read_until(b"\x05")
        out = b""
        os.write(primary, line.encode() + b"\t")
        read_until(b"\x03")
    finally:
        shell.kill()
        shell.wait()
        os.close(primary)
    matches = out.split(b"\x02")[-1].split(b"\x03")[0].decode()
    return {word.rstrip("/") for word in matches.split("\x1f") if word}


def zsh_complete(home: Path, script: str, line: str) -> set[str]:
    """Installed as docs/completion.md says: the file _cab in a folder of $fpath, then compinit."""
    folder = home / ".zfunc"
    folder.mkdir(exist_ok=True)
    (folder / "_cab").write_text(script)
    return _zsh(home, f"fpath=({folder} $fpath)\nautoload -U compinit && compinit -u -D\n", line)


# ---------------------------------------------------------------------------------------------------------- fish


def fish_complete(home: Path, script: str, line: str) -> set[str]:
    """Installed as docs/completion.md says: ~/.config/fish/completions/cab.fish, which fish loads by itself."""
    fish = _require("fish")
    folder = home / ".config/fish/completions"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cab.fish").write_text(script)
    # fish loads a command's completions only once it finds the command; the script never runs it.
    bin_dir = home / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "cab").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "cab").chmod(0o755)
    env = _env(home)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    done = subprocess.run(
        [fish, "-c", "complete -C $argv[1]", line],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # Each line is "candidate<TAB>description"; fish offers a value typed as --tui=a whole, as "--tui=aider".
    return {entry.split("\t")[0].rstrip("/") for entry in done.stdout.splitlines() if entry}


COMPLETE = {"bash": bash_complete, "zsh": zsh_complete, "fish": fish_complete}


# --------------------------------------------------------------------------------------------------- what TAB offers


@pytest.fixture(params=SHELL_NAMES)
def complete(request, scripts, home):
    shell = request.param
    return lambda line: COMPLETE[shell](home, scripts[shell], line)


def test_a_subcommand_completes_from_its_start(complete):
    assert complete("cab ch") == {"check"}
    assert complete("cab key ") == {"set", "delete", "list"}
    assert {"check", "tasks", "tuis", "doctor", "completion"} <= complete("cab ")


def test_options_of_the_subcommand_typed(complete):
    assert complete("cab check --t") == {"--tui", "--task", "--timeout"}
    assert complete("cab doctor --") >= {"--endpoint", "--model", "--key-env", "--key-stdin"}
    assert "--tui" not in complete("cab doctor --")


def test_tui_names_after_tui(complete):
    offered = complete("cab check --tui ")
    assert "aider" in offered
    assert set(shipped_tuis()) <= offered
    assert {word.split("=", 1)[-1] for word in complete("cab check --tui=ai")} == {"aider"}


def test_task_slugs_after_task(complete):
    offered = complete("cab check --task poly")
    assert "polyglot/rust-error-handling" in offered
    assert offered == {slug for slug in shipped_tasks() if slug.startswith("poly")}


def test_a_value_with_colons_does_not_lose_the_place(complete):
    # bash splits http://localhost:8000/v1 at each ":" (COMP_WORDBREAKS); the TUI names must still come after it.
    assert "aider" in complete("cab check --endpoint http://localhost:8000/v1 --tui ")


def test_shells_after_completion(complete):
    assert complete("cab completion ") == {"bash", "zsh", "fish"}


def test_a_task_folder_completes_as_a_folder(complete, home):
    (home / "my-task").mkdir()
    (home / "my-notes.txt").write_text("not a folder")
    assert complete("cab task validate my") == {"my-task"}
    assert "my-task" in complete("cab check --task my")


def test_bash_completion_loads_the_installed_file_by_itself(scripts, home):
    """The bash line in docs/completion.md: bash-completion finds the file when `cab` is first completed."""
    if not BASH_COMPLETION.is_file():
        _missing("bash-completion")
    folder = home / ".local/share/bash-completion/completions"
    folder.mkdir(parents=True)
    (folder / "cab").write_text(scripts["bash"])
    load = f"source {BASH_COMPLETION}\n__load_completion cab || exit 4\n"
    assert _bash(home, load, "cab check --tui ") >= {"aider", "codex"}


def test_zsh_script_sourced_after_compinit_registers_itself(scripts, home):
    """The other way zsh users load completions: `source <(cab completion zsh)` in .zshrc, after compinit."""
    script = home / "cab.zsh"
    script.write_text(scripts["zsh"])
    assert _zsh(home, f"autoload -U compinit && compinit -u -D\nsource {script}\n", "cab ch") == {"check"}


# ------------------------------------------------------------------------------------------ the scripts themselves


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    return {
        name: sub
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for name, sub in action.choices.items()
    }


def _subcommands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, sub in _subparsers(parser).items():
        found += [(*path, name), *_subcommands(sub, (*path, name))]
    return found


@pytest.mark.parametrize("shell", SHELL_NAMES)
def test_every_subcommand_and_option_of_the_parser_is_in_the_script(shell, scripts):
    parser = build_parser()
    commands = _subcommands(parser)
    assert ("key", "set") in commands and ("completion",) in commands
    for path in commands:
        assert re.search(rf"\b{re.escape(path[-1])}\b", scripts[shell]), f"{shell}: cab {' '.join(path)}"
    for action in _subparsers(parser)["check"]._actions:
        for flag in action.option_strings:
            assert flag.lstrip("-") in scripts[shell], f"{shell}: cab check {flag}"


def test_completion_command_offers_exactly_the_shells_there_are_scripts_for():
    (completion,) = [a for a in _subparsers(build_parser())["completion"]._actions if a.dest == "shell"]
    assert tuple(completion.choices) == SHELL_NAMES


def test_an_unknown_shell_is_argparse_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["completion", "tcsh"])
    assert exit_.value.code == 2
    assert "invalid choice: 'tcsh'" in capsys.readouterr().err


def test_completion_help_says_how_to_install():
    done = subprocess.run(
        [sys.executable, "-m", "cab_check", "completion", "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    assert "cab completion bash > ~/.local/share/bash-completion/completions/cab" in done.stdout
    assert 'cab completion zsh > "${fpath[1]}/_cab"' in done.stdout
    assert "cab completion fish > ~/.config/fish/completions/cab.fish" in done.stdout


def test_help_and_version_stay_cold():
    """Completion is printed by a command like any other: `cab --help` must not pay for it, or for anything heavy."""
    probe = (
        "import contextlib, io, sys\n"
        "from cab_check.cli import main\n"
        "for argv in (['--help'], ['--version'], ['completion', '--help']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "        main(argv)\n"
        "heavy = ('docker', 'httpx', 'rich', 'pydantic', 'PySide6', 'cab_check.completion', 'cab_check.catalog')\n"
        "print(sorted(m for m in sys.modules if m in heavy or m.startswith(tuple(h + '.' for h in heavy))))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
