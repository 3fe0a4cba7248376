"""How a run's failure reaches the window: one sentence, the CLI's exit code, never the key. (Real runs, with
Docker, are in tests/integration/test_gui_app.py; here the engine is replaced to fail on demand.)"""

from __future__ import annotations

import pytest

from cab_check import run
from cab_check.errors import EXIT_ENVIRONMENT, EnvironmentProblem
from cab_check.gui.run_worker import RunWorker
from cab_check.models import CellRequest

KEY = "sk-canary-run-worker-0123456789"


@pytest.mark.parametrize(
    ("raised", "code", "words"),
    [
        (EnvironmentProblem(f"The endpoint refused {KEY}."), EXIT_ENVIRONMENT, "The endpoint refused"),
        (RuntimeError(f"a bug holding {KEY}"), EXIT_ENVIRONMENT, "The run hit an unexpected error"),
    ],
)
def test_a_failed_run_is_one_sentence_without_the_key(qtbot, monkeypatch, capsys, raised, code, words):
    def fail(*args, **kwargs):
        raise raised

    monkeypatch.setattr(run, "run_cell", fail)
    worker = RunWorker(CellRequest(tui="aider", task="polyglot/rust-error-handling"), KEY)
    with qtbot.waitSignal(worker.failed, timeout=10_000) as failed:
        worker.start()
    worker.wait()
    sentence, exit_code = failed.args
    assert words in sentence and KEY not in sentence and exit_code == code
    assert KEY not in capsys.readouterr().err
