from __future__ import annotations

import subprocess
import sys

import pytest

from cab_check import __version__, cli
from cab_check.cli import main
from cab_check.errors import KeyringUnavailable, Remedy


def test_version_and_module_entry_point():
    done = subprocess.run([sys.executable, "-m", "cab_check", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == f"cab-check {__version__}"


def test_tasks_and_tuis_list_one_line_each(capsys):
    assert main(["tasks"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("polyglot/rust-error-handling ") for line in lines)
    assert len(lines) >= 3
    assert main(["tuis"]) == 0
    lines = capsys.readouterr().out.splitlines()
    (aider,) = [line for line in lines if line.startswith("aider ")]
    assert "0.86.2" in aider and "built by cab-check" in aider
    for name in ("goose", "crush", "plandex"):
        (line,) = [line for line in lines if line.startswith(f"{name} ")]
        assert "needs an image you provide" in line


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["check", "--task", "polyglot/rust-eror-handling"], "Did you mean polyglot/rust-error-handling"),
        (["check", "--tui", "aidr"], "Did you mean aider"),
        (["check", "--endpoint", "ftp://example.invalid", "--model", "m"], "is not an http(s) URL"),
        (["check", "--endpoint", "localhost:8000", "--model", "m"], "is not an http(s) URL"),
        (["check", "--endpoint", "http://127.0.0.1:9/v1"], "needs a model"),
        (["check", "--timeout", "0"], "--timeout 0 is out of range"),
        (["check", "--tui", "goose"], "goose has no image cab-check can build"),
        (
            ["check", "--endpoint", "http://127.0.0.1:9/v1", "--model", "m", "--key-env", "CAB_UNSET_VAR_FOR_TEST"],
            "CAB_UNSET_VAR_FOR_TEST: that environment variable is not set",
        ),
    ],
)
def test_bad_input_is_one_sentence_and_exit_2(argv, message, capsys, monkeypatch, isolated_history):
    monkeypatch.delenv("CAB_UNSET_VAR_FOR_TEST", raising=False)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in " ".join(err.split())
    assert "Traceback" not in err
    assert not (isolated_history / "runs").exists()  # nothing half-written


def test_task_new_never_overwrites_a_folder(tmp_path, capsys):
    existing = tmp_path / "mine"
    existing.mkdir()
    (existing / "notes.txt").write_text("keep me")
    assert main(["task", "new", str(existing)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (existing / "notes.txt").read_text() == "keep me"


def test_task_new_scaffolds_a_folder_that_validates(tmp_path, capsys):
    folder = tmp_path / "my-task"
    assert main(["task", "new", str(folder)]) == 0
    assert main(["task", "validate", str(folder), "--no-grade"]) == 0
    assert "valid" in capsys.readouterr().out


def test_docker_not_running_is_an_environment_error(monkeypatch, capsys, isolated_history, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    assert main(["check"]) == 3
    err = " ".join(capsys.readouterr().err.split())
    assert (
        f"The container engine at unix://{tmp_path}/no-docker.sock is not reachable (No such file or directory)" in err
    )
    assert "start Docker (or Podman)" in err and "--engine" in err and "Traceback" not in err
    assert not (isolated_history / "runs").exists()


def test_gui_without_the_gui_extra_says_how_to_get_it(monkeypatch, capsys):
    import sys

    for name in [m for m in sys.modules if m.startswith(("cab_check.gui", "PySide6"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "PySide6", None)  # what a plain `pip install cab-check` leaves out

    assert main(["gui"]) == 3
    err = capsys.readouterr().err
    assert "cab-check[gui]" in err and "Traceback" not in err


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_help_and_version_start_cold_without_docker_httpx_or_qt(flag):
    probe = (
        f"import sys\nfrom cab_check.cli import main\ntry:\n    main([{flag!r}])\nexcept SystemExit:\n    pass\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'docker', 'httpx', 'PySide6', 'rich', 'pydantic'})\n"
        "print('loaded:', *heavy)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "loaded:", "cab --help/--version must not pay for the engine's imports"


def test_the_cli_prints_an_engine_error_in_its_own_words(monkeypatch, capsys):
    def failing(args):
        raise KeyringUnavailable(f"The OS keyring is locked: give the key {Remedy.KEY.slot} instead.", "", Remedy.KEY)

    monkeypatch.setitem(cli.COMMANDS, "tasks", failing)
    assert main(["tasks"]) == 3
    err = " ".join(capsys.readouterr().err.split())
    assert err == "error: The OS keyring is locked: give the key with --key-env VAR or --key-stdin instead."
