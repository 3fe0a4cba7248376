"""One error hierarchy for everything a user can run into, each mapped once to an exit code.

Messages are single sentences a person can act on; they never carry a traceback or a secret. Where the way out is
something the user changes in a front end (a flag in the terminal, a control in the app), the sentence leaves a
slot for it and names the Remedy: each front end fills the slot in its own words (`error.sentence(words)`), so the
engine never speaks of flags or fields. `str(error)` fills it with neutral words.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum

EXIT_PASSED = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_ENVIRONMENT = 3
EXIT_CANCELLED = 130  # as a shell reports a run stopped by Ctrl-C


class Remedy(Enum):
    """Something the user can change to get past a problem, named by what it changes.

    A sentence puts `remedy.slot` where the front end's words for it go. The words say how, and follow the
    sentence's verb, preposition included: "give the key [with --key-env VAR or --key-stdin] instead". Only
    SKIP_HANDSHAKE's words are a whole clause ("[pass --skip-handshake to start anyway]"), since a front end without
    that switch says what to do instead."""

    KEY = "key"  # give the API key another way than the keyring
    SAVED_KEY = "saved_key"  # replace the key saved for the endpoint
    MODEL = "model"  # name a model the endpoint serves
    IMAGE = "image"  # bring an image of one's own for the TUI
    ENGINE = "engine"  # name another container engine
    SKIP_HANDSHAKE = "skip_handshake"  # start without the preflight check
    CLEANUP = "cleanup"  # remove what an interrupted run left

    @property
    def slot(self) -> str:
        """The placeholder a sentence holds for this remedy's words (no braces: sentences quote server text)."""
        return f"⟦{self.value}⟧"


Words = Mapping[Remedy, str]

# Neither a flag nor a control: for logs, tests and any reader that is no front end.
NEUTRAL_WORDS: Words = {
    Remedy.KEY: "directly",
    Remedy.SAVED_KEY: "in the OS keyring",
    Remedy.MODEL: "as the model",
    Remedy.IMAGE: "with an image you provide",
    Remedy.ENGINE: "explicitly",
    Remedy.SKIP_HANDSHAKE: "start without the preflight check",
    Remedy.CLEANUP: "by the next run",
}


def fill(text: str, words: Words = NEUTRAL_WORDS) -> str:
    """`text` with every remedy slot replaced by `words` (neutral words for a remedy `words` leaves out)."""
    for remedy in Remedy:
        if remedy.slot in text:
            text = text.replace(remedy.slot, words.get(remedy, NEUTRAL_WORDS[remedy]))
    return text


class CabError(Exception):
    """Base class: one sentence, a short machine-readable `cause`, and the `remedy` its sentence leaves a slot for.

    `sentence(words)` is the sentence in a front end's words, `str(error)` in neutral ones."""

    exit_code = EXIT_ENVIRONMENT

    def __init__(self, message: str, cause: str = "", remedy: Remedy | None = None) -> None:
        super().__init__(message, cause, remedy)
        self.template = message
        self.cause = cause
        self.remedy = remedy

    def sentence(self, words: Words = NEUTRAL_WORDS) -> str:
        return fill(self.template, words)

    def __str__(self) -> str:
        return self.sentence()


class BadInput(CabError):
    """The user asked for something that cannot work as given (exit 2)."""

    exit_code = EXIT_BAD_INPUT


class TaskInvalid(BadInput):
    pass


class UnknownTask(BadInput):
    pass


class UnknownTui(BadInput):
    pass


class EnvironmentProblem(CabError):
    """Something outside the request is missing or broken: Docker, the endpoint, an image build (exit 3)."""

    exit_code = EXIT_ENVIRONMENT


class DockerUnavailable(EnvironmentProblem):
    pass


class ImageBuildFailed(EnvironmentProblem):
    pass


class EndpointUnreachable(EnvironmentProblem):
    pass


class KeyringUnavailable(EnvironmentProblem):
    pass


class HandshakeError(CabError):
    """The preflight handshake failed; `cause` names what failed (e.g. "unauthorized", "no_tool_calls")."""


class HandshakeRejected(HandshakeError, BadInput):
    """The endpoint turned down what the user gave: the key, the model id or the URL's path (exit 2)."""


class HandshakeFailed(HandshakeError, EndpointUnreachable):
    """The endpoint is unreachable, broken, or lacks a feature the TUI needs (exit 3)."""


class ResultNotSaved(EnvironmentProblem):
    pass


class Cancelled(CabError):
    """The user stopped the run (Cancel in the app); everything it made is removed before this is raised on."""

    exit_code = EXIT_CANCELLED

    def __init__(
        self,
        message: str = "Cancelled: the run's containers and temp files were removed.",
        cause: str = "cancelled",
        remedy: Remedy | None = None,
    ) -> None:
        super().__init__(message, cause, remedy)
