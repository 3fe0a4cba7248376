"""One error hierarchy: a sentence, a cause and a remedy the engine leaves for each front end to word.

The engine never names a flag or a field: its sentences leave a slot where the CLI puts a flag and the app a control.
"""

from __future__ import annotations

import ast
import pickle
import re
from pathlib import Path

import pytest

from cab_check import cli
from cab_check.cli import CLI_WORDS
from cab_check.errors import (
    EXIT_BAD_INPUT,
    NEUTRAL_WORDS,
    CabError,
    Cancelled,
    DockerUnavailable,
    HandshakeRejected,
    Remedy,
    fill,
)

PACKAGE = Path(cli.__file__).parent


def cab_flags() -> set[str]:
    """Every option the `cab` command takes, from its own parser."""
    import argparse

    flags: set[str] = set()
    parsers = [cli.build_parser()]
    while parsers:
        parser = parsers.pop()
        for action in parser._actions:
            flags |= {o for o in action.option_strings if o.startswith("--")}
            if isinstance(action, argparse._SubParsersAction):
                parsers += list(action.choices.values())
    return flags - {"--help", "--version"}


def test_a_sentence_is_worded_by_whoever_shows_it():
    error = HandshakeRejected(f"none was given; give it {Remedy.KEY.slot}", "unauthorized", Remedy.KEY)
    assert error.sentence(CLI_WORDS) == "none was given; give it with --key-env VAR or --key-stdin"
    assert error.sentence({Remedy.KEY: "in the API key field"}) == "none was given; give it in the API key field"
    assert str(error) == "none was given; give it directly"
    assert (error.cause, error.remedy, error.exit_code) == ("unauthorized", Remedy.KEY, EXIT_BAD_INPUT)


def test_words_a_front_end_lacks_fall_back_to_neutral_ones_and_braces_are_left_alone():
    text = f'the server said {{"error": "x"}}: {Remedy.MODEL.slot}, or {Remedy.SKIP_HANDSHAKE.slot}'
    assert fill(text, {Remedy.MODEL: "with --model"}) == (
        'the server said {"error": "x"}: with --model, or start without the preflight check'
    )


def test_an_error_without_a_remedy_reads_as_written():
    assert str(CabError("The disk is full.")) == "The disk is full."
    assert CabError("The disk is full.").sentence(CLI_WORDS) == "The disk is full."
    assert str(Cancelled()).startswith("Cancelled:") and Cancelled().cause == "cancelled"


def test_an_error_keeps_its_cause_and_remedy_across_threads_and_processes():
    error = DockerUnavailable(f"name another engine {Remedy.ENGINE.slot}.", "engine_unreachable", Remedy.ENGINE)
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is DockerUnavailable and (copy.cause, copy.remedy) == ("engine_unreachable", Remedy.ENGINE)
    assert copy.sentence(CLI_WORDS) == "name another engine with --engine."
    assert str(pickle.loads(pickle.dumps(Cancelled()))) == str(Cancelled())


@pytest.mark.parametrize("remedy", list(Remedy))
def test_every_remedy_has_cli_words_and_neutral_words_that_name_no_flag(remedy):
    assert CLI_WORDS[remedy] and NEUTRAL_WORDS[remedy]
    assert "--" not in NEUTRAL_WORDS[remedy] and "cab " not in NEUTRAL_WORDS[remedy]
    assert "⟦" not in CLI_WORDS[remedy] + NEUTRAL_WORDS[remedy]


def test_the_cli_words_name_flags_the_cli_has():
    flags = cab_flags()
    named = {flag for words in CLI_WORDS.values() for flag in re.findall(r"--[a-z][a-z-]*", words)}
    assert named and named <= flags


def strings_shown(path: Path) -> list[str]:
    """The string literals of a module, docstrings left out (f-strings by their literal parts)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


@pytest.mark.parametrize(
    "module",
    [
        "errors.py",
        "handshake.py",
        "doctor.py",
        "keys.py",
        "sandbox/docker.py",
        "sandbox/engine.py",
        "run.py",
    ],
)
def test_no_engine_sentence_names_a_cab_flag(module):
    flags = cab_flags()
    named = {
        flag
        for text in strings_shown(PACKAGE / module)
        for flag in re.findall(r"--[a-z][a-z-]*", text)
        if flag in flags
    }
    assert named == set(), f"{module} names {sorted(named)}: leave a Remedy's slot for the front end instead"
